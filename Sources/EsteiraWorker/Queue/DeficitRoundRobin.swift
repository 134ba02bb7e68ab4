/// Deficit round robin over a worker's member queues (one per tenant, plus the shared queue): decides how
/// many messages to ask each queue for, so that under load each member gets its weight's share of the
/// worker's slots whatever the others have waiting.
///
/// Pure decisions, no I/O: `plan` hands out free slots, `record` says what a receive brought back.
/// - A member's turn adds its weight (the quantum) to its deficit once; it is asked for at most its
///   deficit, and the pointer stays on it when the free slots ran out before its deficit did. A pass goes
///   round as often as the free slots last.
/// - A queue that brought back fewer than asked is empty: it loses its deficit (standard DRR), so a tenant
///   cannot save up turns while it has nothing to send.
/// - The total asked is never more than the free slots: nothing is received only to be given back.
public struct DeficitRoundRobin: Sendable, Equatable {
    public let weights: [Int]
    public private(set) var deficits: [Int]
    /// The member whose turn it is.
    public private(set) var current = 0
    /// The current member's quantum was already added for this turn.
    private var turnOpen = false

    /// One member and how many messages to ask it for.
    public struct Ask: Sendable, Equatable {
        public var member: Int
        public var count: Int
    }

    public init(weights: [Int]) {
        precondition(!weights.isEmpty && weights.allSatisfy { $0 >= 1 }, "weights are at least 1")
        self.weights = weights
        self.deficits = Array(repeating: 0, count: weights.count)
    }

    /// Hands out up to `budget` slots, going round the members as often as the slots last, skipping `busy`
    /// members (a receive on them is still in flight) and asking one member for at most `maxAsk` in all
    /// (SQS's 10 a request). The asks are charged to the members' deficits at once; one ask per member.
    public mutating func plan(budget: Int, busy: Set<Int> = [], maxAsk: Int = 10) -> [Ask] {
        let cap = max(1, maxAsk)
        var remaining = budget
        var asked: [Int: Int] = [:]
        var order: [Int] = []
        // Members passed over in a row (busy, or asked for a whole request already): all of them, stop.
        var passedOver = 0
        while remaining > 0 && passedOver < weights.count {
            let i = current
            if busy.contains(i) || asked[i, default: 0] >= cap {
                // Its turn passes; what it saved stays only if it was not emptied (`record` decides).
                advance()
                passedOver += 1
                continue
            }
            passedOver = 0
            if !turnOpen {
                deficits[i] += weights[i]
                turnOpen = true
            }
            let n = min(deficits[i], remaining, cap - asked[i, default: 0])
            if asked[i] == nil { order.append(i) }
            asked[i, default: 0] += n
            deficits[i] -= n
            remaining -= n
            if deficits[i] == 0 {
                advance()
            } else if asked[i, default: 0] >= cap {
                // One request's worth this pass: the turn passes, keeping at most one quantum for later.
                deficits[i] = min(deficits[i], weights[i])
                advance()
            }
            // Otherwise the slots ran out first: the member keeps its turn for the next pass.
        }
        return order.map { Ask(member: $0, count: asked[$0, default: 0]) }
    }

    /// What a receive on `member` for `asked` messages brought back: fewer means the queue is empty now,
    /// and an empty queue loses its deficit (and its turn, if it had it).
    public mutating func record(member: Int, asked: Int, got: Int) {
        guard got < asked, deficits.indices.contains(member) else { return }
        deficits[member] = 0
        if current == member && turnOpen { advance() }
    }

    private mutating func advance() {
        turnOpen = false
        current = (current + 1) % weights.count
    }
}
