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
    /// For virtual-hosted S3: "bucket." goes in front of the endpoint host.
    var hostPrefix: String? = nil
    var timeout: Double? = 60
}

/// Signs, sends and retries calls for every service client; maps failures into `AWSError`.
public final class AWSClient: Sendable {
    public let config: AWSConfig
    let transport: HTTPTransport
    let logger: Logger

    public init(config: AWSConfig, transport: HTTPTransport = .shared,
                logger: Logger = Logger(label: "esteira.aws")) {
        self.config = config
        self.transport = transport
        self.logger = logger
    }

    /// Sends the call with retries; a non-2xx answer becomes an `AWSError` carrying the service's code.
    func send(_ op: AWSOperation, errorParser: ErrorParser) async throws -> HTTPResponse {
        try await withRetries(op) {
            let request = try await self.signedRequest(op)
            let response: HTTPResponse
            do {
                response = try await self.transport.send(request)
            } catch let e as TransportError {
                throw AWSError(service: op.service.rawValue, operation: op.name, code: "Transport",
                               message: e.message, status: 0)
            }
            if (200..<300).contains(response.status) { return response }
            throw errorParser.parse(response.head, body: response.body, service: op.service.rawValue, operation: op.name)
        }
    }

    /// Streams the response body; only the request (not the body) is retried here.
    func stream(_ op: AWSOperation, errorParser: ErrorParser) async throws -> (HTTPResponseHead, HTTPBodyStream) {
        try await withRetries(op) {
            let request = try await self.signedRequest(op)
            let head: HTTPResponseHead
            let body: HTTPBodyStream
            do {
                (head, body) = try await self.transport.stream(request)
            } catch let e as TransportError {
                throw AWSError(service: op.service.rawValue, operation: op.name, code: "Transport",
                               message: e.message, status: 0)
            }
            if (200..<300).contains(head.status) { return (head, body) }
            let errorBody = (try? await body.collect(limit: 1 << 20)) ?? []
            throw errorParser.parse(head, body: errorBody, service: op.service.rawValue, operation: op.name)
        }
    }

    private func withRetries<T: Sendable>(_ op: AWSOperation, _ attempt: () async throws -> T) async throws -> T {
        var n = 1
        while true {
            do {
                return try await attempt()
            } catch let error as AWSError where error.isTransient && n < config.retry.maxAttempts {
                let delay = config.retry.delay(afterAttempt: n)
                logger.debug("retrying AWS call", metadata: [
                    "operation": "\(op.service.rawValue).\(op.name)", "attempt": "\(n)",
                    "error": "\(error.code)", "delay_s": "\(delay)",
                ])
                try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                n += 1
            }
        }
    }

    /// Builds the exact wire request and signs what will be sent.
    func signedRequest(_ op: AWSOperation, date: Date = Date()) async throws -> HTTPRequest {
        var endpoint = config.endpoint(for: op.service)
        if let prefix = op.hostPrefix { endpoint.host = prefix + endpoint.host }
        let encoding: SigV4URIEncoding = op.service == .s3 ? .s3 : .standard
        var headers = op.headers
        headers.append(("host", endpoint.hostHeader))
        let payloadHash = Digest.hex(Digest.sha256(op.body))
        if op.service == .s3 {
            headers.append(("x-amz-content-sha256", payloadHash))
        }
        let creds = try await config.credentials.credentials()
        let signer = SigV4Signer(credentials: creds, region: config.region, service: op.service.rawValue)
        headers += signer.signedHeaders(method: op.method, path: op.path, query: op.query, headers: headers,
                                        payloadSHA256Hex: payloadHash, date: date, uriEncoding: encoding)
        var url = endpoint.baseURL + SigV4URI.encodePath(op.path, encoding: encoding)
        if !op.query.isEmpty { url += "?" + SigV4URI.encodeQuery(op.query) }
        // curl derives Host from the URL; sending our own would duplicate it.
        headers.removeAll { $0.0.lowercased() == "host" }
        return HTTPRequest(method: op.method, url: url, headers: headers, body: op.body, timeout: op.timeout)
    }
}

/// How a service spells its errors.
enum ErrorParser: Sendable {
    /// S3 and the query protocols (IAM, STS): `<Error><Code>…</Code><Message>…</Message>`.
    case xml
    /// SQS and DynamoDB JSON protocols: `{"__type": "…#Code", "message": "…"}`.
    case json

    func parse(_ head: HTTPResponseHead, body: [UInt8], service: String, operation: String) -> AWSError {
        let requestID = head.header("x-amzn-requestid") ?? head.header("x-amz-request-id")
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
        if code.isEmpty {
            code = head.status == 404 ? "NotFound" : "HTTP\(head.status)"
            if message.isEmpty { message = String(decoding: body.prefix(300), as: UTF8.self) }
        }
        return AWSError(service: service, operation: operation, code: code, message: message,
                        requestID: requestID, status: head.status)
    }
}
