/// A failed request, answered to the client as STATUS `code` with `message`. Messages are written for
/// the person at the client: what went wrong and, where there is one, what to do instead.
public struct SFTPStatusError: Error, Hashable, CustomStringConvertible, Sendable {
    public var code: SFTPStatusCode
    public var message: String

    public init(_ code: SFTPStatusCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    public static func noSuchFile(_ path: String) -> SFTPStatusError {
        SFTPStatusError(.noSuchFile, "\(path): no such file or directory")
    }

    public static func permissionDenied(_ path: String, needs permission: String) -> SFTPStatusError {
        SFTPStatusError(
            .permissionDenied, "\(path): permission denied (this account has no '\(permission)' permission)")
    }

    public static func unsupported(_ what: String) -> SFTPStatusError {
        SFTPStatusError(.operationUnsupported, what)
    }
}
