/// An AWS service answered with an error, or could not be reached within the retry budget.
/// Classified once, here, as transient or permanent; the worker decides on that alone.
public struct AWSError: Error, CustomStringConvertible, Sendable {
    public var service: String
    public var operation: String
    /// The AWS error code (`NoSuchKey`, `ThrottlingException`, `QueueDoesNotExist` …), or `Transport`.
    public var code: String
    public var message: String
    public var requestID: String?
    /// 0 when no response arrived.
    public var status: Int
    public var isTransient: Bool

    public init(service: String, operation: String, code: String, message: String,
                requestID: String? = nil, status: Int, isTransient: Bool? = nil) {
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.requestID = requestID
        self.status = status
        self.isTransient = isTransient ?? AWSError.isTransient(code: code, status: status)
    }

    public var description: String {
        var s = "\(service) \(operation) failed: \(code)"
        if !message.isEmpty { s += ": \(message)" }
        if status != 0 { s += " (HTTP \(status)" + (requestID.map { ", request id \($0)" } ?? "") + ")" }
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

    public static func isTransient(code: String, status: Int) -> Bool {
        if throttlingCodes.contains(code) || transientCodes.contains(code) { return true }
        return status == 429 || status >= 500 || status == 0
    }

    public var isThrottling: Bool { AWSError.throttlingCodes.contains(code) || status == 429 }
}
