/// Load slots: the poller asks for only as many messages as it can start.
///
/// A file waiting for its database budget is *parked*: it gives its load slot back (so a budget of 1 on
/// one tenant's table cannot fill every slot with that tenant's waiting files), and takes one again once
/// it has its budget, ahead of any new work the receive loop would start. At most `maxParked` files are
/// parked at once; a file that finds the waiting room full waits in its load slot. So a worker holds at
/// most `capacity + maxParked` files.
actor SlotCounter {
    private let capacity: Int
    private let maxParked: Int
    /// Files holding a load slot (loading, or on their way to it).
    private(set) var running = 0
    /// Files waiting for their budget, holding no load slot.
    private(set) var parked = 0
    /// Receive loops waiting for a slot.
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// Parked files that got their budget and wait for a slot; served before the receive loop.
    private var resumers: [CheckedContinuation<Void, Never>] = []
    private var stopped = false

    /// - Parameter maxParked: files that may wait for budget at once (`--max-waiting`; default `capacity`).
    init(_ capacity: Int, maxParked: Int? = nil) {
        self.capacity = max(1, capacity)
        self.maxParked = max(0, maxParked ?? capacity)
    }

    /// Files in hand, loading or parked: the drain and `--until-idle` wait for all of them.
    var inFlight: Int { running + parked }

    /// Waits until at least one slot is free and no parked file wants it; returns how many are free (0 once
    /// `stopWaiting` was called).
    func waitForFree() async -> Int {
        while !canReceive && !stopped {
            await withCheckedContinuation { waiters.append($0) }
        }
        return stopped ? 0 : max(0, capacity - running)
    }

    private var canReceive: Bool { running < capacity && resumers.isEmpty }

    /// Shutdown: nobody waits for a slot any more.
    func stopWaiting() {
        stopped = true
        for w in waiters { w.resume() }
        waiters.removeAll()
    }

    func take() { running += 1 }

    func release() {
        running -= 1
        handOff()
    }

    /// A file starts waiting for its budget: its load slot goes back. False when `maxParked` files already
    /// wait: the file then keeps its slot while it waits.
    func park() -> Bool {
        guard parked < maxParked else { return false }
        running -= 1
        parked += 1
        handOff()
        return true
    }

    /// A parked file got its budget: takes a load slot back, waiting for one if all are busy (ahead of the
    /// receive loop).
    func unpark() async {
        if running < capacity && resumers.isEmpty {
            running += 1
            parked -= 1
            return
        }
        // `handOff` moves the file from parked to running before resuming it.
        await withCheckedContinuation { resumers.append($0) }
    }

    /// A parked file ends without loading (shutdown, lease lost): it leaves the waiting room and counts as
    /// running again until its task ends with `release` (for a moment a worker may hold one over capacity).
    func leaveParked() {
        parked -= 1
        running += 1
    }

    /// A freed slot goes to a parked file first; otherwise the receive loop is woken.
    private func handOff() {
        if running < capacity, !resumers.isEmpty {
            running += 1
            parked -= 1
            resumers.removeFirst().resume()
        }
        if canReceive, !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}
