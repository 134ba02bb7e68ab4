import EsteiraAWS
import EsteiraPipeline
import Foundation

/// Where notifications go and for which events: the worker-wide flags, or one route's `notify:` block.
public struct NotifyTargets: Sendable, Equatable {
    public var snsTopic: String?
    public var webhook: WebhookURL?
    public var events: Set<FileNotification.Event>

    public init(snsTopic: String? = nil, webhook: WebhookURL? = nil, events: Set<FileNotification.Event> = [.failed]) {
        self.snsTopic = snsTopic
        self.webhook = webhook
        self.events = events
    }

    public var isEmpty: Bool { snsTopic == nil && webhook == nil }

    /// `failed,succeeded` (a flag) or `["failed", "succeeded"]` (a routes file) → the events; throws what is wrong.
    public static func events(_ names: [String], what: String) throws(NotifyConfigurationError) -> Set<
        FileNotification.Event
    > {
        var events = Set<FileNotification.Event>()
        for name in names.flatMap({ $0.split(separator: ",").map(String.init) })
        where !name.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let e = FileNotification.Event(option: name) else {
                throw NotifyConfigurationError("\(what): '\(name)' is not an event; use failed, succeeded or both")
            }
            events.insert(e)
        }
        guard !events.isEmpty else {
            throw NotifyConfigurationError("\(what): name at least one event (failed, succeeded)")
        }
        return events
    }

    /// A route's `notify:` block, checked; nil when it names no target.
    public static func route(_ route: Route) throws(NotifyConfigurationError) -> NotifyTargets? {
        guard let n = route.notify else { return nil }
        let what = "route '\(route.name)': notify"
        var targets = NotifyTargets(
            events: try n.on.map { names throws(NotifyConfigurationError) in
                try events(names, what: "\(what).on")
            } ?? [.failed])
        if let topic = n.snsTopic {
            guard topic.hasPrefix("arn:") else {
                throw NotifyConfigurationError(
                    "\(what).sns_topic '\(topic)' is not a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
            }
            targets.snsTopic = topic
        }
        if let url = n.webhook {
            do { targets.webhook = try WebhookURL(url) } catch {
                throw NotifyConfigurationError("\(what).webhook: \(error.description)")
            }
        }
        guard !targets.isEmpty else { throw NotifyConfigurationError("\(what) names neither sns_topic nor webhook") }
        return targets
    }
}
