import EsteiraAWS
import Foundation

/// Several queues received as one, by deficit round robin with per-tenant weights: one queue per tenant
/// (`<queue>-<tenant>`) and the shared queue (weight 1), so a tenant with thousands of files waiting takes
/// only its share of the worker's slots and another tenant's single file waits at most one round.
///
/// Each message is tagged with the member it came from (`SQSMessage.source`) and deleted or hidden on that
/// queue; new messages (a split message's records) and dead letters go to the shared queue and its DLQ.
///
/// Receiving never takes more than the caller's free slots, counting receives still in flight, so no
/// message is received only to be given back (every receive counts toward maxReceiveCount):
/// - Busy (some member had messages since every member last came back empty): each pass asks the members
///   the DRR planned with short polls (wait 0), all at once, and returns what they brought.
/// - Idle (every member came back empty since the last message): the members are long-polled at once for
///   one message each, for at most `idleWait` (5 s), and the first message returns at once. The other long
///   polls go on in the background, each holding one slot; what they bring is handed out by the next
///   `receive`. A message waits no longer than with one queue, and a tenant whose burst ends an idle spell
///   gets the whole worker within `idleWait`. An idle worker makes one request per member per `idleWait`.
///   When there are fewer free slots than members, each long poll is shortened so the members not polled
///   are reached within about `idleWait`.
public actor FairShareQueue: WorkQueue {
    /// One queue of the set.
    public struct Member: Sendable {
        /// The queue's name: the tag its messages carry.
        public var name: String
        /// The tenant whose queue it is; nil for the shared queue.
        public var tenant: String?
        public var weight: Int
        public var queue: any WorkQueue

        public init(name: String, tenant: String?, weight: Int, queue: any WorkQueue) {
            self.name = name
            self.tenant = tenant
            self.weight = max(1, weight)
            self.queue = queue
        }
    }

    public nonisolated let members: [Member]
    /// The shared queue: sends, dead letters and messages without a tag.
    nonisolated let shared: Int
    private nonisolated let byName: [String: Int]
    private var drr: DeficitRoundRobin
    /// Messages received by background polls, not yet handed out (never more than the free slots).
    private var buffer: [SQSMessage] = []
    /// Members with a receive in flight, and how many messages it asked for.
    private var inFlight: [Int: Int] = [:]
    /// Members that came back empty since the last message anywhere; all of them empty = idle.
    private var emptyMembers = Set<Int>()
    /// A `receive` was cancelled (the worker is stopping): what background polls bring is given back at once.
    private var closing = false
    /// A failed background receive, surfaced by the next `receive` that has nothing else to give.
    private var failure: (any Error)?
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter = 0
    /// Messages handed out per member (tests and metrics).
    public private(set) var handedOut: [Int]
    private let onReceived: (@Sendable (Member, Int) -> Void)?

    /// The longest an idle long poll lasts. The slot each outstanding poll holds is free again after at
    /// most this long, so a tenant whose burst ends an idle spell gets the whole worker within it.
    public nonisolated let idleWait: Duration

    /// `members` must include the shared queue, whose index is `shared`. `onReceived` is told how many
    /// messages each member's receives brought (the per-tenant metric). `idleWait` bounds the idle long
    /// polls (below the receive loop's `wait`).
    public init(
        members: [Member], shared: Int, idleWait: Duration = .seconds(5),
        onReceived: (@Sendable (Member, Int) -> Void)? = nil
    ) {
        precondition(members.indices.contains(shared), "the shared queue is one of the members")
        self.idleWait = idleWait
        self.members = members
        self.shared = shared
        self.byName = Dictionary(members.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.drr = DeficitRoundRobin(weights: members.map(\.weight))
        self.handedOut = Array(repeating: 0, count: members.count)
        self.onReceived = onReceived
    }

    /// The scheduler's state (tests).
    public var scheduler: DeficitRoundRobin { drr }

    /// Every member came back empty since the last message: long polls.
    private var idle: Bool { emptyMembers.count == members.count }

    public func receive(max: Int, wait: Duration, visibilityTimeout: Duration) async throws -> [SQSMessage] {
        guard max > 0 else { return [] }
        closing = false
        if !buffer.isEmpty { return take(max) }
        if let failure {
            self.failure = nil
            throw failure
        }
        let budget = max - inFlight.values.reduce(0, +)
        var started = Set<Int>()
        let long = idle
        if budget > 0 {
            // Idle, a long poll only has to notice that its queue has work: one message each, so the polls
            // still out when a burst arrives hold one slot each, not the slots the busy member needs.
            let asks = drr.plan(budget: budget, busy: Set(inFlight.keys), maxAsk: long ? 1 : 10)
            let free = members.count - inFlight.count
            // Fewer members long-polled than are free: shorter polls, so every member is reached in about `wait`.
            let rounds = asks.isEmpty ? 1 : (free + asks.count - 1) / asks.count
            let longest = Swift.min(wait, idleWait)
            let pollWait: Duration =
                long ? Swift.max(Swift.min(.seconds(1), longest), longest / Swift.max(1, rounds)) : .zero
            for ask in asks {
                started.insert(ask.member)
                inFlight[ask.member] = ask.count
                let member = members[ask.member]
                let index = ask.member
                Task {
                    let result: Result<[SQSMessage], any Error>
                    do {
                        result = .success(
                            try await member.queue.receive(
                                max: ask.count, wait: pollWait, visibilityTimeout: visibilityTimeout))
                    } catch {
                        result = .failure(error)
                    }
                    self.finished(index, asked: ask.count, result: result)
                }
            }
        }
        // Short receives: until all of them are back (a round trip), so each member's turn is settled before
        // the next plan. Long polls: until the first message, or every one this call started is back (or,
        // having started none, any).
        while true {
            let mineBack = started.allSatisfy { inFlight[$0] == nil }
            if started.isEmpty ? (!buffer.isEmpty || inFlight.isEmpty) : (mineBack || (long && !buffer.isEmpty)) {
                break
            }
            if Task.isCancelled {
                giveBackHeld()
                throw CancellationError()
            }
            await nextDelivery()
            if started.isEmpty { break }
        }
        if buffer.isEmpty, let failure {
            self.failure = nil
            throw failure
        }
        return take(max)
    }

    /// Stopping: messages held for the next `receive`, and those long polls still out bring, are made visible
    /// again at once, so another worker takes them now rather than after the visibility timeout.
    private func giveBackHeld() {
        closing = true
        let held = buffer
        buffer.removeAll()
        giveBack(held)
    }

    private func giveBack(_ messages: [SQSMessage]) {
        for m in messages {
            let queue = member(of: m).queue
            Task { try? await queue.changeVisibility(m, to: .zero) }
        }
    }

    private func take(_ max: Int) -> [SQSMessage] {
        let n = Swift.min(max, buffer.count)
        let out = Array(buffer.prefix(n))
        buffer.removeFirst(n)
        for m in out { if let i = m.source.flatMap({ byName[$0] }) { handedOut[i] += 1 } }
        return out
    }

    private func finished(_ index: Int, asked: Int, result: Result<[SQSMessage], any Error>) {
        inFlight[index] = nil
        switch result {
        case .success(let messages):
            drr.record(member: index, asked: asked, got: messages.count)
            if messages.isEmpty {
                emptyMembers.insert(index)
            } else {
                emptyMembers.removeAll()
                let name = members[index].name
                let tagged = messages.map { m in
                    var m = m
                    m.source = name
                    return m
                }
                if closing { giveBack(tagged) } else { buffer += tagged }
            }
            onReceived?(members[index], messages.count)
        case .failure(let error):
            failure = error
        }
        for (_, w) in waiters { w.resume() }
        waiters.removeAll()
    }

    /// Waits for the next receive to come back (or the task to be cancelled).
    private func nextDelivery() async {
        nextWaiter += 1
        let id = nextWaiter
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                if Task.isCancelled { c.resume() } else { waiters[id] = c }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: Int) {
        waiters.removeValue(forKey: id)?.resume()
    }

    nonisolated func member(of message: SQSMessage) -> Member {
        members[message.source.flatMap { byName[$0] } ?? shared]
    }

    public nonisolated func delete(_ message: SQSMessage) async throws {
        try await member(of: message).queue.delete(message)
    }

    public nonisolated func changeVisibility(_ message: SQSMessage, to timeout: Duration) async throws {
        try await member(of: message).queue.changeVisibility(message, to: timeout)
    }

    public nonisolated func send(body: String, delay: Duration) async throws {
        try await members[shared].queue.send(body: body, delay: delay)
    }

    public nonisolated func sendToDeadLetter(body: String, attributes: DeadLetterAttributes) async throws {
        try await members[shared].queue.sendToDeadLetter(body: body, attributes: attributes)
    }

    /// All members' counts added up (the `--until-idle` check: idle only when every queue is).
    public nonisolated func depth() async throws -> QueueDepth {
        try await withThrowingTaskGroup(of: QueueDepth.self) { group in
            for m in members { group.addTask { try await m.queue.depth() } }
            var total = QueueDepth(waiting: 0, inFlight: 0, delayed: 0)
            for try await d in group {
                total.waiting += d.waiting
                total.inFlight += d.inFlight
                total.delayed += d.delayed
            }
            return total
        }
    }
}

/// A tenant's queue that `esteira setup --routes` did not create.
public struct MissingTenantQueue: Error, CustomStringConvertible, Sendable {
    public var queue: String
    public var tenant: String
    public var description: String {
        "queue '\(queue)' of tenant '\(tenant)' does not exist: the routes file asks for fair_share queues: per_tenant; run `esteira setup --routes <routes file>` to create the tenants' queues and their notifications"
    }
}

extension FairShareQueue {
    /// `shared` (the queue named `queueName`, already connected by the caller) and one queue per tenant
    /// (`<queueName>-<tenant>`, names checked by the caller), each looked up once; a tenant's queue that does not exist fails with `MissingTenantQueue`. Each member's
    /// receives count toward `esteira_received_files_total{tenant}` when `metrics` is given.
    public static func connect(
        sqs: SQSClient, shared: SQSWorkQueue, queueName: String,
        tenants: [(tenant: String, queue: String, weight: Int)], metrics: WorkerMetrics? = nil
    ) async throws -> FairShareQueue {
        var members = [Member(name: queueName, tenant: nil, weight: 1, queue: shared)]
        for t in tenants {
            let url: String
            do {
                url = try await sqs.getQueueURL(name: t.queue)
            } catch let e as AWSError where e.code == .queueDoesNotExist {
                throw MissingTenantQueue(queue: t.queue, tenant: t.tenant)
            }
            members.append(
                Member(
                    name: t.queue, tenant: t.tenant, weight: t.weight,
                    queue: SQSWorkQueue(sqs: sqs, queueURL: url, deadLetterURL: shared.deadLetterURL)))
        }
        let onReceived: (@Sendable (Member, Int) -> Void)? = metrics.map { m in
            { @Sendable member, n in m.receivedFrom(tenant: member.tenant, count: n) }
        }
        return FairShareQueue(members: members, shared: 0, onReceived: onReceived)
    }
}
