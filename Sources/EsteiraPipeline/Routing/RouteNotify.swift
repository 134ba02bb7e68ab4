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

    enum CodingKeys: String, CodingKey {
        case snsTopic = "sns_topic", webhook, on
    }
}
