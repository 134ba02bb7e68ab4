import ArgumentParser
import EsteiraAWS
import EsteiraPipeline
import EsteiraWorker
import Foundation
import Logging
import Prometheus

/// The worker's notification flags: targets for every route's files (a route adds its own with `notify:`).
struct NotifyOptions: ParsableArguments {
    @Option(
        name: .customLong("notify-sns-topic"),
        help: "SNS topic ARN told of every route's files (env ESTEIRA_NOTIFY_SNS_TOPIC).")
    var snsTopic: String? = env("ESTEIRA_NOTIFY_SNS_TOPIC")

    @Option(
        name: .customLong("notify-webhook"),
        help:
            "HTTPS URL that gets a signed POST for every route's files (env ESTEIRA_NOTIFY_WEBHOOK; plain http only to loopback)."
    )
    var webhook: String? = env("ESTEIRA_NOTIFY_WEBHOOK")

    @Option(
        name: .customLong("notify-on"),
        help: "Events sent to the targets above: failed, succeeded or both (env ESTEIRA_NOTIFY_ON).")
    var on: String = env("ESTEIRA_NOTIFY_ON") ?? "failed"

    @Option(
        name: .customLong("notify-webhook-secret-file"),
        help:
            "File holding the webhook signing secret (env ESTEIRA_NOTIFY_WEBHOOK_SECRET_FILE; or the secret itself in ESTEIRA_NOTIFY_WEBHOOK_SECRET)."
    )
    var secretFile: String? = env("ESTEIRA_NOTIFY_WEBHOOK_SECRET_FILE")

    @Option(
        name: .customLong("notify-grace"),
        help: "Seconds at shutdown for notifications still being delivered.")
    var grace: Int = 5

    /// The worker-wide targets, checked.
    func globalTargets() throws -> NotifyTargets {
        var targets = NotifyTargets()
        do {
            targets.events = try NotifyTargets.events([on], what: "--notify-on")
            if let webhook, !webhook.isEmpty { targets.webhook = try WebhookURL(webhook) }
        } catch {
            throw ValidationError("\(error.description) (--notify-webhook / --notify-on)")
        }
        if let snsTopic, !snsTopic.isEmpty {
            guard snsTopic.hasPrefix("arn:") else {
                throw ValidationError(
                    "--notify-sns-topic '\(snsTopic)' is not a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
            }
            targets.snsTopic = snsTopic
        }
        guard grace >= 0 else { throw ValidationError("--notify-grace must be 0 or more seconds") }
        return targets
    }

    /// The signing secret: the file wins over ESTEIRA_NOTIFY_WEBHOOK_SECRET. Never logged.
    func secret() throws -> [UInt8]? {
        var text: String?
        if let secretFile, !secretFile.isEmpty {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: secretFile),
                let size = attributes[.size] as? Int, size <= 4096,
                let contents = try? String(contentsOfFile: secretFile, encoding: .utf8)
            else {
                throw UserFacingError(
                    "cannot read the webhook secret from \(secretFile) (a text file of at most 4 KiB; --notify-webhook-secret-file)"
                )
            }
            text = contents
        } else {
            text = env("ESTEIRA_NOTIFY_WEBHOOK_SECRET")
        }
        guard let secret = text?.trimmingCharacters(in: .whitespacesAndNewlines), !secret.isEmpty else { return nil }
        guard secret.utf8.count >= 16 else {
            throw UserFacingError("the webhook secret is shorter than 16 bytes; make one with `openssl rand -hex 32`")
        }
        return Array(secret.utf8)
    }

    /// A notifier when any target is named (here or in a route's `notify:`); nil otherwise. Refuses to
    /// start on a route's bad `notify:` block or a webhook without a secret.
    func notifier(routes: RouteTable, aws: AWSClient, registry: PrometheusCollectorRegistry, logger: Logger) throws
        -> Notifier?
    {
        let global = try globalTargets()
        var perRoute: [NotifyTargets] = []
        for route in routes.routes {
            do {
                if let t = try NotifyTargets.route(route) { perRoute.append(t) }
            } catch {
                throw UserFacingError("\(error.description) (routes file)")
            }
        }
        let all = [global] + perRoute
        guard all.contains(where: { !$0.isEmpty }) else { return nil }
        let secret = try secret()
        if secret == nil, all.contains(where: { $0.webhook != nil }) {
            throw UserFacingError(
                "a webhook is configured but no signing secret: set ESTEIRA_NOTIFY_WEBHOOK_SECRET or --notify-webhook-secret-file (receivers check the X-Esteira-Signature header with it)"
            )
        }
        let usesSNS = all.contains { $0.snsTopic != nil }
        logger.info(
            "notifications on",
            metadata: [
                "sns_topic": "\(global.snsTopic ?? "-")", "webhook": "\(global.webhook?.redacted ?? "-")",
                "on": "\(global.events.map(\.rawValue).sorted().joined(separator: ","))",
                "routes_with_notify": "\(perRoute.count)",
            ])
        return Notifier(
            settings: Notifier.Settings(global: global, webhookSecret: secret),
            sns: usesSNS ? SNSClient(client: aws) : nil, registry: registry, logger: logger)
    }
}
