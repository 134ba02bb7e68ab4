import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The set of keys seen so far in a file, as 128-bit hashes, in bounded memory whatever the file's size
/// (see `DedupeSettings` for the design and docs/CSV.md for why). A class: it owns raw memory and files.
///
/// In memory: an open-addressing table of 16-byte slots, never more than half full, that doubles up to
/// its share of the budget. When it is full, its hashes are sorted in place, added to a blocked Bloom
/// filter, and handed to a `SpillWriter`, which writes them to an unlinked temporary file (a run) on its
/// own thread, never the caller's (the cooperative pool); a fresh table takes the next keys. Runs of
/// similar size are merged there too (the logarithmic method), so a file of n keys has at most
/// log₂(n / table) runs.
final class KeyDeduplicator {
    enum Insertion { case new, duplicate, full }

    let settings: DedupeSettings
    /// This file's hash seed, drawn from the system's random source: nobody can craft keys that collide.
    let seed: (UInt64, UInt64)
    private(set) var count = 0
    /// Slots visited in the in-memory table, over all inserts (tests check that probing stays short).
    private(set) var probes = 0
    /// Why the last insert returned `.full`.
    private(set) var fullReason: String?

    private var slots: UnsafeMutablePointer<UInt64>
    /// Slots (pairs of words), a power of two; never more than half full.
    private var capacity: Int
    private var tableCount = 0
    private let maxCapacity: Int

    private var bloom: BlockedBloom?
    private let bloomBytes: Int
    private var writer: SpillWriter?
    /// Runs handed to the writer.
    private(set) var spills = 0
    /// 16 KiB blocks read back to check a Bloom "maybe".
    private(set) var blockReads = 0

    init(settings: DedupeSettings, seed: (UInt64, UInt64)? = nil) {
        self.settings = settings
        if let seed {
            self.seed = seed
        } else {
            var random = SystemRandomNumberGenerator()
            self.seed = (random.next(), random.next())
        }
        // Up to two tables (the one filling, the one being written) take a third of the budget, a
        // sixteenth is left for run indexes and I/O buffers, the rest is the Bloom filter's.
        let budget = max(1 << 20, settings.maxMemoryBytes)
        var table = 1 << 12
        while table * 2 * 16 <= budget / 6 { table *= 2 }
        maxCapacity = table
        bloomBytes = max(64, (budget - 2 * table * 16 - budget / 16) / 64 * 64)
        capacity = min(4096, maxCapacity)  // 64 KiB to start
        slots = .allocate(capacity: capacity * 2)
        slots.initialize(repeating: 0, count: capacity * 2)
    }

    deinit { slots.deallocate() }

    /// A hasher with this file's seed.
    func hasher() -> KeyHasher { KeyHasher(seed: seed) }

    /// Adds a key's hash; says whether it was new, seen before, or did not fit (`fullReason` says why).
    func insert(_ hash: (UInt64, UInt64)) -> Insertion {
        // (0, 0) marks an empty slot, so no hash may be that.
        let h = (hash.0, hash.1 == 0 && hash.0 == 0 ? 1 : hash.1)
        var i = find(h)
        if i < 0 { return .duplicate }
        if let bloom, bloom.mayContain(h), let writer {
            switch writer.contains(Key128(high: h.0, low: h.1)) {
            case .success((true, let reads)):
                blockReads += reads
                return .duplicate
            case .success((false, let reads)):
                blockReads += reads
            case .failure(let error):
                fullReason = "reading its temporary dedupe file failed: \(error.message)"
                return .full
            }
        }
        if let maxKeys = settings.maxKeys, count >= maxKeys {
            fullReason = "the file has more than \(maxKeys) distinct keys, the route's dedupe.max_keys"
            return .full
        }
        if (tableCount + 1) * 2 > capacity {
            if capacity < maxCapacity {
                grow()
            } else if !spill() {
                return .full
            }
            i = find(h)
        }
        slots[2 * i] = h.0
        slots[2 * i + 1] = h.1
        tableCount += 1
        count += 1
        return .new
    }

    /// The empty slot where `h` would go, or -1 when the table holds it.
    @inline(__always)
    private func find(_ h: (UInt64, UInt64)) -> Int {
        var i = Int(truncatingIfNeeded: h.0) & (capacity - 1)
        while true {
            probes &+= 1
            let a = slots[2 * i]
            let b = slots[2 * i + 1]
            if a == 0 && b == 0 { return i }
            if a == h.0 && b == h.1 { return -1 }
            i = (i + 1) & (capacity - 1)
        }
    }

    private func grow() {
        let old = slots
        let oldCapacity = capacity
        capacity *= 2
        slots = .allocate(capacity: capacity * 2)
        slots.initialize(repeating: 0, count: capacity * 2)
        for j in 0..<oldCapacity where old[2 * j] != 0 || old[2 * j + 1] != 0 {
            var i = Int(truncatingIfNeeded: old[2 * j]) & (capacity - 1)
            while slots[2 * i] != 0 || slots[2 * i + 1] != 0 { i = (i + 1) & (capacity - 1) }
            slots[2 * i] = old[2 * j]
            slots[2 * i + 1] = old[2 * j + 1]
        }
        old.deallocate()
    }

    // MARK: - Spilling

    /// Hands the table to the writer as sorted keys and starts a fresh one; false (with `fullReason`)
    /// when the disk cap or an earlier write error forbids it.
    private func spill() -> Bool {
        if writer == nil {
            // Buffers for sequential run I/O: a 64th of the budget, 16 KiB to 256 KiB each (two at once).
            let io = min(256 << 10, max(16 << 10, settings.maxMemoryBytes / 64))
            writer = SpillWriter(directory: directory, maxDiskBytes: settings.maxDiskBytes, ioBytes: io)
        }
        guard let writer else { return false }
        // Reserves the disk first; waits (rarely) for the previous table to be written.
        if let refusal = writer.reserve(bytes: Int64(tableCount) * 16, keysSoFar: count) {
            fullReason = refusal
            return false
        }
        // Pack the keys to the front of the table and sort them there: no second buffer.
        var n = 0
        for j in 0..<capacity where slots[2 * j] != 0 || slots[2 * j + 1] != 0 {
            slots[2 * n] = slots[2 * j]
            slots[2 * n + 1] = slots[2 * j + 1]
            n += 1
        }
        slots.withMemoryRebound(to: Key128.self, capacity: n) { keys in
            var sorted = UnsafeMutableBufferPointer(start: keys, count: n)
            sorted.sort()
        }
        if bloom == nil { bloom = BlockedBloom(bytes: bloomBytes) }
        for k in 0..<n { bloom!.add((slots[2 * k], slots[2 * k + 1])) }
        // The writer owns the sorted buffer from here (and frees it); a new table takes the next keys.
        writer.write(sorted: slots, count: n)
        slots = .allocate(capacity: capacity * 2)
        slots.initialize(repeating: 0, count: capacity * 2)
        tableCount = 0
        spills += 1
        return true
    }

    private var directory: String {
        if let d = settings.tempDirectory, !d.isEmpty { return d }
        if let p = getenv("TMPDIR"), let d = String(validatingCString: p), !d.isEmpty { return d }
        return "/tmp"
    }

    /// Waits until the writer has written and merged everything handed to it (tests, benchmarks).
    func settle() { writer?.settle() }

    /// Bytes held in memory now: the table, the Bloom filter, a table being written, the runs' indexes.
    var memoryBytes: Int {
        capacity * 16 + (bloom?.byteCount ?? 0) + (writer?.memoryBytes ?? 0)
    }

    /// Runs on disk now, and the most temporary disk held at once.
    var runCount: Int { writer?.state.runs.count ?? 0 }
    var peakDiskBytes: Int64 { writer?.state.peakDiskBytes ?? 0 }
}

/// A buffer handed from the caller to the writer's queue.
private struct HandedBuffer: @unchecked Sendable {
    let keys: UnsafeMutablePointer<UInt64>
}

/// Writes sorted tables to runs and merges runs, on its own serial queue (file I/O never runs on the
/// caller's thread, which is the cooperative pool's). The caller reads the runs to check a key.
final class SpillWriter: @unchecked Sendable {
    // Safety: `shared` is only touched holding `mutex`; the queue runs one job at a time, and `idle`
    // lets at most one be queued or running.
    struct State {
        var runs: [SpillRun] = []
        /// The sorted table being written, readable until its run is published.
        var pending: (keys: UnsafeMutablePointer<UInt64>, count: Int)?
        var pendingBytes = 0
        var diskBytes: Int64 = 0
        var peakDiskBytes: Int64 = 0
        var failure: SpillError?
    }

    private let queue = DispatchQueue(label: "esteira.dedupe-spill")
    private let mutex = DispatchSemaphore(value: 1)
    private let idle = DispatchSemaphore(value: 1)
    private var shared = State()
    let directory: String
    let maxDiskBytes: Int64
    let ioBytes: Int

    init(directory: String, maxDiskBytes: Int64, ioBytes: Int) {
        self.directory = directory
        self.maxDiskBytes = maxDiskBytes
        self.ioBytes = ioBytes
    }

    var state: State {
        mutex.wait()
        defer { mutex.signal() }
        return shared
    }

    private func locked<R>(_ body: (inout State) -> R) -> R {
        mutex.wait()
        defer { mutex.signal() }
        return body(&shared)
    }

    /// Waits for the previous job, then reserves disk for a run of `bytes`; the refusal, or nil.
    func reserve(bytes: Int64, keysSoFar: Int) -> String? {
        idle.wait()
        let refusal: String? = locked { s in
            if let failure = s.failure {
                return "deduplicating its keys needs temporary disk, and writing it failed: \(failure.message)"
            }
            guard s.diskBytes + bytes <= maxDiskBytes else {
                return
                    "deduplicating its keys needs more than the route's dedupe.max_disk of \(maxDiskBytes) bytes of temporary disk (\(keysSoFar) distinct keys so far, 16 bytes each)"
            }
            s.diskBytes += bytes
            s.peakDiskBytes = max(s.peakDiskBytes, s.diskBytes)
            return nil
        }
        if refusal != nil { idle.signal() }
        return refusal
    }

    /// Writes `count` sorted keys (after a successful `reserve`) and frees `keys` when done.
    func write(sorted keys: UnsafeMutablePointer<UInt64>, count: Int) {
        locked {
            $0.pending = (keys, count)
            $0.pendingBytes = count * 16
        }
        // Safety: the caller handed the buffer over; only this job touches it (and readers under `mutex`).
        let handed = HandedBuffer(keys: keys)
        queue.async { [self] in
            let keys = handed.keys
            let result = keys.withMemoryRebound(to: Key128.self, capacity: count) { k in
                Result {
                    try SpillRun.write(
                        directory: directory, keys: UnsafeBufferPointer(start: k, count: count), ioBytes: ioBytes)
                }
            }
            locked { s in
                switch result {
                case .success(let run): s.runs.append(run)
                case .failure(let e): s.failure = e as? SpillError ?? SpillError(message: "\(e)")
                }
                s.pending = nil
                s.pendingBytes = 0
            }
            keys.deallocate()
            mergeRuns()
            idle.signal()
        }
    }

    /// Merges the newest runs while the newest is at least as large as the one before it: sizes then
    /// at least double from newest to oldest. A merge that would pass the disk cap is skipped.
    private func mergeRuns() {
        while true {
            let pair: (SpillRun, SpillRun)? = locked { s in
                guard s.runs.count >= 2 else { return nil }
                let newer = s.runs[s.runs.count - 1]
                let older = s.runs[s.runs.count - 2]
                guard newer.count >= older.count, s.diskBytes + newer.bytes + older.bytes <= maxDiskBytes else {
                    return nil
                }
                s.diskBytes += newer.bytes + older.bytes
                s.peakDiskBytes = max(s.peakDiskBytes, s.diskBytes)
                return (older, newer)
            }
            guard let (older, newer) = pair else { return }
            let merged = try? SpillRun.merge(older, newer, directory: directory, ioBytes: ioBytes)
            locked { s in
                if let merged {
                    s.runs.removeLast(2)
                    s.runs.append(merged)
                    s.diskBytes -= newer.bytes + older.bytes
                } else {
                    s.diskBytes -= newer.bytes + older.bytes
                }
            }
            if merged == nil { return }
        }
    }

    /// Whether the written runs or the table being written hold `key`, and how many blocks were read.
    func contains(_ key: Key128) -> Result<(Bool, Int), SpillError> {
        let found: Bool? = locked { s in
            guard let (keys, n) = s.pending else { return nil }
            return keys.withMemoryRebound(to: Key128.self, capacity: n) { k in
                var lo = 0
                var hi = n
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if k[mid] < key { lo = mid + 1 } else { hi = mid }
                }
                return lo < n && k[lo] == key
            }
        }
        if found == true { return .success((true, 0)) }
        var reads = 0
        for run in locked({ $0.runs }).reversed() {
            do {
                let (hit, r) = try run.contains(key)
                reads += r
                if hit { return .success((true, reads)) }
            } catch {
                return .failure(error as? SpillError ?? SpillError(message: "\(error)"))
            }
        }
        return .success((false, reads))
    }

    func settle() {
        idle.wait()
        idle.signal()
    }

    var memoryBytes: Int {
        locked { s in s.pendingBytes + s.runs.reduce(0) { $0 + $1.fences.count * 8 } + 2 * ioBytes }
    }
}

/// A 128-bit hash, ordered as a number (high word first): the order of a sorted run.
struct Key128: Comparable {
    var high: UInt64
    var low: UInt64
    static func < (a: Key128, b: Key128) -> Bool { a.high != b.high ? a.high < b.high : a.low < b.low }
}

/// A Bloom filter of 512-bit blocks: each key sets 7 bits in one block, so a lookup costs one cache line.
struct BlockedBloom {
    private let words: UnsafeMutablePointer<UInt64>
    private let blocks: UInt64
    let byteCount: Int
    private let owner: Owner

    private final class Owner {
        let words: UnsafeMutablePointer<UInt64>
        init(_ w: UnsafeMutablePointer<UInt64>) { words = w }
        deinit { words.deallocate() }
    }

    init(bytes: Int) {
        let blocks = max(1, bytes / 64)
        words = .allocate(capacity: blocks * 8)
        words.initialize(repeating: 0, count: blocks * 8)
        self.blocks = UInt64(blocks)
        byteCount = blocks * 64
        owner = Owner(words)
    }

    @inline(__always)
    private func block(_ h: (UInt64, UInt64)) -> Int {
        // The low word picks the block (range reduction by multiply), the high word the bits.
        Int(truncatingIfNeeded: h.1.multipliedFullWidth(by: blocks).high) * 8
    }

    func add(_ h: (UInt64, UInt64)) {
        let base = block(h)
        var bits = h.0
        for _ in 0..<7 {
            let bit = Int(bits & 511)
            words[base + bit >> 6] |= 1 << UInt64(bit & 63)
            bits >>= 9
        }
    }

    func mayContain(_ h: (UInt64, UInt64)) -> Bool {
        let base = block(h)
        var bits = h.0
        for _ in 0..<7 {
            let bit = Int(bits & 511)
            if words[base + bit >> 6] & (1 << UInt64(bit & 63)) == 0 { return false }
            bits >>= 9
        }
        return true
    }
}

/// A failed temporary-file operation, with the system's words for it.
struct SpillError: Error {
    let message: String
    static func system(_ what: String) -> SpillError {
        let code = errno
        let text = strerror(code).flatMap { String(validatingCString: $0) } ?? "error \(code)"
        return SpillError(message: "\(what): \(text)")
    }
    static func text(_ error: any Error) -> String { (error as? SpillError)?.message ?? "\(error)" }
}

/// write(2) until done; false on failure (errno says why).
private func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < raw.count {
        let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        offset += n
    }
    return true
}

/// Sorted 128-bit hashes in an unlinked temporary file, with the first hash of each 16 KiB block kept in
/// memory (8 bytes per 1,024 keys) to find the one block a key can be in.
final class SpillRun {
    static let keysPerBlock = 1024
    let fd: Int32
    let count: Int
    /// High word of the first key of each block.
    let fences: [UInt64]
    var bytes: Int64 { Int64(count) * 16 }

    private init(fd: Int32, count: Int, fences: [UInt64]) {
        self.fd = fd
        self.count = count
        self.fences = fences
    }

    deinit { close(fd) }

    /// A new temporary file, unlinked at once: it vanishes with its descriptor, even if the process dies.
    static func create(in directory: String) throws -> Int32 {
        var template = Array((directory + "/esteira-dedupe-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SpillError.system("cannot create a temporary file in \(directory)") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return fd
    }

    /// Writes sorted keys as a run.
    static func write(directory: String, keys: UnsafeBufferPointer<Key128>, ioBytes: Int) throws -> SpillRun {
        let fd = try create(in: directory)
        var writer = RunWriter(fd: fd, ioBytes: ioBytes)
        do {
            for key in keys { try writer.add(key) }
            try writer.flush()
        } catch {
            close(fd)
            throw error
        }
        return SpillRun(fd: fd, count: writer.written, fences: writer.fences)
    }

    /// One run holding the keys of both, in order (they share none: a key is only added when absent).
    static func merge(_ a: SpillRun, _ b: SpillRun, directory: String, ioBytes: Int) throws -> SpillRun {
        var ra = RunReader(run: a, ioBytes: ioBytes / 2)
        var rb = RunReader(run: b, ioBytes: ioBytes / 2)
        let fd = try create(in: directory)
        var writer = RunWriter(fd: fd, ioBytes: ioBytes)
        do {
            var x = try ra.next()
            var y = try rb.next()
            while let p = x, let q = y {
                if p < q {
                    try writer.add(p)
                    x = try ra.next()
                } else {
                    try writer.add(q)
                    y = try rb.next()
                }
            }
            while let p = x {
                try writer.add(p)
                x = try ra.next()
            }
            while let q = y {
                try writer.add(q)
                y = try rb.next()
            }
            try writer.flush()
        } catch {
            close(fd)
            throw error
        }
        return SpillRun(fd: fd, count: writer.written, fences: writer.fences)
    }

    /// Whether the run holds `key`, and how many blocks were read to know.
    func contains(_ key: Key128) throws -> (Bool, Int) {
        // Blocks whose first key is below `key`'s high word can end with it; those starting with the
        // same high word can hold it too (equal high words are rare but possible).
        var lo = 0
        var hi = fences.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if fences[mid] < key.high { lo = mid + 1 } else { hi = mid }
        }
        var block = max(0, lo - 1)
        var reads = 0
        var buffer = [Key128](repeating: Key128(high: 0, low: 0), count: Self.keysPerBlock)
        while block < fences.count && (block <= lo - 1 || fences[block] == key.high) {
            let first = block * Self.keysPerBlock
            let n = min(Self.keysPerBlock, count - first)
            let want = n * 16
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, off_t(first) * 16) }
            guard got == want else { throw SpillError.system("cannot read a temporary dedupe file") }
            reads += 1
            var l = 0
            var h = n
            while l < h {
                let m = (l + h) / 2
                if buffer[m] < key { l = m + 1 } else { h = m }
            }
            if l < n && buffer[l] == key { return (true, reads) }
            block += 1
        }
        return (false, reads)
    }

    /// Sequential writes through a buffer, collecting the block fences.
    struct RunWriter {
        let fd: Int32
        let ioBytes: Int
        var buffer: [Key128] = []
        var written = 0
        var fences: [UInt64] = []

        init(fd: Int32, ioBytes: Int) {
            self.fd = fd
            self.ioBytes = ioBytes
            buffer.reserveCapacity(ioBytes / 16)
        }

        mutating func add(_ key: Key128) throws {
            if written % SpillRun.keysPerBlock == 0 { fences.append(key.high) }
            buffer.append(key)
            written += 1
            if buffer.count * 16 >= ioBytes { try flush() }
        }

        mutating func flush() throws {
            let fd = self.fd
            let ok = buffer.withUnsafeBytes { writeAll(fd, $0) }
            guard ok else { throw SpillError.system("cannot write a temporary dedupe file") }
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Sequential reads of a run through a buffer.
    struct RunReader {
        let run: SpillRun
        let ioBytes: Int
        var buffer: [Key128] = []
        var index = 0
        var position = 0

        init(run: SpillRun, ioBytes: Int) {
            self.run = run
            self.ioBytes = ioBytes
        }

        mutating func next() throws -> Key128? {
            if index == buffer.count {
                let n = min(max(1, ioBytes / 16), run.count - position)
                if n <= 0 { return nil }
                buffer = [Key128](repeating: Key128(high: 0, low: 0), count: n)
                let offset = off_t(position) * 16
                let fd = run.fd
                let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, n * 16, offset) }
                guard got == n * 16 else { throw SpillError.system("cannot read a temporary dedupe file") }
                position += n
                index = 0
            }
            defer { index += 1 }
            return buffer[index]
        }
    }
}

/// A 128-bit hash of a key's values: two independent 64-bit lanes, each mixing 8 bytes at a time with a
/// 64×64→128-bit multiply (the wyhash construction). Not cryptographic: keys come from partners' files,
/// so the lanes start from a seed drawn at random for each file (`KeyDeduplicator.seed`). With a fixed
/// seed a crafted file could choose keys that all land in one probe chain and make the table quadratic.
struct KeyHasher {
    private var a: UInt64
    private var b: UInt64
    private static let k1: UInt64 = 0xA076_1D64_78BD_642F, k2: UInt64 = 0xE703_7ED1_A0B4_28DB
    private static let k3: UInt64 = 0x8EBC_6AF0_9C88_C6E3, k4: UInt64 = 0x5899_65CC_7537_4CC3
    /// The seed every file shared before seeds were drawn per file (kept for the hash-flooding test).
    static let fixedSeed: (UInt64, UInt64) = (0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344)

    init(seed: (UInt64, UInt64)) {
        a = seed.0
        b = seed.1
    }

    @inline(__always)
    private static func mix(_ x: UInt64, _ y: UInt64) -> UInt64 {
        let (high, low) = x.multipliedFullWidth(by: y)
        return high ^ low
    }

    @inline(__always)
    private mutating func word(_ w: UInt64) {
        a = Self.mix(a ^ w, Self.k1) &+ Self.k3
        b = Self.mix(b ^ (w &+ Self.k4), Self.k2) ^ (a >> 29)
    }

    /// One value of the key; its length goes in too, so ("ab","c") and ("a","bc") differ.
    mutating func combine(_ value: String?) {
        guard var text = value else {
            word(0xFFFF_FFFF_FFFF_FFFF)
            return
        }
        text.withUTF8 { combine(UnsafeRawBufferPointer($0)) }
    }

    /// One value of the key as bytes; nil is NULL.
    mutating func combine(_ value: UnsafeRawBufferPointer?) {
        guard let bytes = value else {
            word(0xFFFF_FFFF_FFFF_FFFF)
            return
        }
        do {
            word(UInt64(bytes.count))
            var i = 0
            while i + 8 <= bytes.count {
                word(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            word(tail)
        }
    }

    func finalize() -> (UInt64, UInt64) {
        (Self.mix(a ^ Self.k2, b ^ Self.k1), Self.mix(b ^ Self.k3, a &+ Self.k4))
    }
}
