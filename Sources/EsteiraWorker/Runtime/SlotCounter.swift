/// Free job slots: the poller asks for only as many messages as it can start.
actor SlotCounter {
    private let capacity: Int
    private(set) var inFlight = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var stopped = false

    init(_ capacity: Int) { self.capacity = capacity }

    /// Waits until at least one slot is free; returns how many are (0 once `stopWaiting` was called).
    func waitForFree() async -> Int {
        while inFlight >= capacity && !stopped {
            await withCheckedContinuation { waiters.append($0) }
        }
        return stopped ? 0 : capacity - inFlight
    }

    /// Shutdown: nobody waits for a slot any more.
    func stopWaiting() {
        stopped = true
        for w in waiters { w.resume() }
        waiters.removeAll()
    }

    func take() { inFlight += 1 }

    func release() {
        inFlight -= 1
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}
