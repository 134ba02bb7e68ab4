import EsteiraSync
import Foundation
import Logging

/// One API call before signing: the logical path and query (not yet percent-encoded).
struct AWSOperation: Sendable {
    var service: AWSService
    var name: String
    var method: String = "POST"
    var path: String = "/"
    var query: [(String, String)] = []
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// A body read while sending (multipart parts); sent with an unsigned payload hash, which S3 allows.
    var upload: HTTPUpload? = nil
    /// For virtual-hosted S3: "bucket." goes in front of the endpoint host.
    var hostPrefix: String? = nil
    var timeout: Duration? = .seconds(60)
    /// Calls AWS accepts without a signature (AssumeRoleWithWebIdentity: the token is the credential).
    var unsigned = false
    /// Set when the call must not be sent at all (a bucket name that would reshape the URL): the reason.
    var refusal: AWSError? = nil
}

/// Told of every HTTP request a client sends (each retry too), by service and API action name, just
/// before it goes out; the worker counts them for `/metrics`. Called on the caller's task: keep it cheap.
public typealias AWSRequestObserver = @Sendable (_ service: AWSService, _ operation: String) -> Void

/// Signs, sends and retries calls for every service client; maps failures into `AWSError`.
///
/// Retries follow the SDKs' standard mode (see `RetryPolicy`); the retry quota and the clock-skew
/// correction belong to the client, so share one client between the service clients of a process.
public final class AWSClient: Sendable {
    public let config: AWSConfig
    let transport: HTTPTransport
    let logger: Logger
    let retryQuota: RetryQuota
    let requestObserver: AWSRequestObserver?
    /// Seconds to add to the local clock when signing, learned from a server that said we were skewed.
    private let clockOffset = Locked<TimeInterval>(0)

    public init(
        config: AWSConfig, transport: HTTPTransport = .shared,
        logger: Logger = Logger(label: "esteira.aws"), requestObserver: AWSRequestObserver? = nil
    ) {
        self.config = config
        self.transport = transport
        self.logger = logger
        self.requestObserver = requestObserver
        self.retryQuota = RetryQuota(capacity: config.retry.retryQuota)
    }

    /// The correction applied to the local clock when signing (0 until a server reported skew).
    public var clockSkew: TimeInterval { clockOffset.withLock { $0 } }

    /// Sends the call with retries; a non-2xx answer becomes an `AWSError` carrying the service's code.
    func send(_ op: AWSOperation, errorParser: ErrorParser) async throws -> HTTPResponse {
        try await withRetries(op) {
            let request = try await self.signedRequest(op)
            let response: HTTPResponse
            self.requestObserver?(op.service, op.name)
            do {
                response = try await self.transport.send(request)
            } catch let e as TransportError {
                throw Self.transportFailure(e, op)
            }
            if (200..<300).contains(response.status) { return response }
            throw errorParser.parse(
                response.head, body: response.body, service: op.service.rawValue, operation: op.name)
        }
    }

    /// Streams the response body; only the request (not the body) is retried here.
    func stream(_ op: AWSOperation, errorParser: ErrorParser) async throws -> (HTTPResponseHead, HTTPBodyStream) {
        try await withRetries(op) {
            let request = try await self.signedRequest(op)
            let head: HTTPResponseHead
            let body: HTTPBodyStream
            self.requestObserver?(op.service, op.name)
            do {
                (head, body) = try await self.transport.stream(request)
            } catch let e as TransportError {
                throw Self.transportFailure(e, op)
            }
            if (200..<300).contains(head.status) { return (head, body) }
            let errorBody = (try? await body.collect(limit: 1 << 20)) ?? []
            throw errorParser.parse(head, body: errorBody, service: op.service.rawValue, operation: op.name)
        }
    }

    static func transportFailure(_ e: TransportError, _ op: AWSOperation) -> AWSError {
        var error = AWSError(
            service: op.service.rawValue, operation: op.name, code: .transport,
            message: "\(e.message) (\(e.url))", status: 0)
        error.isTimeout = e.isTimeout
        // A transport that was shut down will not carry a retry either.
        if e.isShutDown { error.isTransient = false }
        return error
    }

    private func withRetries<T: Sendable>(_ op: AWSOperation, _ attempt: () async throws -> T) async throws -> T {
        // A one-shot body is spent once the call is over, whatever the outcome.
        defer { if case .stream(let s) = op.upload { s.close() } }
        let policy = config.retry
        var n = 1
        var lastRetryCost: Int?
        while true {
            do {
                let result = try await attempt()
                retryQuota.succeeded(lastRetryCost: lastRetryCost)
                return result
            } catch var error as AWSError {
                error.attempts = n
                if n < policy.maxAttempts, correctClockSkew(from: error) {
                    // Not the service's fault nor a sign of overload: no backoff, no quota.
                    logger.info(
                        "corrected clock skew from the server's Date header",
                        metadata: [
                            "operation": "\(op.service.rawValue).\(op.name)", "skew_s": "\(clockSkew)",
                        ])
                    n += 1
                    continue
                }
                guard error.isTransient, n < policy.maxAttempts else { throw error }
                if let upload = op.upload, !upload.isReplayable {
                    error.retryNote =
                        "not retried: the request body was a one-shot stream and part of it was already sent"
                    throw error
                }
                let cost = error.isTimeout ? policy.timeoutRetryCost : policy.retryCost
                guard retryQuota.acquire(cost) else {
                    error.retryNote = "not retried: the client's retry quota is spent (too many recent failures)"
                    throw error
                }
                lastRetryCost = cost
                let delay = policy.backoff(afterAttempt: n, retryAfter: error.retryAfter)
                logger.debug(
                    "retrying AWS call",
                    metadata: [
                        "operation": "\(op.service.rawValue).\(op.name)", "attempt": "\(n)",
                        "error": "\(error.code)", "delay_s": "\(delay.inSeconds)",
                    ])
                try await Task.sleep(for: delay)
                n += 1
            }
        }
    }

    /// When a skew error (the parser keeps the server's Date only for those) comes with a server Date
    /// more than four minutes from ours (SigV4 tolerates five), adopts the server's clock for signing.
    /// True when a retry can now succeed.
    private func correctClockSkew(from error: AWSError) -> Bool {
        guard let serverDate = error.serverDate else { return false }
        let offset = serverDate.timeIntervalSinceNow
        return clockOffset.withLock { current in
            guard abs(offset - current) > 240 else { return false }
            current = offset
            return true
        }
    }

    /// Builds the exact wire request and signs what will be sent; `date` defaults to now, corrected for skew.
    func signedRequest(_ op: AWSOperation, date: Date? = nil) async throws -> HTTPRequest {
        if let refusal = op.refusal { throw refusal }
        var endpoint = config.endpoint(for: op.service)
        if let prefix = op.hostPrefix { endpoint.host = prefix + endpoint.host }
        let encoding: SigV4URIEncoding = op.service == .s3 ? .s3 : .standard
        var headers = op.headers
        var url = endpoint.baseURL + SigV4URI.encodePath(op.path, encoding: encoding)
        if !op.query.isEmpty { url += "?" + SigV4URI.encodeQuery(op.query) }
        if op.unsigned {
            return HTTPRequest(
                method: op.method, url: url, headers: headers, body: op.body, upload: op.upload,
                timeout: op.timeout)
        }
        headers.append(("host", endpoint.hostHeader))
        // A streamed body cannot be hashed before it is sent; S3 accepts that and TLS guards it on the way.
        let payloadHash = op.upload == nil ? Digest.hex(Digest.sha256(op.body)) : SigV4.unsignedPayload
        if op.service == .s3 {
            headers.append(("x-amz-content-sha256", payloadHash))
        }
        let creds: AWSCredentials
        do {
            creds = try await config.credentials.credentials()
        } catch let e as AWSError {
            throw e
        } catch {
            throw AWSError(
                service: op.service.rawValue, operation: op.name, code: .credentialsUnavailable,
                message: "\(error)", status: 0,
                isTransient: (error as? AWSCredentialsError)?.isTransient ?? false)
        }
        let signer = SigV4Signer(credentials: creds, region: config.region, service: op.service.signingName)
        let signingDate = date ?? Date().addingTimeInterval(clockSkew)
        headers += signer.signedHeaders(
            method: op.method, path: op.path, query: op.query, headers: headers,
            payloadSHA256Hex: payloadHash, date: signingDate, uriEncoding: encoding)
        // curl derives Host from the URL; sending our own would duplicate it.
        headers.removeAll { $0.0.lowercased() == "host" }
        return HTTPRequest(
            method: op.method, url: url, headers: headers, body: op.body, upload: op.upload,
            timeout: op.timeout)
    }
}

/// How a service spells its errors.
enum ErrorParser: Sendable {
    /// S3 and the query protocols (IAM, STS): `<Error><Code>…</Code><Message>…</Message>`.
    case xml
    /// SQS, DynamoDB and Secrets Manager JSON protocols: `{"__type": "…#Code", "message": "…"}`.
    case json

    func parse(_ head: HTTPResponseHead, body: [UInt8], service: String, operation: String) -> AWSError {
        let requestID =
            head.header("x-amzn-requestid") ?? head.header("x-amz-request-id")
            ?? XMLLite(body).first("RequestId")
        var code = ""
        var message = ""
        switch self {
        case .xml:
            let doc = XMLLite(body)
            code = doc.first("Code") ?? ""
            message = doc.first("Message") ?? ""
        case .json:
            if let json = try? JSONValue.decode(body) {
                let type = json["__type"]?.string ?? json["code"]?.string ?? ""
                code = type.split(separator: "#").last.map(String.init) ?? type
                message = json["message"]?.string ?? json["Message"]?.string ?? ""
            } else {
                // Authentication failures can come back as query-style XML even from JSON services.
                let doc = XMLLite(body)
                code = doc.first("Code") ?? ""
                message = doc.first("Message") ?? ""
            }
            // SQS's JSON protocol also names the legacy query code; either is accepted by callers.
            if code.isEmpty, let q = head.header("x-amzn-query-error") {
                code = String(q.split(separator: ";").first ?? "")
            }
        }
        // A HEAD answer has no body to name the error: a bare 403 may be a skewed clock too.
        let mayBeSkew = AWSError.clockSkewCodes.contains(code) || (code.isEmpty && head.status == 403)
        if code.isEmpty {
            code = head.status == 404 ? "NotFound" : "HTTP\(head.status)"
            if message.isEmpty { message = String(decoding: body.prefix(300), as: UTF8.self) }
        }
        var error = AWSError(
            service: service, operation: operation, code: AWSError.Code(parsing: code), message: message,
            requestID: requestID, status: head.status,
            retryAfter: HTTPDate.retryAfter(head.header("retry-after")))
        if mayBeSkew { error.serverDate = head.header("date").flatMap(HTTPDate.parse) }
        return error
    }
}
