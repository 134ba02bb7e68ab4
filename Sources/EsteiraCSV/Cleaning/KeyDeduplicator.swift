/// The set of keys seen so far in a file, as 128-bit hashes in a table with a hard size limit
/// (see `DedupeSettings` for the memory bound and what happens past it). A class: it owns raw memory.
final class KeyDeduplicator {
    enum Insertion { case new, duplicate, full }

    let maxKeys: Int
    private var slots: UnsafeMutablePointer<UInt64>
    /// Slots (pairs of words), a power of two; never more than half full.
    private var capacity: Int
    private(set) var count = 0

    init(maxKeys: Int) {
        self.maxKeys = maxKeys
        capacity = 4096  // 64 KiB
        slots = .allocate(capacity: capacity * 2)
        slots.initialize(repeating: 0, count: capacity * 2)
    }

    deinit { slots.deallocate() }

    /// Adds a key's hash; says whether it was new, seen before, or did not fit.
    func insert(_ hash: (UInt64, UInt64)) -> Insertion {
        // (0, 0) marks an empty slot, so no hash may be that.
        let h = (hash.0, hash.1 == 0 && hash.0 == 0 ? 1 : hash.1)
        var i = Int(truncatingIfNeeded: h.0) & (capacity - 1)
        while true {
            let a = slots[2 * i], b = slots[2 * i + 1]
            if a == 0 && b == 0 { break }
            if a == h.0 && b == h.1 { return .duplicate }
            i = (i + 1) & (capacity - 1)
        }
        guard count < maxKeys else { return .full }
        slots[2 * i] = h.0
        slots[2 * i + 1] = h.1
        count += 1
        if count * 2 > capacity { grow() }
        return .new
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

    /// Bytes held by the table now.
    var memoryBytes: Int { capacity * 16 }
}

/// A 128-bit hash of a key's values: two independent 64-bit lanes, each mixing 8 bytes at a time with a
/// 64×64→128-bit multiply (the wyhash construction). Not cryptographic: keys come from partners' files,
/// and a crafted collision only drops a row the crafter wrote, so speed and spread are what matter.
struct KeyHasher {
    private var a: UInt64 = 0x243F_6A88_85A3_08D3
    private var b: UInt64 = 0x1319_8A2E_0370_7344
    private static let k1: UInt64 = 0xA076_1D64_78BD_642F, k2: UInt64 = 0xE703_7ED1_A0B4_28DB
    private static let k3: UInt64 = 0x8EBC_6AF0_9C88_C6E3, k4: UInt64 = 0x5899_65CC_7537_4CC3

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
        guard var text = value else { word(0xFFFF_FFFF_FFFF_FFFF); return }
        text.withUTF8 { combine(UnsafeRawBufferPointer($0)) }
    }

    /// One value of the key as bytes; nil is NULL.
    mutating func combine(_ value: UnsafeRawBufferPointer?) {
        guard let bytes = value else { word(0xFFFF_FFFF_FFFF_FFFF); return }
        do {
            word(UInt64(bytes.count))
            var i = 0
            while i + 8 <= bytes.count {
                word(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count { tail |= UInt64(bytes[i]) << shift; shift += 8; i += 1 }
            word(tail)
        }
    }

    func finalize() -> (UInt64, UInt64) {
        (Self.mix(a ^ Self.k2, b ^ Self.k1), Self.mix(b ^ Self.k3, a &+ Self.k4))
    }
}
