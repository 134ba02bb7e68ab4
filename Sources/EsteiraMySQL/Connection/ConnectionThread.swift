internal import CMySQL
import Foundation

/// `mysql_library_init` is not thread-safe; a Swift global's initializer runs exactly once, under a lock,
/// the first time any connection thread touches it. The library is never ended: it lives as long as the
/// process.
private let mysqlLibraryInitResult: Int32 = esteira_mysql_library_init()

/// The OS thread that owns one `MYSQL*` for its whole life.
///
/// Connector/C calls block (network round trips, lock waits that can last minutes), so they must never run
/// on Swift's cooperative pool, which has only as many threads as cores. Instead each connection gets this
/// thread: it calls `mysql_thread_init`, opens the connection, then runs submitted jobs one at a time, in
/// order, until it is stopped; it closes the handle and calls `mysql_thread_end` on its way out. Async
/// callers submit a job that resumes their continuation, so a caller awaits without holding a pool thread.
///
/// `@unchecked Sendable`: every mutable field below is read and written only with `condition` locked.
final class ConnectionThread: @unchecked Sendable {
    /// A unit of work. Its argument is the session, or nil when the connection closed before the job ran.
    typealias Job = @Sendable (MySQLSession?) -> Void

    private enum Item {
        case job(Job)
        case stop
    }

    private let condition = NSCondition()
    private var items: [Item] = []
    private var accepting = true
    private var finished = false
    private var usable = true
    private var stopWaiters: [@Sendable () -> Void] = []

    private let name: String

    init(name: String) { self.name = name }

    /// Starts the thread. `open` runs first, on the thread, and returns whether the connection is up; if
    /// not, the thread cleans up and ends. Called once.
    func start(open: @escaping @Sendable (MySQLSession) -> Bool) {
        let thread = Thread { [self] in
            // Named from inside, through pthreads: Foundation's Thread.name races with start() on Linux,
            // and the thread would keep the name of the pool thread that created it.
            esteira_set_current_thread_name(self.name)
            self.main(open: open)
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Queues a job; false if the connection is closed or closing (the job will not run).
    func submit(_ job: @escaping Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard accepting else { return false }
        items.append(.job(job))
        condition.signal()
        return true
    }

    /// Asks the thread to finish the jobs already queued, close the connection and end; `done` runs once it
    /// has. Idempotent.
    func stop(_ done: @escaping @Sendable () -> Void) {
        condition.lock()
        if finished {
            condition.unlock()
            done()
            return
        }
        stopWaiters.append(done)
        if accepting {
            accepting = false
            items.append(.stop)
            condition.signal()
        }
        condition.unlock()
    }

    /// False once the connection is closed or has been lost.
    var isUsable: Bool {
        condition.lock()
        defer { condition.unlock() }
        return usable && accepting
    }

    private func main(open: @Sendable (MySQLSession) -> Bool) {
        _ = mysqlLibraryInitResult
        _ = mysql_thread_init()
        let session = MySQLSession()
        // Mark the connection unusable the moment the error funnel sees it lost, before the failing call's
        // caller is resumed and could ask.
        session.onBroken = { [self] in
            condition.lock()
            usable = false
            condition.unlock()
        }
        if open(session) {
            runJobs(session)
        }
        session.closeHandle()
        mysql_thread_end()

        condition.lock()
        finished = true
        accepting = false
        usable = false
        let leftovers = items
        items = []
        let waiters = stopWaiters
        stopWaiters = []
        condition.unlock()
        for case .job(let job) in leftovers { job(nil) }
        for waiter in waiters { waiter() }
    }

    private func runJobs(_ session: MySQLSession) {
        while true {
            condition.lock()
            while items.isEmpty { condition.wait() }
            let item = items.removeFirst()
            condition.unlock()

            switch item {
            case .stop:
                return
            case .job(let job):
                job(session)
            }
        }
    }
}
