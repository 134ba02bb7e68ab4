/// An HTTP request as the transport sends it: the URL is final (already percent-encoded, exactly as signed).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Whole-transfer deadline in seconds; nil leaves only the connect and low-speed limits (streaming GETs).
    public var timeout: Double?

    public init(method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Double? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
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

/// A failure below HTTP: DNS, connect, TLS, a dropped connection. Always worth a retry.
public struct TransportError: Error, CustomStringConvertible, Sendable {
    public var curlCode: Int
    public var message: String
    public var url: String

    public var description: String { "HTTP transport error \(curlCode) for \(url): \(message)" }
}

/// Tuning for the shared transport.
public struct HTTPTransportOptions: Sendable {
    public var connectTimeout: Double = 10
    /// A transfer slower than `lowSpeedBytesPerSecond` for `lowSpeedSeconds` is cut (and retried by the caller).
    public var lowSpeedBytesPerSecond: Int = 1
    public var lowSpeedSeconds: Int = 60
    /// A streamed body pauses the socket once this many bytes wait unread.
    public var streamHighWater: Int = 1 << 20
    public var verifyTLS: Bool = true

    public init() {}
}
