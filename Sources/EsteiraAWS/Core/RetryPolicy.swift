/// The AWS SDKs' standard retry mode: capped exponential backoff with full jitter.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double

    public static let standard = RetryPolicy(maxAttempts: 3, baseDelay: 0.1, maxDelay: 20)

    public init(maxAttempts: Int, baseDelay: Double, maxDelay: Double) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Seconds to wait before attempt `attempt + 1` (attempt counts from 1): a random value in
    /// [0, min(maxDelay, base · 2^(attempt-1))], so a fleet that failed together does not retry together.
    public func delay(afterAttempt attempt: Int, random: Double = Double.random(in: 0...1)) -> Double {
        let ceiling = min(maxDelay, baseDelay * Double(1 << min(attempt - 1, 30)))
        return ceiling * random
    }
}
