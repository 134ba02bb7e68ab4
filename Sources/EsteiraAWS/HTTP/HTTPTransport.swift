internal import CCurl
import Foundation
import Synchronization

/// HTTP over one libcurl multi handle, driven by a thread of its own.
///
/// curl's blocking work never touches Swift's cooperative pool: callers suspend on a continuation,
/// the loop thread runs every transfer, and connections are pooled by the multi handle across requests.
///
/// The thread runs until ``shutdown()``: a transport made for a while (a test, a command) is shut down
/// when it is done with, or its thread and the multi handle stay for the life of the process.
public final class HTTPTransport: @unchecked Sendable {
    // Safety: `queue` is a Mutex; `active` and the multi handle are touched only on the loop thread
    // (the multi handle also by `curl_multi_wakeup`, which is thread-safe, and only while `queue`
    // says the handle is alive).
    public static let shared: HTTPTransport = {
        sharedStarted.store(true, ordering: .releasing)
        return HTTPTransport(options: .fromEnvironment())
    }()
    private static let sharedStarted = Atomic(false)

    /// Shuts ``shared`` down if anything used it (a process about to exit); does not start it otherwise.
    public static func shutdownSharedIfStarted() async {
        guard sharedStarted.load(ordering: .acquiring) else { return }
        await shared.shutdown()
    }

    public let options: HTTPTransportOptions
    private let multi: UnsafeMutableRawPointer
    private let queue = Mutex(Queue())
    private var active: [Int: Transfer] = [:]

    /// Work handed to the loop thread by other threads, and the shutdown handshake.
    private struct Queue {
        var pending: [Transfer] = []
        var cancelled: [Transfer] = []
        var unpause: [Transfer] = []
        /// Set by `shutdown()`: no new transfer is taken, and the loop ends at its next turn.
        var stopping = false
        /// Set by the loop thread once the multi handle is cleaned up.
        var stopped = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// The loop thread's kernel id (Linux), for tests that check the thread is gone.
        var threadID: Int32 = 0
    }

    public init(options: HTTPTransportOptions = .init()) {
        HTTPTransport.globalInit
        self.options = options
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed: out of memory") }
        self.multi = multi
        // The thread holds the transport until the loop ends, so it is never freed under a transfer.
        let thread = Thread { [self] in self.runLoop() }
        thread.name = "esteira-http"
        thread.start()
    }

    private static let globalInit: Void = {
        _ = curl_global_init(Int(CURL_GLOBAL_ALL))
    }()

    /// Ends the loop thread: transfers not finished yet fail with ``TransportError/isShutDown``, the
    /// multi handle and its pooled connections are closed, and every later request fails at once with
    /// the same error. Returns once the thread has ended; calling it again just waits for that.
    public func shutdown() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let done = queue.withLock { q -> Bool in
                if q.stopped { return true }
                q.stopping = true
                q.waiters.append(cont)
                curl_multi_wakeup(multi)
                return false
            }
            if done { cont.resume() }
        }
    }

    /// Whether ``shutdown()`` was called.
    public var isShutDown: Bool { queue.withLock { $0.stopping } }

    /// The loop thread's kernel thread id while it runs (0 before it started), for tests.
    var loopThreadID: Int32 { queue.withLock { $0.threadID } }

    /// Sends a request and collects the whole response body (API calls, small objects).
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let transfer = Transfer(request: request, streaming: false, highWater: options.streamHighWater)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<HTTPResponse, Error>) in
                transfer.state.withLock { $0.bufferedContinuation = cont }
                self.enqueue(transfer)
            }
        } onCancel: {
            self.cancel(transfer)
        }
    }

    /// Sends a request and returns as soon as the response head is in; the body follows through the
    /// stream, and the socket is paused while `streamHighWater` bytes wait unread (backpressure).
    public func stream(_ request: HTTPRequest) async throws -> (HTTPResponseHead, HTTPBodyStream) {
        let transfer = Transfer(request: request, streaming: true, highWater: options.streamHighWater)
        let body = HTTPBodyStream(transfer: transfer, transport: self)
        let head = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<HTTPResponseHead, Error>) in
                transfer.state.withLock { $0.headContinuation = cont }
                self.enqueue(transfer)
            }
        } onCancel: {
            self.cancel(transfer)
        }
        return (head, body)
    }

    // MARK: - Requests from other threads

    private func enqueue(_ t: Transfer) {
        let accepted = queue.withLock { q -> Bool in
            guard !q.stopping else { return false }
            q.pending.append(t)
            curl_multi_wakeup(multi)
            return true
        }
        if !accepted { t.complete(error: TransportError.shutDown(url: t.request.url)) }
    }

    func cancel(_ t: Transfer) {
        // The flag covers a cancel that comes before the transfer was started.
        t.state.withLock { $0.cancelRequested = true }
        queue.withLock { q in
            guard !q.stopped else { return }
            q.cancelled.append(t)
            curl_multi_wakeup(multi)
        }
    }

    func resume(_ t: Transfer) {
        queue.withLock { q in
            guard !q.stopped else { return }
            q.unpause.append(t)
            curl_multi_wakeup(multi)
        }
    }

    // MARK: - The loop thread

    private func runLoop() {
        // "/proc/thread-self" links to "<pid>/task/<tid>" on Linux; elsewhere the id stays 0.
        if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self"),
            let tid = link.split(separator: "/").last.flatMap({ Int32($0) })
        {
            queue.withLock { $0.threadID = tid }
        }
        var running: Int32 = 0
        while true {
            let (adds, cancels, resumes, stopping) = queue.withLock { q in
                defer {
                    q.pending.removeAll()
                    q.cancelled.removeAll()
                    q.unpause.removeAll()
                }
                return (q.pending, q.cancelled, q.unpause, q.stopping)
            }
            if stopping {
                stop(unstarted: adds)
                return
            }
            for t in adds { start(t) }
            for t in cancels where t.easy != nil {
                finish(t, error: CancellationError())
            }
            for t in resumes where t.easy != nil {
                _ = esteira_curl_unpause(t.easy)
            }
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let msg = curl_multi_info_read(multi, &left) {
                guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle,
                    let t = active[Int(bitPattern: easy)]
                else { continue }
                let code = esteira_curl_message_result(msg)
                if code == CURLE_OK {
                    finish(t, error: nil)
                } else if case .stream(let upload) = t.request.upload, let failure = upload.failure {
                    // The producer of the body failed: its error says more than "aborted by callback".
                    finish(t, error: failure)
                } else {
                    let detail = String(cString: t.errorBuffer)
                    let text = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
                    finish(t, error: TransportError(curlCode: Int(code.rawValue), message: text, url: t.request.url))
                }
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    /// Loop thread, at shutdown: fails what is queued or running, closes the multi handle, and wakes
    /// the callers of `shutdown()`. No request is queued after `stopping` was set.
    private func stop(unstarted: [Transfer]) {
        for t in unstarted { t.complete(error: TransportError.shutDown(url: t.request.url)) }
        for t in Array(active.values) { finish(t, error: TransportError.shutDown(url: t.request.url)) }
        let waiters = queue.withLock { q in
            q.stopped = true
            q.threadID = 0
            defer { q.waiters.removeAll() }
            return q.waiters
        }
        curl_multi_cleanup(multi)
        for w in waiters { w.resume() }
    }

    private func start(_ t: Transfer) {
        if t.state.withLock({ $0.cancelRequested }) {
            t.complete(error: CancellationError())
            return
        }
        guard let easy = curl_easy_init() else {
            t.complete(error: TransportError(curlCode: -1, message: "curl_easy_init failed", url: t.request.url))
            return
        }
        t.easy = easy
        t.transport = self
        let r = t.request
        let me = Unmanaged.passUnretained(t).toOpaque()
        esteira_curl_setopt_string(easy, CURLOPT_URL, r.url)
        // The path goes out as built and signed: curl would otherwise remove `./` and `../` segments,
        // which in an S3 key are plain characters (and the signature would no longer match).
        esteira_curl_setopt_long(easy, CURLOPT_PATH_AS_IS, 1)
        esteira_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        esteira_curl_setopt_pointer(easy, CURLOPT_ERRORBUFFER, t.errorBuffer)
        esteira_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, options.connectTimeout.wholeMilliseconds)
        esteira_curl_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, options.lowSpeedBytesPerSecond)
        esteira_curl_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, Int(options.lowSpeedTime.components.seconds)))
        if let timeout = r.timeout {
            esteira_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, timeout.wholeMilliseconds)
        }
        esteira_curl_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, options.verifyTLS ? 1 : 0)
        esteira_curl_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, options.verifyTLS ? 2 : 0)
        if let bundle = options.caBundlePath { esteira_curl_setopt_string(easy, CURLOPT_CAINFO, bundle) }
        if let proxy = options.proxy { esteira_curl_setopt_string(easy, CURLOPT_PROXY, proxy) }
        if let noProxy = options.noProxy { esteira_curl_setopt_string(easy, CURLOPT_NOPROXY, noProxy) }
        if r.bypassProxy {
            // "" turns off a proxy named by the options or the environment; "*" exempts every host.
            esteira_curl_setopt_string(easy, CURLOPT_PROXY, "")
            esteira_curl_setopt_string(easy, CURLOPT_NOPROXY, "*")
        }
        esteira_curl_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        // Bigger reads mean fewer chunks, and each chunk costs an allocation and a task wake-up
        // downstream: 256 KiB cut the CPU per GiB of a streamed GET by about a third (bench/aws).
        if t.streaming { esteira_curl_setopt_long(easy, CURLOPT_BUFFERSIZE, 256 << 10) }

        esteira_curl_setopt_write(easy, curlWrite)
        esteira_curl_setopt_pointer(easy, CURLOPT_WRITEDATA, me)
        esteira_curl_setopt_header(easy, curlHeader)
        esteira_curl_setopt_pointer(easy, CURLOPT_HEADERDATA, me)

        let bodyLength: Int64
        switch r.upload {
        case .file(let path, _, let length):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                curl_easy_cleanup(easy)
                t.easy = nil
                t.complete(
                    error: TransportError(
                        curlCode: -1, message: "cannot open upload file \(path): \(reason)",
                        url: r.url))
                return
            }
            t.uploadFD = fd
            bodyLength = length
        case .stream(let stream):
            stream.startIfNeeded()
            bodyLength = stream.length
        case nil:
            bodyLength = Int64(r.body.count)
        }
        let hasBody = r.upload != nil || !r.body.isEmpty
        switch r.method {
        case "GET":
            break
        case "HEAD":
            esteira_curl_setopt_long(easy, CURLOPT_NOBODY, 1)
        case "POST":
            esteira_curl_setopt_long(easy, CURLOPT_POST, 1)
            esteira_curl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyLength))
            esteira_curl_setopt_read(easy, curlRead)
            esteira_curl_setopt_pointer(easy, CURLOPT_READDATA, me)
        default:
            if hasBody || r.method == "PUT" {
                esteira_curl_setopt_long(easy, CURLOPT_UPLOAD, 1)
                esteira_curl_setopt_off(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(bodyLength))
                esteira_curl_setopt_read(easy, curlRead)
                esteira_curl_setopt_pointer(easy, CURLOPT_READDATA, me)
            }
            if r.method != "PUT" {
                esteira_curl_setopt_string(easy, CURLOPT_CUSTOMREQUEST, r.method)
            }
        }

        // curl would add "Expect: 100-continue" and a form content type on its own; neither is signed.
        var list: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Expect:")
        for (name, value) in r.headers {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        t.headerList = list
        esteira_curl_setopt_slist(easy, CURLOPT_HTTPHEADER, list)

        active[Int(bitPattern: easy)] = t
        curl_multi_add_handle(multi, easy)
    }

    private func finish(_ t: Transfer, error: Error?) {
        guard let easy = t.easy else { return }
        var status = 0
        esteira_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        curl_multi_remove_handle(multi, easy)
        curl_easy_cleanup(easy)
        curl_slist_free_all(t.headerList)
        t.headerList = nil
        t.easy = nil
        if t.uploadFD >= 0 {
            close(t.uploadFD)
            t.uploadFD = -1
        }
        // A one-shot body that curl started to send is spent whatever happened; one it never touched
        // stays open for a retry, and the caller closes it when it gives up.
        if case .stream(let stream) = t.request.upload, stream.hasSentBytes { stream.close() }
        active[Int(bitPattern: easy)] = nil
        if t.status == 0 { t.status = status }
        t.complete(error: error)
    }
}

// MARK: - One transfer

final class Transfer: @unchecked Sendable {
    // Safety: the fields outside `state` are touched only on the transport's loop thread.
    struct State {
        var bufferedContinuation: CheckedContinuation<HTTPResponse, Error>?
        var headContinuation: CheckedContinuation<HTTPResponseHead, Error>?
        var chunks: [[UInt8]] = []
        var chunkIndex = 0
        var queuedBytes = 0
        var paused = false
        var done = false
        var failure: Error?
        var waiter: CheckedContinuation<[UInt8]?, Error>?
        var cancelRequested = false
    }

    let request: HTTPRequest
    let streaming: Bool
    let highWater: Int
    let state: Mutex<State>
    var easy: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    let errorBuffer: UnsafeMutablePointer<CChar>
    var uploadOffset: Int64 = 0
    var uploadFD: Int32 = -1
    weak var transport: HTTPTransport?
    var status = 0
    var headers: [(String, String)] = []
    var body: [UInt8] = []

    init(request: HTTPRequest, streaming: Bool, highWater: Int) {
        self.request = request
        self.streaming = streaming
        self.highWater = highWater
        self.state = Mutex(State())
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        self.errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit { errorBuffer.deallocate() }

    var head: HTTPResponseHead { HTTPResponseHead(status: status, headers: headers) }

    /// Loop thread: body bytes arrived. Returns false when the stream is full and curl must pause.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if !streaming {
            body.append(contentsOf: bytes)
            return true
        }
        let head = self.head
        return state.withLock { s in
            if let c = s.headContinuation {
                s.headContinuation = nil
                c.resume(returning: head)
            }
            if s.queuedBytes >= highWater {
                s.paused = true
                return false
            }
            s.chunks.append(Array(bytes))
            s.queuedBytes += bytes.count
            if let w = s.waiter {
                s.waiter = nil
                w.resume(returning: s.popChunk())
            }
            return true
        }
    }

    /// Loop thread: the transfer ended, well or not.
    func complete(error: Error?) {
        if !streaming {
            let cont = state.withLock { s in
                defer { s.bufferedContinuation = nil }
                return s.bufferedContinuation
            }
            if let error {
                cont?.resume(throwing: error)
            } else {
                cont?.resume(returning: HTTPResponse(head: head, body: body))
            }
            return
        }
        let head = self.head
        state.withLock { s in
            s.done = true
            s.failure = error
            if let c = s.headContinuation {
                s.headContinuation = nil
                if let error { c.resume(throwing: error) } else { c.resume(returning: head) }
            }
            if let w = s.waiter {
                s.waiter = nil
                if let error { w.resume(throwing: error) } else { w.resume(returning: s.popChunk()) }
            }
        }
    }
}

extension Transfer.State {
    /// Next queued chunk, or nil when none is queued.
    mutating func popChunk() -> [UInt8]? {
        guard chunkIndex < chunks.count else { return nil }
        let c = chunks[chunkIndex]
        chunkIndex += 1
        queuedBytes -= c.count
        if chunkIndex > 64 {
            chunks.removeFirst(chunkIndex)
            chunkIndex = 0
        }
        return c
    }
}

/// A response body arriving piece by piece. Dropping it before the end cancels the transfer.
public final class HTTPBodyStream: AsyncSequence, @unchecked Sendable {
    // Safety: all mutable state lives in the transfer's locked box.
    public typealias Element = [UInt8]
    let transfer: Transfer
    let transport: HTTPTransport

    init(transfer: Transfer, transport: HTTPTransport) {
        self.transfer = transfer
        self.transport = transport
    }

    deinit {
        if !transfer.state.withLock({ $0.done }) { transport.cancel(transfer) }
    }

    /// The next chunk, or nil at the end of the body.
    public func next() async throws -> [UInt8]? {
        // A cancelled reader stops the transfer at once rather than waiting for a stalled server.
        try await withTaskCancellationHandler {
            try await nextChunk()
        } onCancel: {
            transport.cancel(transfer)
        }
    }

    private func nextChunk() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<[UInt8]?, Error>) in
            let (result, failure, wake): ([UInt8]??, Error?, Bool) = transfer.state.withLock { s in
                if let chunk = s.popChunk() {
                    var wake = false
                    if s.paused && s.queuedBytes < transfer.highWater / 2 {
                        s.paused = false
                        wake = true
                    }
                    return (.some(chunk), nil, wake)
                }
                if s.done {
                    return (.some(nil), s.failure, false)
                }
                if s.paused {
                    s.paused = false
                    s.waiter = cont
                    return (nil, nil, true)
                }
                s.waiter = cont
                return (nil, nil, false)
            }
            if wake { transport.resume(transfer) }
            if let failure { cont.resume(throwing: failure) } else if let result { cont.resume(returning: result) }
        }
    }

    /// Reads the rest of the body into memory (for error responses and small objects).
    public func collect(limit: Int = 16 << 20) async throws -> [UInt8] {
        var all: [UInt8] = []
        while let chunk = try await next() {
            all.append(contentsOf: chunk)
            if all.count > limit { break }
        }
        return all
    }

    public func cancel() { transport.cancel(transfer) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: HTTPBodyStream
        public mutating func next() async throws -> [UInt8]? { try await stream.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

// MARK: - curl callbacks (C function pointers; the context is the Transfer)

private func curlWrite(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ ctx: UnsafeMutableRawPointer?)
    -> Int
{
    guard let ptr, let ctx else { return 0 }
    let t = Unmanaged<Transfer>.fromOpaque(ctx).takeUnretainedValue()
    let n = size * count
    return t.receive(UnsafeRawBufferPointer(start: ptr, count: n)) ? n : Int(esteira_curl_writefunc_pause())
}

private func curlRead(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ ctx: UnsafeMutableRawPointer?)
    -> Int
{
    guard let ptr, let ctx else { return Int(esteira_curl_readfunc_abort()) }
    let t = Unmanaged<Transfer>.fromOpaque(ctx).takeUnretainedValue()
    let capacity = size * count
    switch t.request.upload {
    case nil:
        let body = t.request.body
        let n = min(capacity, body.count - Int(t.uploadOffset))
        guard n > 0 else { return 0 }
        body.withUnsafeBytes { src in
            UnsafeMutableRawPointer(ptr).copyMemory(from: src.baseAddress! + Int(t.uploadOffset), byteCount: n)
        }
        t.uploadOffset += Int64(n)
        return n
    case .file(_, let offset, let length):
        let want = Int(min(Int64(capacity), length - t.uploadOffset))
        guard want > 0 else { return 0 }
        // A local disk read on the transport's own thread, never on the cooperative pool.
        let got = pread(t.uploadFD, ptr, want, off_t(offset + t.uploadOffset))
        // A file that shrank under us must fail the request, not send a short body.
        guard got > 0 else { return Int(esteira_curl_readfunc_abort()) }
        t.uploadOffset += Int64(got)
        return got
    case .stream(let stream):
        let transport = t.transport
        switch stream.read(
            into: UnsafeMutableRawPointer(ptr), capacity: capacity,
            wakeReader: { [weak t] in if let t { transport?.resume(t) } })
        {
        case .bytes(let n): return n
        case .end: return 0
        case .pause: return Int(esteira_curl_readfunc_pause())
        case .failed: return Int(esteira_curl_readfunc_abort())
        }
    }
}

private func curlHeader(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ ctx: UnsafeMutableRawPointer?)
    -> Int
{
    guard let ptr, let ctx else { return 0 }
    let t = Unmanaged<Transfer>.fromOpaque(ctx).takeUnretainedValue()
    let n = size * count
    switch HeaderLine.parse(UnsafeRawBufferPointer(start: ptr, count: n)) {
    case .status(let status):
        // A new status line (after a 100 Continue or a redirect) starts a fresh header set.
        t.status = status
        t.headers = []
    case .field(let name, let value):
        t.headers.append((name, value))
    case .other:
        break
    }
    return n
}

/// One line of a response head as curl hands it over, read on its bytes: Foundation's
/// `trimmingCharacters` goes through NSString and cost the worker more CPU than the rest of each request's
/// header handling together (perf, one-row files).
enum HeaderLine: Equatable {
    /// `HTTP/1.1 200 OK`: the status code (0 when there is none).
    case status(Int)
    /// `Name: value`, the name lowercased, the value without the spaces around it.
    case field(name: String, value: String)
    /// The blank line that ends the head, or a line without a colon.
    case other

    static func parse(_ bytes: UnsafeRawBufferPointer) -> HeaderLine {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        func text(_ from: Int, _ to: Int) -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self)
        }
        if end - start >= 5, bytes[start..<start + 5].elementsEqual("HTTP/".utf8) {
            var i = start
            while i < end, bytes[i] != 0x20 { i += 1 }
            while i < end, bytes[i] == 0x20 { i += 1 }
            var j = i
            while j < end, bytes[j] != 0x20 { j += 1 }
            return .status(Int(text(i, j)) ?? 0)
        }
        guard let colon = bytes[start..<end].firstIndex(of: UInt8(ascii: ":")) else { return .other }
        var v = colon + 1
        while v < end, isSpace(bytes[v]) { v += 1 }
        return .field(name: text(start, colon).lowercased(), value: text(v, end))
    }
}
