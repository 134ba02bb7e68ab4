import EsteiraSync

/// The AWS SDKs' standard retry mode: capped exponential backoff with full jitter, a cap on attempts,
/// and a retry quota (token bucket) shared by every call of one client, so that a dependency that is
/// down gets one attempt per call instead of three once the quota is spent.
public struct RetryPolicy: Sendable {
    /// Attempts per call, the first included (AWS_MAX_ATTEMPTS; the SDKs' default is 3).
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Tokens in the retry quota when the client starts (the SDKs use 500).
    public var retryQuota: Int = 500
    /// Tokens a retry after an error response or a failed connection takes from the quota.
    public var retryCost: Int = 5
    /// Tokens a retry after a timeout takes: a timeout is the likeliest sign of an overloaded service.
    public var timeoutRetryCost: Int = 10
    /// The longest `Retry-After` honoured; a longer one is cut to this so a call never sleeps for hours.
    public var maxRetryAfter: Duration = .seconds(60)

    public static let standard = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(20))

    public init(maxAttempts: Int, baseDelay: Duration, maxDelay: Duration) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1): a random value in
    /// [0, min(maxDelay, base · 2^(attempt-1))], so a fleet that failed together does not retry together.
    public func backoff(afterAttempt attempt: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        let ceiling = min(maxDelay, baseDelay * (1 << min(max(attempt - 1, 0), 30)))
        return ceiling * min(max(random, 0), 1)
    }

    /// The wait before the next attempt when the server named one: never less than it asked for
    /// (up to `maxRetryAfter`), never less than the jittered backoff.
    public func backoff(
        afterAttempt attempt: Int, retryAfter: Duration?,
        random: Double = Double.random(in: 0...1)
    ) -> Duration {
        let backoff = backoff(afterAttempt: attempt, random: random)
        guard let retryAfter, retryAfter > .zero else { return backoff }
        return max(backoff, min(retryAfter, maxRetryAfter))
    }
}

/// The retry quota of one client, as the SDKs' standard mode keeps it: a retry takes tokens, a call
/// that succeeds gives back what its retry took (or one token when it needed none), up to the capacity.
final class RetryQuota: Sendable {
    let capacity: Int
    private let tokens: Locked<Int>

    init(capacity: Int) {
        self.capacity = capacity
        self.tokens = Locked(capacity)
    }

    var available: Int { tokens.withLock { $0 } }

    /// Takes `cost` tokens for a retry; false when the quota cannot pay for it (no retry then).
    func acquire(_ cost: Int) -> Bool {
        tokens.withLock { t in
            guard t >= cost else { return false }
            t -= cost
            return true
        }
    }

    /// A call succeeded: refund its last retry's cost, or add one token if it needed no retry.
    func succeeded(lastRetryCost: Int?) {
        tokens.withLock { t in t = min(capacity, t + (lastRetryCost ?? 1)) }
    }
}
