import Foundation

/// An AWS service answered with an error, or could not be reached within the retry budget.
/// Classified once, here, as transient or permanent; the worker decides on that alone.
public struct AWSError: Error, CustomStringConvertible, Sendable {
    public var service: String
    public var operation: String
    /// The AWS error code (`NoSuchKey`, `ThrottlingException`, `QueueDoesNotExist` …), `Transport` when no
    /// answer arrived, or `CredentialsUnavailable` when no credentials could be had to sign the call.
    public var code: String
    public var message: String
    public var requestID: String?
    /// 0 when no response arrived.
    public var status: Int
    public var isTransient: Bool
    /// Seconds the server asked to wait (`Retry-After`), if it did.
    public var retryAfter: Double?
    /// Attempts made before giving up, the first included.
    public var attempts: Int = 1
    /// Why no further attempt was made, when that is not simply "permanent error" or "attempts used up".
    public var retryNote: String?
    /// The server's clock from its `Date` header, to correct our own when it says our signature is skewed.
    var serverDate: Date?
    /// The transfer timed out rather than failed: the retry quota charges more for it.
    var isTimeout = false

    public init(service: String, operation: String, code: String, message: String,
                requestID: String? = nil, status: Int, isTransient: Bool? = nil, retryAfter: Double? = nil) {
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

    public static func isTransient(code: String, status: Int) -> Bool {
        if throttlingCodes.contains(code) || transientCodes.contains(code) { return true }
        return status == 429 || status >= 500 || status == 0
    }

    public var isThrottling: Bool { AWSError.throttlingCodes.contains(code) || status == 429 }
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
    static func retryAfter(_ value: String?, now: Date = Date()) -> Double? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value) { return max(0, seconds) }
        return parse(value).map { max(0, $0.timeIntervalSince(now)) }
    }
}
