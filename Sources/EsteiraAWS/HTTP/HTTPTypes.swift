import EsteiraSync
import Foundation

/// An HTTP request as the transport sends it: the URL is final (already percent-encoded, exactly as signed).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// A body read while it is sent (a file range, or chunks produced on the fly); replaces `body` when set.
    public var upload: HTTPUpload?
    /// Whole-transfer deadline; nil leaves only the connect and low-speed limits (streaming GETs).
    public var timeout: Duration?
    /// Never through a proxy, whatever the options or the `*_proxy` variables say: the instance metadata
    /// service and the container credential endpoint are local, and a proxy must never see their tokens.
    public var bypassProxy: Bool = false

    public init(
        method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = [],
        upload: HTTPUpload? = nil, timeout: Duration? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.upload = upload
        self.timeout = timeout
    }
}

/// Status line and headers of a response; header names are lower-cased.
public struct HTTPResponseHead: Sendable {
    public var status: Int
    public var headers: [(String, String)]

    public init(status: Int, headers: [(String, String)]) {
        self.status = status
        self.headers = headers
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0 == lower }?.1
    }
}

public struct HTTPResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: [UInt8]

    public var status: Int { head.status }
    public func header(_ name: String) -> String? { head.header(name) }
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A failure below HTTP: DNS, connect, TLS, a dropped connection. Worth a retry, unless the request
/// body was a one-shot stream that was already partly sent.
public struct TransportError: Error, CustomStringConvertible, Sendable {
    public var curlCode: Int
    public var message: String
    public var url: String

    public init(curlCode: Int, message: String, url: String) {
        self.curlCode = curlCode
        self.message = message
        self.url = url
    }

    /// CURLE_OPERATION_TIMEDOUT: the SDKs charge a timeout more of the retry quota than other failures.
    public var isTimeout: Bool { curlCode == 28 }

    /// Not a curl code: the request came to a transport that was shut down (or was running when it was).
    public static let shutDownCode = -2

    /// The transport was shut down: not worth a retry through it.
    public var isShutDown: Bool { curlCode == Self.shutDownCode }

    static func shutDown(url: String) -> TransportError {
        TransportError(
            curlCode: shutDownCode, message: "the HTTP transport is shut down; nothing more is sent through it",
            url: url)
    }

    public var description: String { "HTTP transport error \(curlCode) for \(url): \(message)" }
}

/// Tuning for the shared transport.
public struct HTTPTransportOptions: Sendable {
    public var connectTimeout: Duration = .seconds(10)
    /// A transfer slower than `lowSpeedBytesPerSecond` for `lowSpeedTime` (whole seconds, at least 1) is
    /// cut (and retried by the caller).
    public var lowSpeedBytesPerSecond: Int = 1
    public var lowSpeedTime: Duration = .seconds(60)
    /// A streamed body pauses the socket once this many bytes wait unread.
    public var streamHighWater: Int = 1 << 20
    /// Off only for a local server with a self-signed certificate; never against AWS.
    public var verifyTLS: Bool = true
    /// A PEM file of the certificate authorities to trust instead of the system's (AWS_CA_BUNDLE),
    /// for a corporate TLS-inspecting proxy or a private endpoint.
    public var caBundlePath: String?
    /// A proxy URL for every request (`http://proxy:3128`). When nil, curl reads the usual variables
    /// itself: `http_proxy`, `https_proxy`/`HTTPS_PROXY`, `all_proxy`/`ALL_PROXY` and `no_proxy`/`NO_PROXY`
    /// (not upper-case `HTTP_PROXY`, which CGI servers let a client set).
    public var proxy: String?
    /// Hosts that bypass `proxy`, comma-separated as in `NO_PROXY`.
    public var noProxy: String?

    public init() {}

    /// The defaults plus what the AWS SDKs read from the environment: `AWS_CA_BUNDLE`.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment)
        -> HTTPTransportOptions
    {
        var options = HTTPTransportOptions()
        if let bundle = env["AWS_CA_BUNDLE"], !bundle.isEmpty { options.caBundlePath = bundle }
        return options
    }
}

/// A request body the transport reads while sending, so a large part never sits in memory whole.
public enum HTTPUpload: Sendable {
    /// `length` bytes of a file from `offset`, read on the transport's thread. Replayable: a failed
    /// attempt can be sent again from the start.
    case file(path: String, offset: Int64, length: Int64)
    /// Chunks produced while sending. One-shot: once curl has taken a byte, the body cannot be sent
    /// again, so a failed attempt is not retried.
    case stream(HTTPUploadStream)

    public var length: Int64 {
        switch self {
        case .file(_, _, let length): length
        case .stream(let s): s.length
        }
    }

    /// Whether a failed attempt may be sent again from the start.
    public var isReplayable: Bool {
        switch self {
        case .file: true
        case .stream(let s): !s.hasSentBytes
        }
    }
}

/// A one-shot request body fed by an async sequence, with backpressure both ways: curl pauses while
/// the producer is behind, and the producer waits while `highWater` bytes are queued.
public final class HTTPUploadStream: Sendable {
    public let length: Int64
    let highWater: Int
    let state = Locked(State())
    private let pump: @Sendable (HTTPUploadStream) async -> Void

    struct State {
        var buffer: [UInt8] = []
        var offset = 0
        var finished = false
        var failure: (any Error)?
        var sentBytes = false
        var closed = false
        var pumpStarted = false
        var pumpTask: Task<Void, Never>?
        var producerWaiter: CheckedContinuation<Void, Never>?
        /// Set while curl is paused waiting for data; called when some arrives.
        var wakeReader: (@Sendable () -> Void)?
        var queued: Int { buffer.count - offset }
    }

    /// `chunks` must yield exactly `length` bytes in all; fewer or more fails the request.
    public init<Chunks: AsyncSequence & Sendable>(length: Int64, highWater: Int = 1 << 20, _ chunks: Chunks)
    where Chunks.Element == [UInt8] {
        self.length = length
        self.highWater = highWater
        self.pump = { stream in
            var total: Int64 = 0
            do {
                for try await chunk in chunks {
                    total += Int64(chunk.count)
                    guard await stream.offer(chunk) else { return }
                }
                stream.finish(total == length ? nil : HTTPUploadLengthError(declared: length, produced: total))
            } catch {
                stream.finish(error)
            }
        }
    }

    /// Why the producer stopped early, if it did.
    var failure: (any Error)? { state.withLock { $0.failure } }

    /// True once curl has taken a byte: the body can no longer be sent again.
    public var hasSentBytes: Bool { state.withLock { $0.sentBytes } }

    /// Starts reading from the sequence the first time a transfer needs it.
    func startIfNeeded() {
        let start = state.withLock { s -> Bool in
            defer { s.pumpStarted = true }
            return !s.pumpStarted && !s.closed
        }
        guard start else { return }
        let task = Task { await self.pump(self) }
        state.withLock { $0.pumpTask = task }
    }

    /// Producer side: queues a chunk, waiting while the queue is full. False once the stream is closed.
    func offer(_ chunk: [UInt8]) async -> Bool {
        while true {
            let (accepted, closed): (Bool, Bool) = state.withLock { s in
                if s.closed { return (false, true) }
                guard s.queued < highWater else { return (false, false) }
                if s.offset > 0 {
                    s.buffer.removeFirst(s.offset)
                    s.offset = 0
                }
                s.buffer.append(contentsOf: chunk)
                return (true, false)
            }
            if closed { return false }
            if accepted {
                wake()
                return true
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.closed || s.queued < highWater { return true }
                    s.producerWaiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        }
    }

    func finish(_ error: (any Error)?) {
        state.withLock { s in
            s.finished = true
            s.failure = error
        }
        wake()
    }

    private func wake() {
        let reader = state.withLock { s in
            defer { s.wakeReader = nil }
            return s.wakeReader
        }
        reader?()
    }

    /// Transport thread: copies up to `capacity` bytes into `destination`. nil means "none yet, pause".
    func read(into destination: UnsafeMutableRawPointer, capacity: Int, wakeReader: @escaping @Sendable () -> Void)
        -> ReadResult
    {
        let (result, waiter): (ReadResult, CheckedContinuation<Void, Never>?) = state.withLock { s in
            if s.queued > 0 {
                let n = min(capacity, s.queued)
                s.buffer.withUnsafeBytes { src in
                    destination.copyMemory(from: src.baseAddress! + s.offset, byteCount: n)
                }
                s.offset += n
                s.sentBytes = true
                let waiter = s.queued < highWater ? s.producerWaiter : nil
                if waiter != nil { s.producerWaiter = nil }
                return (.bytes(n), waiter)
            }
            if s.finished { return (s.failure == nil ? .end : .failed, nil) }
            s.wakeReader = wakeReader
            return (.pause, nil)
        }
        waiter?.resume()
        return result
    }

    enum ReadResult {
        case bytes(Int)
        case end, pause, failed
    }

    /// Stops the producer and frees the queue; the stream cannot be sent again.
    func close() {
        let (task, waiter) = state.withLock { s in
            s.closed = true
            s.buffer = []
            s.offset = 0
            defer { s.producerWaiter = nil }
            return (s.pumpTask, s.producerWaiter)
        }
        task?.cancel()
        waiter?.resume()
    }
}

/// A streamed upload produced more or fewer bytes than it declared (the Content-Length already sent).
public struct HTTPUploadLengthError: Error, CustomStringConvertible, Sendable {
    public var declared: Int64
    public var produced: Int64
    public var description: String {
        "the upload stream produced \(produced) bytes but declared \(declared); the request was aborted"
    }
}

extension Duration {
    /// Whole milliseconds, rounded up (so a positive timeout never becomes 0, which curl reads as "none").
    var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int(clamping: max(0, ms))
    }

    /// The duration in seconds, as a Double (for logs and arithmetic with clocks of Date).
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
