import EsteiraAWS
import EsteiraPipeline
import Foundation
import Logging
import Prometheus
import Synchronization

/// Tells SNS topics and webhooks of files' outcomes, in the background: the worker hands a notification
/// over (`enqueue`, which never waits) and goes on; delivery is retried with backoff and can never block
/// or fail a load.
///
/// The queue is bounded: when it is full a notification is dropped, logged and counted
/// (`esteira_notifications_total{result="dropped"}`). At shutdown, `finish(grace:)` gives pending
/// deliveries a short grace, then abandons them (logged, counted as dropped).
public final class Notifier: Sendable {
    public struct Settings: Sendable {
        /// Targets for every route's files, besides each route's own `notify:`.
        public var global: NotifyTargets
        /// The webhook signing secret (`ESTEIRA_NOTIFY_WEBHOOK_SECRET` or a file); required for a webhook.
        public var webhookSecret: [UInt8]?
        /// Deliveries waiting at most; more are dropped.
        public var capacity: Int = 1000
        /// Deliveries in progress at once.
        public var parallel: Int = 4
        /// Tries per delivery (the first included).
        public var attempts: Int = 6
        public var backoff = RetryBackoff(base: .seconds(1), cap: .seconds(60))
        /// Whole-request deadline of one webhook POST.
        public var webhookTimeout: Duration = .seconds(10)

        public init(global: NotifyTargets = NotifyTargets(), webhookSecret: [UInt8]? = nil) {
            self.global = global
            self.webhookSecret = webhookSecret
        }
    }

    /// One notification to one target.
    struct Delivery: Sendable {
        enum Target: Sendable {
            case sns(String)
            case webhook(WebhookURL)
            var kind: String { if case .sns = self { "sns" } else { "webhook" } }
        }
        var notification: FileNotification
        var target: Target
        var id: String
    }

    /// Counts since start, for tests and the shutdown log line.
    public struct Stats: Sendable, Equatable {
        public var sent = 0
        public var failed = 0
        public var dropped = 0
        public var retries = 0
    }

    public let settings: Settings
    private let continuation: AsyncStream<Delivery>.Continuation
    private let consumer: Task<Void, Never>
    /// Counts and the number of deliveries not yet finished, shared with the delivery tasks.
    final class Tally: Sendable {
        let counts = Mutex(Stats())
        let pending = Mutex(0)
    }
    private let tally: Tally
    private let logger: Logger
    private let registry: PrometheusCollectorRegistry
    /// Called with each notification handed over and how many targets it goes to (tests).
    private let observer: (@Sendable (FileNotification, Int) -> Void)?

    /// `sns` is needed when a topic is named (globally or by a route); `transport` posts webhooks.
    public init(
        settings: Settings, sns: SNSClient?, transport: HTTPTransport = .shared,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logger: Logger = Logger(label: "esteira.notify"),
        observer: (@Sendable (FileNotification, _ targets: Int) -> Void)? = nil
    ) {
        self.settings = settings
        self.observer = observer
        self.logger = logger
        self.registry = registry
        let tally = Tally()
        self.tally = tally
        let (stream, continuation) = AsyncStream.makeStream(
            of: Delivery.self, bufferingPolicy: .bufferingOldest(max(1, settings.capacity)))
        self.continuation = continuation
        let sender = Sender(
            settings: settings, sns: sns, transport: transport, logger: logger, registry: registry,
            tally: tally)
        let parallel = max(1, settings.parallel)
        self.consumer = Task {
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for await delivery in stream {
                    if running >= parallel {
                        await group.next()
                        running -= 1
                    }
                    group.addTask {
                        await sender.deliver(delivery)
                        tally.pending.withLock { $0 -= 1 }
                    }
                    running += 1
                }
            }
        }
    }

    public var stats: Stats { tally.counts.withLock { $0 } }

    /// Queues the notification for the worker-wide targets and `route`'s, for those that asked for its
    /// event. Never waits; a full queue drops it (logged and counted).
    public func enqueue(_ notification: FileNotification, route: NotifyTargets?) {
        var targets: [Delivery.Target] = []
        for t in [settings.global, route].compactMap({ $0 }) where t.events.contains(notification.event) {
            if let topic = t.snsTopic, !targets.contains(where: { if case .sns(topic) = $0 { true } else { false } }) {
                targets.append(.sns(topic))
            }
            if let hook = t.webhook, !targets.contains(where: { if case .webhook(hook) = $0 { true } else { false } }) {
                targets.append(.webhook(hook))
            }
        }
        observer?(notification, targets.count)
        for target in targets {
            tally.pending.withLock { $0 += 1 }
            let delivery = Delivery(notification: notification, target: target, id: UUID().uuidString.lowercased())
            if case .enqueued = continuation.yield(delivery) { continue }
            tally.pending.withLock { $0 -= 1 }
            tally.counts.withLock { $0.dropped += 1 }
            count(target.kind, "dropped")
            logger.warning(
                "notification dropped: the delivery queue is full",
                metadata: [
                    "event": "\(notification.event.rawValue)", "key": "\(notification.key)", "target": "\(target.kind)",
                    "capacity": "\(settings.capacity)",
                ])
        }
    }

    /// Stops taking notifications and waits up to `grace` for those pending; the rest are abandoned
    /// (counted as dropped). Returns within about `grace`, whatever the targets do.
    public func finish(grace: Duration) async {
        continuation.finish()
        let deadline = ContinuousClock.now + grace
        while tally.pending.withLock({ $0 }) > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: min(.milliseconds(50), deadline - ContinuousClock.now))
        }
        let left = tally.pending.withLock { $0 }
        if left > 0 {
            consumer.cancel()
            tally.counts.withLock { $0.dropped += left }
            logger.warning(
                "notifications abandoned at shutdown", metadata: ["pending": "\(left)", "grace": "\(grace)"])
        }
        let s = stats
        if s.sent + s.failed + s.dropped > 0 {
            logger.info(
                "notifier stopped", metadata: ["sent": "\(s.sent)", "failed": "\(s.failed)", "dropped": "\(s.dropped)"])
        }
    }

    private func count(_ target: String, _ result: String) {
        Sender.count(registry, target, result)
    }

    /// Delivers one notification to one target, with retries; never throws.
    struct Sender: Sendable {
        let settings: Settings
        let sns: SNSClient?
        let transport: HTTPTransport
        let logger: Logger
        let registry: PrometheusCollectorRegistry
        let tally: Tally

        static func count(_ registry: PrometheusCollectorRegistry, _ target: String, _ result: String) {
            registry.makeCounter(
                descriptor: MetricNameDescriptor(
                    metricName: "esteira_notifications", unitName: "total",
                    helpText: "File notifications by target (sns, webhook) and result (sent, failed, dropped)."),
                labels: [("target", target), ("result", result)]
            ).increment()
        }

        enum Attempt {
            case sent
            case retry(String)
            case give(String)
        }

        func deliver(_ d: Delivery) async {
            var log = logger
            log[metadataKey: "event"] = "\(d.notification.event.rawValue)"
            log[metadataKey: "key"] = "\(d.notification.key)"
            log[metadataKey: "target"] = "\(d.target.kind)"
            let attempts = max(1, settings.attempts)
            var last = ""
            for n in 1...attempts {
                if Task.isCancelled { return }
                let result = await attempt(d)
                switch result {
                case .sent:
                    tally.counts.withLock { $0.sent += 1 }
                    Self.count(registry, d.target.kind, "sent")
                    log.debug("notification sent", metadata: ["attempt": "\(n)"])
                    return
                case .give(let why):
                    last = why
                case .retry(let why):
                    last = why
                    if n < attempts {
                        tally.counts.withLock { $0.retries += 1 }
                        let delay = settings.backoff.delay(afterAttempt: n)
                        log.info(
                            "notification not delivered; retrying",
                            metadata: [
                                "attempt": "\(n)", "error": "\(why)", "delay_s": "\(delay)",
                            ])
                        do { try await Task.sleep(for: delay) } catch { return }
                        continue
                    }
                }
                break
            }
            tally.counts.withLock { $0.failed += 1 }
            Self.count(registry, d.target.kind, "failed")
            log.error("notification could not be delivered", metadata: ["error": "\(last)"])
        }

        func attempt(_ d: Delivery) async -> Attempt {
            let body = d.notification.json()
            switch d.target {
            case .sns(let topic):
                guard let sns else { return .give("no SNS client") }
                do {
                    try await sns.publish(
                        topicARN: topic, message: String(decoding: body, as: UTF8.self),
                        attributes: [
                            ("esteira.event", d.notification.event.rawValue),
                            ("esteira.route", d.notification.route ?? "-"),
                            ("esteira.tenant", d.notification.tenant ?? "-"),
                        ])
                    return .sent
                } catch let e as AWSError {
                    return e.isTransient ? .retry("\(e)") : .give("\(topic): \(e)")
                } catch {
                    return .retry("\(error)")
                }
            case .webhook(let hook):
                guard let secret = settings.webhookSecret else { return .give("no webhook secret configured") }
                let now = Int64(Date().timeIntervalSince1970)
                let request = HTTPRequest(
                    method: "POST", url: hook.url,
                    headers: [
                        ("content-type", "application/json"),
                        ("user-agent", "esteira-notify/1"),
                        ("x-esteira-event", d.notification.event.rawValue),
                        ("x-esteira-delivery", d.id),
                        (
                            WebhookSignature.header.lowercased(),
                            WebhookSignature.value(body: body, secret: secret, timestamp: now)
                        ),
                    ], body: body, timeout: settings.webhookTimeout)
                do {
                    // Only the status matters: the answer's body is never read, so a receiver cannot make
                    // us buffer a large one.
                    let (head, body) = try await transport.stream(request)
                    body.cancel()
                    switch head.status {
                    case 200..<300: return .sent
                    case 408, 425, 429, 500...599: return .retry("\(hook.redacted) answered \(head.status)")
                    default:
                        return .give(
                            "\(hook.redacted) answered \(head.status); not retried (redirects are not followed)")
                    }
                } catch let e as TransportError {
                    // Its description carries the full URL, query string included: log the message only.
                    return .retry("\(hook.redacted): \(e.message) (curl \(e.curlCode))")
                } catch {
                    return .retry("\(hook.redacted): \(type(of: error))")
                }
            }
        }
    }
}
