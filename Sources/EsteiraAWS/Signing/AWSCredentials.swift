#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An AWS access key, with the session token and expiry of temporary
/// credentials (STS, IRSA, container and instance roles).
///
/// Its `description`, `debugDescription` and mirror never show the secret or
/// the session token, so logging a value or `dump`-ing a struct that holds one
/// cannot leak them; only the access key ID, which is not secret, is shown.
public struct AWSCredentials: Sendable, Equatable {
    public let accessKeyID: String
    public let secretAccessKey: String
    /// Present for temporary credentials; sent as `x-amz-security-token`.
    public let sessionToken: String?
    /// When temporary credentials stop working; nil for long-term keys.
    public let expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }
}

extension AWSCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private static let redacted = "<redacted>"

    public var description: String {
        var text = "AWSCredentials(accessKeyID: \(accessKeyID), secretAccessKey: \(Self.redacted)"
        if sessionToken != nil { text += ", sessionToken: \(Self.redacted)" }
        if let expiration { text += ", expiration: \(expiration)" }
        return text + ")"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "accessKeyID": accessKeyID,
                "secretAccessKey": Self.redacted,
                "sessionToken": sessionToken == nil ? "nil" : Self.redacted,
                "expiration": expiration as Any,
            ], displayStyle: .struct)
    }
}
