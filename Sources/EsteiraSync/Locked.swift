import Synchronization

/// A value behind a `Synchronization.Mutex`, shared by reference.
///
/// The package has one lock type, `Mutex`. A `Mutex` is `~Copyable`, so a stored property of a final
/// class can be one directly; where several owners (closures, tasks, threads) must hold the same lock,
/// this final class carries it.
public final class Locked<Value>: Sendable {
    @usableFromInline let mutex: Mutex<Value>

    public init(_ value: sending Value) { mutex = Mutex(value) }

    /// Runs `body` with the value locked. Keep it short: no blocking call, no `await`.
    @inlinable
    public func withLock<R, E: Error>(_ body: (inout sending Value) throws(E) -> sending R) throws(E) -> sending R {
        try mutex.withLock(body)
    }
}

extension Locked where Value: Sendable {
    /// The value now (a copy), or replaces it.
    @inlinable
    public var value: Value {
        get { withLock { $0 } }
        set { withLock { $0 = newValue } }
    }
}
