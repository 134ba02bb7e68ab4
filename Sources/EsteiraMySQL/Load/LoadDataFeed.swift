import Foundation

/// Keeps one `LOAD DATA LOCAL INFILE` statement open across many batches: the connection's thread reads
/// the statement's "file" from here, and ``FileLoad/append(_:)-(LoadBatch)`` hands batches in, one at a time.
///
/// Why: a statement per batch leaves the server idle for a round trip and a statement start each time, and
/// costs about a third of the bulk path's speed with pipeline-sized batches; one statement for the whole
/// file (what the `mariadb` client does with a file) keeps the server busy while memory stays at two
/// batches: the one being read and the one the caller fills. (MySQL cannot stop reading a LOCAL file part
/// way, so a statement that has started always reads to the end; bad values are only warnings.)
///
/// The statement ends when the load is closed (commit, rollback), on an error, or when no batch has come
/// for ``idleSeconds`` — so a slow download never leaves the server waiting for its `net_read_timeout`;
/// the next batch then starts a new statement.
final class LoadDataFeed: @unchecked Sendable {
    /// How long a statement waits for the next batch before it ends (servers give up after their
    /// net_read_timeout, 30 s by default).
    static let idleSeconds = 2.0

    enum Offer {
        /// Taken; `startStatement` says no statement is reading, so the caller must start one.
        case accepted(startStatement: Bool)
        /// The previous batch is still being read: wait for room.
        case full
        /// The load is on the INSERT path and no batch is waiting here: send it that way.
        case useInserts
        case failed(any Error)
    }

    private let condition = NSCondition()
    /// The batch being read, from `offset`.
    private var slot: LoadBatch?
    private var offset = 0
    private var roomWaiters: [CheckedContinuation<Void, Never>] = []
    private var closed = false
    private var failure: (any Error)?
    /// A statement is reading (or queued to read) from this feed.
    private var statementOpen = false
    /// Rows read whole by the current statement.
    private var rowsInStatement = 0

    /// Hands `batch` to the statement, if the previous one has been read.
    func offer(_ batch: LoadBatch, onInsertPath: Bool) -> Offer {
        condition.lock()
        defer { condition.unlock() }
        if let failure { return .failed(failure) }
        if closed {
            return .failed(
                MySQLError(code: .loadNotOpen, message: "append after the load was closed", operation: "file load"))
        }
        guard slot == nil else { return .full }
        if onInsertPath && !statementOpen { return .useInserts }
        slot = batch
        offset = 0
        let start = !statementOpen
        statementOpen = true
        condition.broadcast()
        return .accepted(startStatement: start)
    }

    /// Returns once the batch being read has been read whole (or the feed failed or closed).
    func waitForRoom() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if slot == nil || failure != nil || closed {
                condition.unlock()
                continuation.resume()
            } else {
                roomWaiters.append(continuation)
                condition.unlock()
            }
        }
    }

    /// No more batches: the statement ends once it has read the last one.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// The statement failed: batches not yet read are dropped, and offers fail with `error`.
    func fail(_ error: any Error) {
        condition.lock()
        failure = failure ?? error
        slot = nil
        statementOpen = false
        let waiters = takeWaiters()
        condition.broadcast()
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }

    /// On the connection's thread, inside the statement: fills `buffer` from the batch, waiting for one if
    /// need be; 0 ends the statement.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        condition.lock()
        let deadline = Date(timeIntervalSinceNow: Self.idleSeconds)
        while slot == nil {
            if closed || failure != nil || !condition.wait(until: deadline) && slot == nil {
                statementOpen = false
                condition.unlock()
                return 0
            }
        }
        let batch = slot!
        let (count, finished): (Int, Bool) = batch.withLoadDataText { text in
            let count = min(buffer.count, text.count - offset)
            if count > 0 { buffer.baseAddress!.copyMemory(from: text.baseAddress! + offset, byteCount: count) }
            return (count, offset + count == text.count)
        }
        offset += count
        var waiters: [CheckedContinuation<Void, Never>] = []
        if finished {
            rowsInStatement += batch.count
            slot = nil
            offset = 0
            waiters = takeWaiters()
        }
        condition.unlock()
        for waiter in waiters { waiter.resume() }
        return count
    }

    /// After a statement: the rows it read, counted from zero again for the next one.
    func endStatement() -> Int {
        condition.lock()
        defer { condition.unlock() }
        let rows = rowsInStatement
        rowsInStatement = 0
        return rows
    }

    /// The server refused the statement before reading a byte: the batch waiting here, to be sent another
    /// way, and the feed is left without a statement.
    func takeRefused() -> LoadBatch? {
        condition.lock()
        let batch = slot
        slot = nil
        offset = 0
        rowsInStatement = 0
        statementOpen = false
        let waiters = takeWaiters()
        condition.unlock()
        for waiter in waiters { waiter.resume() }
        return batch
    }

    private func takeWaiters() -> [CheckedContinuation<Void, Never>] {
        defer { roomWaiters = [] }
        return roomWaiters
    }
}
