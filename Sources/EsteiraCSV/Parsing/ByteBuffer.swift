/// A growable byte buffer that keeps its capacity when emptied, so the parser allocates only while
/// it meets ever longer records, then never again.
struct ByteBuffer: ~Copyable {
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var count = 0
    private var capacity = 0

    init() {}

    deinit { base?.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    mutating func removeAll() { count = 0 }

    mutating func truncate(to newCount: Int) { count = min(count, newCount) }

    mutating func reserve(_ extra: Int) {
        let needed = count + extra
        guard needed > capacity else { return }
        let newCapacity = max(needed, capacity * 2, 256)
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        if let base {
            newBase.copyMemory(from: base, byteCount: count)
            base.deallocate()
        }
        base = newBase
        capacity = newCapacity
    }

    mutating func append(_ source: UnsafeRawPointer, count extra: Int) {
        guard extra > 0 else { return }
        reserve(extra)
        (base.unsafelyUnwrapped + count).copyMemory(from: source, byteCount: extra)
        count += extra
    }

    /// Appends one byte; the caller has reserved room.
    @inline(__always)
    mutating func appendReserved(_ byte: UInt8) {
        base.unsafelyUnwrapped.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }
}
