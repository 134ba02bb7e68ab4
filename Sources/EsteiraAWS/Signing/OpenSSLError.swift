internal import COpenSSL

/// A failed libcrypto call, with everything OpenSSL had queued about it.
///
/// OpenSSL reports failures through a per-thread error queue rather than return
/// values. Every failing call goes through ``OpenSSLError/drain(failedCall:)``, which
/// empties that queue: a stale entry left behind would otherwise be blamed on the
/// next, unrelated failure on the same thread (NIOSSL's `BoringSSLError` does the
/// same).
public struct OpenSSLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One entry of the OpenSSL error queue.
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        /// The packed code from `ERR_get_error` (library and reason).
        public let code: UInt
        /// OpenSSL's own text for the code, e.g.
        /// `error:0308010C:digital envelope routines::unsupported`.
        public let message: String

        public var description: String { message }
    }

    /// The libcrypto function that failed, e.g. `EVP_MD_fetch(MD5)`.
    public let failedCall: String
    /// The drained queue, oldest first; empty when OpenSSL queued nothing.
    public let entries: [Entry]

    public init(failedCall: String, entries: [Entry]) {
        self.failedCall = failedCall
        self.entries = entries
    }

    public var description: String {
        if entries.isEmpty { return "\(failedCall) failed (OpenSSL queued no error)" }
        return "\(failedCall) failed: " + entries.map(\.message).joined(separator: "; ")
    }

    /// Builds the error for `failedCall` from the calling thread's error queue, and
    /// leaves that queue empty.
    ///
    /// Call it synchronously right after the failing call: the queue is
    /// thread-local, so an `await` in between could read another thread's queue.
    static func drain(failedCall: String) -> OpenSSLError {
        var entries: [Entry] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            // 256 bytes is what ERR_error_string documents as enough.
            let message = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer in
                ERR_error_string_n(code, buffer.baseAddress, buffer.count)
                return String(cString: buffer.baseAddress!)
            }
            entries.append(Entry(code: UInt(code), message: message))
        }
        return OpenSSLError(failedCall: failedCall, entries: entries)
    }
}

/// The error funnel for libcrypto calls that return 1 on success (most of EVP).
@inline(__always)
func checkOpenSSL(_ result: Int32, _ failedCall: @autoclosure () -> String) throws(OpenSSLError) {
    if result != 1 { throw OpenSSLError.drain(failedCall: failedCall()) }
}

/// For calls that can fail only when memory runs out or the OpenSSL installation is
/// broken (SHA-256 and HMAC-SHA256 live in every OpenSSL 3 provider, FIPS included).
/// Swift itself traps when an allocation fails, so this traps too, with OpenSSL's
/// reasons in the message, instead of making every signing call site `try`.
@inline(__always)
func requireOpenSSL(_ result: Int32, _ failedCall: @autoclosure () -> String) {
    if result != 1 { fatalError(OpenSSLError.drain(failedCall: failedCall()).description) }
}
