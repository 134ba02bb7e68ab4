import EsteiraAWS
import Logging

extension Worker {
    /// What became of one file of a message.
    enum Disposition: Sendable, Equatable { case done, deadLettered, retryLater, givenBack }

    /// One message: decoded, each file it names processed, then acknowledged, given back or split.
    func handle(_ message: SQSMessage) async {
        var log = logger
        log[metadataKey: "message_id"] = "\(message.messageID)"
        log[metadataKey: "receive_count"] = "\(message.receiveCount)"
        if let source = message.source { log[metadataKey: "queue"] = "\(source)" }
        let event: QueueEvent
        do {
            event = try S3EventDecoder.decode(message.body)
        } catch {
            log.error("undecodable message; dead-lettering", metadata: ["reason": "\(error.reason)"])
            if await deadLetter(
                message.body, of: message, code: "UndecodableMessage", reason: error.reason,
                object: nil, route: nil, attempt: 0, log: log)
            {
                await acknowledge(message, log: log)
            }
            return
        }
        switch event {
        case .testEvent:
            log.info("s3:TestEvent acknowledged")
            await acknowledge(message, log: log)
        case .ignored(let reason):
            log.info("event ignored", metadata: ["reason": "\(reason)"])
            await acknowledge(message, log: log)
        case .objectsCreated(let objects):
            metrics.received.increment(by: Int64(objects.count))
            // S3 sends one record per message; a message with several is split only when its records
            // end differently, so each keeps its own fate (and its own DLQ entry).
            let split = objects.count > 1
            var retry: [ObjectCreated] = []
            var givenBack = false
            for object in objects {
                switch await process(object, message: message, split: split, log: log) {
                case .done, .deadLettered: break
                case .retryLater: retry.append(object)
                case .givenBack: givenBack = true
                }
            }
            if givenBack {
                // Shutting down: make the message visible now so another worker takes it at once.
                // Records already loaded are recognised as duplicates when it comes back.
                let log = log
                await uncancelled { await self.changeVisibility(message, to: .zero, log: log) }
            } else if retry.isEmpty {
                await acknowledge(message, log: log)
            } else if !split {
                await giveBack(message, log: log)
            } else {
                await requeue(retry, of: message, log: log)
            }
        }
    }
}
