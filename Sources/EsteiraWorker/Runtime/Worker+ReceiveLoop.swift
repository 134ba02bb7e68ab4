import EsteiraAWS
import Foundation
import ServiceLifecycle

extension Worker {
    /// Runs until cancelled, or with `untilIdle` until the queue stays empty and nothing is in flight.
    ///
    /// On graceful shutdown (SIGTERM through a ServiceGroup) it stops receiving at once, lets the files in
    /// hand finish for up to `shutdownGrace`, then cancels them: each cancelled file is given back
    /// (lease released, message visible again) before the process exits.
    public func run() async throws {
        let slots = self.slots
        try await withThrowingDiscardingTaskGroup { group in
            var emptyPolls = 0
            var receiveFailures = 0
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                lastPoll.withLock { $0 = .now }
                // All slots busy: wait for one, but wake at once on SIGTERM to start the drain.
                let free = await withGracefulShutdownHandler {
                    await slots.waitForFree()
                } onGracefulShutdown: {
                    Task { await slots.stopWaiting() }
                }
                if Task.isShuttingDownGracefully || free == 0 { break }
                let messages: [SQSMessage]
                do {
                    // A long poll in progress is abandoned on SIGTERM; anything it had taken
                    // reappears after the visibility timeout, so nothing is lost.
                    guard
                        let received = try await cancelWhenGracefulShutdown({
                            try await self.queue.receive(
                                max: free, wait: self.settings.pollWait,
                                visibilityTimeout: self.settings.visibilityTimeout)
                        }) as [SQSMessage]?
                    else { break }
                    messages = received
                    receiveFailures = 0
                } catch is CancellationError {
                    break
                } catch let error as AWSError where error.isTransient {
                    receiveFailures += 1
                    let delay = settings.receiveBackoff.delay(afterAttempt: receiveFailures)
                    logger.warning(
                        "receive failed; backing off",
                        metadata: [
                            "error": "\(error)", "delay_s": "\(WholeSeconds.fractional(delay))",
                        ])
                    try await Task.sleep(for: delay)
                    continue
                }
                if messages.isEmpty {
                    metrics.received([])
                    if settings.untilIdle, await slots.inFlight == 0, await queueIsEmpty() {
                        emptyPolls += 1
                        if emptyPolls >= settings.idlePolls { break }
                    } else {
                        emptyPolls = 0
                    }
                    continue
                }
                emptyPolls = 0
                metrics.received(messages)
                for message in messages {
                    await slots.take()
                    metrics.inFlight.increment()
                    inHand.withLock { $0 += 1 }
                    group.addTask {
                        await self.handle(message)
                        self.metrics.inFlight.decrement()
                        self.inHand.withLock { $0 -= 1 }
                        await slots.release()
                    }
                }
            }
            if Task.isShuttingDownGracefully {
                await drain(slots, group: &group)
            }
        }
    }

    /// Nothing waiting and nothing hidden in flight (a file another worker holds, or one given back for later).
    private func queueIsEmpty() async -> Bool {
        (try? await queue.depth().isEmpty) ?? false
    }

    /// Waits for the files in hand, up to the grace period, then cancels the rest (they give themselves back).
    private func drain(_ slots: SlotCounter, group: inout ThrowingDiscardingTaskGroup<any Error>) async {
        let deadline = ContinuousClock.now + settings.shutdownGrace
        let inHand = await slots.inFlight
        logger.info(
            "shutting down: finishing files in hand",
            metadata: [
                "in_flight": "\(inHand)", "grace_s": "\(WholeSeconds.fractional(settings.shutdownGrace))",
            ])
        while await slots.inFlight > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: min(.milliseconds(100), settings.shutdownGrace / 4))
        }
        let left = await slots.inFlight
        if left > 0 {
            logger.warning("grace period over: giving back unfinished files", metadata: ["in_flight": "\(left)"])
            group.cancelAll()
        }
    }
}
