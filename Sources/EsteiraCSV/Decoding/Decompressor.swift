internal import CZlib

/// How a byte stream is compressed, told by its first bytes rather than by its file name: partners
/// send `.csv` files that are gzip and `.gz` files that are not.
public enum CSVCompression: String, Sendable, Hashable, Codable {
    case none, gzip, zlib

    /// Reads the magic bytes: `1F 8B` is gzip; `78 01|5E|9C|DA` is a zlib header (checked strictly,
    /// since `x` can start a CSV file). Needs two bytes; fewer means `.none`.
    public static func detect(_ prefix: UnsafeRawBufferPointer) -> CSVCompression {
        guard prefix.count >= 2 else { return .none }
        if prefix[0] == 0x1F && prefix[1] == 0x8B { return .gzip }
        if prefix[0] == 0x78 && [0x01, 0x5E, 0x9C, 0xDA].contains(prefix[1]) { return .zlib }
        return .none
    }
}

/// Bounds that stop a decompression bomb (a few kilobytes that inflate to terabytes) before it fills the
/// disk-less worker's memory or keeps it busy for hours.
public struct DecompressionLimits: Sendable, Hashable {
    /// Total bytes the stream may inflate to.
    public var maxOutputBytes: Int64
    /// Output bytes per input byte. Real CSV compresses 4–20×, very repetitive files up to ~100×;
    /// deflate's own ceiling is about 1032×, which only crafted input reaches.
    public var maxRatio: Int
    /// The ratio is judged only past this much output, so a tiny, very regular file is not refused.
    public var ratioGraceBytes: Int64

    public init(maxOutputBytes: Int64 = 64 << 30, maxRatio: Int = 250, ratioGraceBytes: Int64 = 16 << 20) {
        precondition(maxOutputBytes > 0 && maxRatio > 0 && ratioGraceBytes >= 0, "DecompressionLimits must be positive")
        self.maxOutputBytes = maxOutputBytes
        self.maxRatio = maxRatio
        self.ratioGraceBytes = ratioGraceBytes
    }
}

/// Why a compressed stream could not be read; the file is refused as a whole.
public struct DecompressionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    /// The data may be sound but inflates past a `DecompressionLimits` bound (a bomb, or a file too big).
    public var isLimit: Bool
    public init(_ description: String, isLimit: Bool = false) {
        self.description = description
        self.isLimit = isLimit
    }
}

/// Streams gzip (one or more concatenated members) or zlib through zlib's inflate, in O(buffer)
/// memory: 32 KiB window plus a fixed output buffer, whatever the size of the file.
///
/// A class because zlib keeps a pointer back to its `z_stream`, which therefore must never move.
public final class Decompressor {
    public let format: CSVCompression
    public let limits: DecompressionLimits
    private let stream: UnsafeMutablePointer<z_stream>
    private let output: UnsafeMutablePointer<UInt8>
    private let outputCapacity: Int
    private var initialised = false
    private var memberEnded = false
    public private(set) var bytesIn: Int64 = 0
    public private(set) var bytesOut: Int64 = 0

    /// `format` must be `.gzip` or `.zlib`.
    public init(
        format: CSVCompression, limits: DecompressionLimits = DecompressionLimits(),
        outputBufferBytes: Int = 256 << 10
    ) {
        precondition(format != .none, "Decompressor needs a compressed format")
        self.format = format
        self.limits = limits
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        outputCapacity = outputBufferBytes
        output = .allocate(capacity: outputBufferBytes)
    }

    deinit {
        if initialised { inflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
        output.deallocate()
    }

    /// Inflates `input`, calling `sink` with each piece of output (valid only during the call).
    /// Throws `DecompressionError` for bad or oversized data, and whatever `sink` throws.
    public func decompress(
        _ input: UnsafeRawBufferPointer,
        _ sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        guard let base = input.baseAddress, input.count > 0 else { return }
        bytesIn += Int64(input.count)
        var offset = 0
        while offset < input.count {
            if !initialised || memberEnded {
                if memberEnded {
                    // Another gzip member may follow (pigz, `cat a.gz b.gz`); trailing zero padding
                    // from some tape-era tools is skipped rather than refused.
                    if input[offset] == 0 {
                        offset += 1
                        continue
                    }
                    inflateReset(stream)
                    memberEnded = false
                } else {
                    // 15 window bits, +32: zlib detects gzip or zlib headers itself.
                    let rc = esteira_inflate_init2(stream, 15 + 32)
                    guard rc == Z_OK else {
                        throw DecompressionError("zlib could not start (code \(rc)): out of memory?")
                    }
                    initialised = true
                }
            }
            stream.pointee.next_in = UnsafeMutablePointer(mutating: (base + offset).assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(min(input.count - offset, Int(UInt32.max)))
            let before = stream.pointee.avail_in
            try inflateAvailable(sink)
            offset += Int(before - stream.pointee.avail_in)
            if !memberEnded && stream.pointee.avail_in == 0 { break }
        }
    }

    /// Checks that the stream ended where a member ends; a cut download is an error, not a short file.
    public func finish() throws(DecompressionError) {
        guard initialised, !memberEnded else {
            if !initialised && bytesIn > 0 {
                throw DecompressionError("the \(format.rawValue) stream is empty or cut before its header")
            }
            return
        }
        throw DecompressionError(
            "the \(format.rawValue) stream is cut short after \(bytesIn) compressed bytes (\(bytesOut) inflated): the upload was probably incomplete; upload the file again"
        )
    }

    private func inflateAvailable(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        while true {
            stream.pointee.next_out = output
            stream.pointee.avail_out = UInt32(outputCapacity)
            let rc = inflate(stream, Z_NO_FLUSH)
            let produced = outputCapacity - Int(stream.pointee.avail_out)
            if produced > 0 {
                bytesOut += Int64(produced)
                try checkLimits()
                try sink(UnsafeRawBufferPointer(start: output, count: produced))
            }
            switch rc {
            case Z_STREAM_END:
                memberEnded = true
                return
            case Z_OK:
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 { return }
            case Z_BUF_ERROR:
                return  // needs more input
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "code \(rc)"
                throw DecompressionError(
                    "the \(format.rawValue) data is corrupt after \(bytesOut) inflated bytes (zlib: \(message)); check the file with `gzip -t`"
                )
            }
        }
    }

    private func checkLimits() throws {
        if bytesOut > limits.maxOutputBytes {
            throw DecompressionError(
                "the file inflates to more than \(limits.maxOutputBytes) bytes, the limit for one file; split it, or raise the limit if it is genuine",
                isLimit: true)
        }
        // A ratio limit so large that the product overflows is no limit.
        let (allowed, overflow) = bytesIn.multipliedReportingOverflow(by: Int64(limits.maxRatio))
        if bytesOut > limits.ratioGraceBytes && !overflow && bytesOut > allowed {
            throw DecompressionError(
                "the file inflates more than \(limits.maxRatio)× (\(bytesIn) compressed bytes gave \(bytesOut)), the limit on the ratio: refused as a likely decompression bomb; real CSV compresses far less",
                isLimit: true)
        }
    }
}
