import Foundation

/// An AWS service answered with an error, or could not be reached within the retry budget.
/// Classified once, here, as transient or permanent; the worker decides on that alone.
public struct AWSError: Error, CustomStringConvertible, Sendable {
    /// The AWS error code as the service spelled it (`NoSuchKey`, `ThrottlingException` …), or one of
    /// Esteira's own (`Transport` when no answer arrived, `CredentialsUnavailable`, `MalformedResponse`).
    ///
    /// Open like the services' own sets: compare with `==` against the `static let` members, which name
    /// every code the code base acts on. A code no member names still reads as its `rawValue`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String

        public init(rawValue: String) { self.rawValue = rawValue }

        /// The code in an error answer. SQS's JSON protocol may still name a queue error by its legacy
        /// query code (`AWS.SimpleQueueService.NonExistentQueue`); it means `QueueDoesNotExist`.
        init(parsing text: String) {
            self.rawValue = text.hasSuffix("NonExistentQueue") ? Code.queueDoesNotExist.rawValue : text
        }

        public var description: String { rawValue }
        public var isEmpty: Bool { rawValue.isEmpty }

        // Esteira's own: no answer, or no answer it could read.
        /// No HTTP answer arrived (connect, TLS, timeout, reset).
        public static let transport = Code(rawValue: "Transport")
        /// No credentials could be had to sign the call.
        public static let credentialsUnavailable = Code(rawValue: "CredentialsUnavailable")
        /// A 2xx answer whose body lacks what the call needs.
        public static let malformedResponse = Code(rawValue: "MalformedResponse")
        /// A resumed GET whose object is not the one the first bytes came from.
        public static let resumeMismatch = Code(rawValue: "ResumeMismatch")
        /// An error answer without a code: 404 on a HEAD.
        public static let notFound = Code(rawValue: "NotFound")

        // S3.
        public static let noSuchKey = Code(rawValue: "NoSuchKey")
        public static let noSuchVersion = Code(rawValue: "NoSuchVersion")
        public static let noSuchBucket = Code(rawValue: "NoSuchBucket")
        /// Also Esteira's own, before sending: a name that could change the request URL.
        public static let invalidBucketName = Code(rawValue: "InvalidBucketName")
        public static let noSuchUpload = Code(rawValue: "NoSuchUpload")
        public static let preconditionFailed = Code(rawValue: "PreconditionFailed")
        public static let bucketAlreadyOwnedByYou = Code(rawValue: "BucketAlreadyOwnedByYou")
        public static let signatureDoesNotMatch = Code(rawValue: "SignatureDoesNotMatch")
        public static let slowDown = Code(rawValue: "SlowDown")

        // SQS.
        public static let queueDoesNotExist = Code(rawValue: "QueueDoesNotExist")

        // DynamoDB.
        public static let conditionalCheckFailed = Code(rawValue: "ConditionalCheckFailedException")
        public static let resourceNotFound = Code(rawValue: "ResourceNotFoundException")
        public static let resourceInUse = Code(rawValue: "ResourceInUseException")
        public static let validation = Code(rawValue: "ValidationException")
    }

    public var service: String
    public var operation: String
    public var code: Code
    public var message: String
    public var requestID: String?
    /// 0 when no response arrived.
    public var status: Int
    public var isTransient: Bool
    /// How long the server asked to wait (`Retry-After`), if it did.
    public var retryAfter: Duration?
    /// Attempts made before giving up, the first included.
    public var attempts: Int = 1
    /// Why no further attempt was made, when that is not simply "permanent error" or "attempts used up".
    public var retryNote: String?
    /// The server's clock from its `Date` header, to correct our own when it says our signature is skewed.
    var serverDate: Date?
    /// The transfer timed out rather than failed: the retry quota charges more for it.
    var isTimeout = false

    public init(
        service: String, operation: String, code: Code, message: String,
        requestID: String? = nil, status: Int, isTransient: Bool? = nil, retryAfter: Duration? = nil
    ) {
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.requestID = requestID
        self.status = status
        self.isTransient = isTransient ?? AWSError.isTransient(code: code, status: status)
        self.retryAfter = retryAfter
    }

    public var description: String {
        var s = "\(service) \(operation) failed: \(code)"
        if !message.isEmpty { s += ": \(message)" }
        if status != 0 { s += " (HTTP \(status)" + (requestID.map { ", request id \($0)" } ?? "") + ")" }
        if attempts > 1 { s += " after \(attempts) attempts" }
        if let retryNote { s += "; \(retryNote)" }
        return s
    }

    /// The SDKs' standard retry mode classification.
    static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
    ]
    static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure", "ServiceUnavailable",
        "RequestTimeTooSkewed", "Transport", "IDPCommunicationError",
    ]
    /// Codes a wrong local clock causes; retried once the clock offset is corrected from the server's Date.
    static let clockSkewCodes: Set<String> = [
        "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture", "InvalidSignatureException",
        "SignatureDoesNotMatch", "AuthFailure", "InvalidClientTokenId",
    ]

    public static func isTransient(code: Code, status: Int) -> Bool {
        if throttlingCodes.contains(code.rawValue) || transientCodes.contains(code.rawValue) { return true }
        return status == 429 || status >= 500 || status == 0
    }

    public var isThrottling: Bool { AWSError.throttlingCodes.contains(code.rawValue) || status == 429 }
}

/// HTTP dates (`Date`, `Retry-After`) in the one format servers send today (RFC 7231 IMF-fixdate).
enum HTTPDate {
    static func parse(_ text: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: text)
    }

    static func format(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: date)
    }

    /// `Retry-After` is either a number of seconds or an HTTP date.
    static func retryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        // Capped at a day before conversion: a huge number must not trap (RetryPolicy cuts it further).
        if let seconds = Double(value), seconds.isFinite { return .seconds(min(max(0, seconds), 86_400)) }
        return parse(value).map { .seconds(min(max(0, $0.timeIntervalSince(now)), 86_400)) }
    }
}
