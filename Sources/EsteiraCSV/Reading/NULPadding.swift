#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Drops the NUL bytes that pad lines: a run of NULs directly before a line break or at the end of the
/// input (fixed-width exports from mainframes and ERPs pad records with them; a preallocated file ends
/// in them). A line of NULs only becomes a blank line. A NUL anywhere else is data, and typing says
/// what it makes of it.
///
/// Streaming: a run of NULs at the end of a piece is held as a count (never as bytes) until the next
/// byte decides. Quotes are not looked at, so NULs before a line break inside a quoted field go too.
struct NULPadding {
    private var pending = 0
    private static let zeros = [UInt8](repeating: 0, count: 4096)

    /// Calls `emit` with `piece` minus padding, in order; held NULs that turn out to be data come first.
    mutating func filter(_ piece: UnsafeRawBufferPointer, _ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard let base = piece.baseAddress, piece.count > 0 else { return }
        let n = piece.count
        // The common case: no NUL in the piece and none held.
        if pending == 0 && memchr(base, 0, n) == nil { return try emit(piece) }
        var i = 0
        while i < n {
            if piece[i] == 0 {
                var end = i
                while end < n && piece[end] == 0 { end += 1 }
                pending += end - i
                i = end
                continue
            }
            if pending > 0 {
                if piece[i] != 0x0A && piece[i] != 0x0D { try flush(emit) }
                pending = 0
            }
            let end = memchr(base + i, 0, n - i).map { base.distance(to: UnsafeRawPointer($0)) } ?? n
            try emit(UnsafeRawBufferPointer(rebasing: piece[i..<end]))
            i = end
        }
    }

    /// Held NULs, as data: something other than a line break followed them.
    mutating func flush(_ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        while pending > 0 {
            let count = min(pending, Self.zeros.count)
            try Self.zeros.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            pending -= count
        }
    }

    /// The end of the input: held NULs were padding.
    mutating func finish() { pending = 0 }
}
