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

/// The bytes of one row being written: a Copyable view of a buffer its owner allocates and frees, so the
/// hot loop can keep it in a local (a class's stored property would cost a dynamic exclusivity check
/// per access).
struct RowBytes {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var count = 0
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 256)
        base = .allocate(byteCount: self.capacity, alignment: 16)
    }

    /// Frees the memory; the owner calls it once, from its deinit.
    func deallocate() { base.deallocate() }

    mutating func removeAll() { count = 0 }

    @inline(__always)
    mutating func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        let newCapacity = max(count + extra, capacity * 2)
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    mutating func appendReserved(_ byte: UInt8) {
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    /// Appends a field's bytes, copying short ones (most fields) with a few word moves instead of a
    /// call to memmove. Reads and writes only inside the field and the reserved room.
    @inline(__always)
    mutating func appendField(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0, n <= 16, let source = bytes.baseAddress else { return append(bytes) }
        reserve(n)
        let to = base + count
        if n >= 8 {
            // Two words that overlap when n < 16: together they cover every byte once or twice.
            to.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
            (to + (n - 8)).storeBytes(of: source.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self), as: UInt64.self)
        } else if n >= 4 {
            to.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
            (to + (n - 4)).storeBytes(of: source.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self), as: UInt32.self)
        } else {
            to.storeBytes(of: source.load(as: UInt8.self), as: UInt8.self)
            (to + (n >> 1)).storeBytes(of: source.load(fromByteOffset: n >> 1, as: UInt8.self), as: UInt8.self)
            (to + (n - 1)).storeBytes(of: source.load(fromByteOffset: n - 1, as: UInt8.self), as: UInt8.self)
        }
        count += n
    }

    mutating func append(byte: UInt8) {
        reserve(1)
        appendReserved(byte)
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// The decimal digits of `value`.
    mutating func append(decimal value: Int64) {
        reserve(20)
        if value < 0 { appendReserved(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var divisor: UInt64 = 1
        while magnitude / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            appendReserved(UInt8(0x30 + magnitude / divisor))
            magnitude %= divisor
            divisor /= 10
        }
    }
}
