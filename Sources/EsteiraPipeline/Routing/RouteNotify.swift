import EsteiraAWS
import EsteiraCSV
import Foundation

/// A route's `notify:` block: who is told when one of its files ends, besides the worker-wide targets
/// (`--notify-sns-topic`, `--notify-webhook`).
///
/// ```yaml
/// notify:
///   sns_topic: arn:aws:sns:us-east-1:123456789012:partner-files
///   webhook: https://hooks.example.com/esteira
///   on: [failed, succeeded]     # default: [failed]
/// ```
public struct RouteNotify: Sendable, Codable, Equatable {
    public var snsTopic: String?
    public var webhook: String?
    /// `failed` and/or `succeeded`; nil means `[failed]`.
    public var on: [String]?

    public init(snsTopic: String? = nil, webhook: String? = nil, on: [String]? = nil) {
        self.snsTopic = snsTopic
        self.webhook = webhook
        self.on = on
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case snsTopic = "sns_topic"
        case webhook, on
    }

    public init(from decoder: any Decoder) throws {
        try MappingKeys.refuseUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue), section: "notify: ")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        snsTopic = try c.decodeIfPresent(String.self, forKey: .snsTopic)
        webhook = try c.decodeIfPresent(String.self, forKey: .webhook)
        on = try c.decodeIfPresent([String].self, forKey: .on)
    }

    /// The events this block may name.
    public static let eventNames: Set<String> = ["failed", "succeeded"]

    /// What is wrong with the block, as the worker would refuse it at start (so `esteira routes check` does too).
    func check(route: String) throws(RoutingError) {
        let what = "route '\(route)': notify"
        guard snsTopic != nil || webhook != nil else {
            throw RoutingError("\(what) names neither sns_topic nor webhook")
        }
        if let snsTopic, !snsTopic.hasPrefix("arn:") {
            throw RoutingError("\(what).sns_topic '\(snsTopic)' is not a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        }
        if let webhook {
            do { _ = try WebhookURL(webhook) } catch { throw RoutingError("\(what).webhook: \(error.description)") }
        }
        if let on {
            guard !on.isEmpty else { throw RoutingError("\(what).on: name at least one event (failed, succeeded)") }
            for name in on where !Self.eventNames.contains(name.trimmingCharacters(in: .whitespaces).lowercased()) {
                throw RoutingError("\(what).on: '\(name)' is not an event; use failed, succeeded or both")
            }
        }
    }
}

/// A webhook address we are willing to post to: HTTPS, or plain HTTP only to this machine (decided by
/// the parsed address, as `LoopbackAddress` does, never by how the name starts).
public struct WebhookURL: Sendable, Equatable, CustomStringConvertible {
    public let url: String
    /// Scheme, host and path only, for logs: a query string may carry a token.
    public let redacted: String

    public init(_ text: String) throws(NotifyConfigurationError) {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(), let host = c.host, !host.isEmpty
        else {
            throw NotifyConfigurationError("'\(text)' is not a URL such as https://hooks.example.com/esteira")
        }
        switch scheme {
        case "https": break
        case "http":
            guard LoopbackAddress.isLoopback(host) else {
                throw NotifyConfigurationError(
                    "'\(host)': a webhook must use https (plain http only to a loopback address such as 127.0.0.1)")
            }
        default:
            throw NotifyConfigurationError("'\(text)' must be an https URL")
        }
        guard c.user == nil, c.password == nil else {
            throw NotifyConfigurationError(
                "a webhook URL must not carry a user or password; the body is signed instead")
        }
        self.url = text
        self.redacted = "\(scheme)://\(host)\(c.port.map { ":\($0)" } ?? "")\(c.path)"
    }

    public var description: String { redacted }
}

public struct NotifyConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
