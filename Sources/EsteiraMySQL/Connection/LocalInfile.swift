internal import CMySQL

/// LOAD DATA LOCAL INFILE lets the *server* name a client file to upload. With the option on, a hostile or
/// impersonated server could ask for `/etc/passwd`; so Esteira never lets Connector/C open files. Every
/// connection starts with a handler that refuses all requests, and ``MySQLSession/loadDataLocalInfile(_:streamName:read:)``
/// swaps in, for its one statement, a handler that serves a single named in-memory stream and refuses any
/// other name.
enum LocalInfile {
    static let refusal =
        "LOAD DATA LOCAL INFILE refused: Esteira uploads only its own streams, never files named by the server"

    /// The stream served during one LOAD DATA statement. Used only on the connection's thread.
    final class Stream {
        let name: String
        let read: (UnsafeMutableRawBufferPointer) throws -> Int
        var failure: (any Error)?
        var refusedName: String?
        var bytesSent: UInt64 = 0

        init(name: String, read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
            self.name = name
            self.read = read
        }
    }

    static func refuseServerFileRequests(_ handle: UnsafeMutablePointer<MYSQL>) {
        install(handle, userdata: nil)
    }

    /// Serves `stream` while `body` runs, then goes back to refusing.
    static func serving<T>(_ stream: Stream, on handle: UnsafeMutablePointer<MYSQL>, _ body: () -> T) -> T {
        let unmanaged = Unmanaged.passRetained(stream)
        install(handle, userdata: unmanaged.toOpaque())
        defer {
            refuseServerFileRequests(handle)
            unmanaged.release()
        }
        return body()
    }

    /// The callbacks are plain C functions; the stream (or nil: refuse everything) travels as userdata.
    private static func install(_ handle: UnsafeMutablePointer<MYSQL>, userdata: UnsafeMutableRawPointer?) {
        mysql_set_local_infile_handler(
            handle,
            { info, fileName, userdata in
                info?.pointee = userdata
                guard let userdata else { return 1 }
                let stream = Unmanaged<Stream>.fromOpaque(userdata).takeUnretainedValue()
                let requested = fileName.map { String(cString: $0) } ?? ""
                guard requested == stream.name else {
                    stream.refusedName = requested
                    return 1
                }
                return 0
            },
            { info, buffer, length in
                guard let info, let buffer else { return -1 }
                let stream = Unmanaged<Stream>.fromOpaque(info).takeUnretainedValue()
                do {
                    let count = try stream.read(UnsafeMutableRawBufferPointer(start: buffer, count: Int(length)))
                    guard count >= 0, count <= Int(length) else { return -1 }
                    stream.bytesSent += UInt64(count)
                    return Int32(count)
                } catch {
                    stream.failure = error
                    return -1
                }
            },
            { _ in },
            { info, buffer, length in
                var message = LocalInfile.refusal
                if let info {
                    let stream = Unmanaged<Stream>.fromOpaque(info).takeUnretainedValue()
                    if let failure = stream.failure {
                        message = "reading LOCAL INFILE stream '\(stream.name)' failed: \(failure)"
                    } else if let refused = stream.refusedName {
                        message = "LOAD DATA LOCAL INFILE refused for '\(refused)': only '\(stream.name)' is served"
                    }
                }
                if let buffer, length > 0 {
                    let bytes = Array(message.utf8.prefix(Int(length) - 1))
                    for (index, byte) in bytes.enumerated() { buffer[index] = CChar(bitPattern: byte) }
                    buffer[bytes.count] = 0
                }
                return 2000  // CR_UNKNOWN_ERROR; the message says why
            },
            userdata)
    }
}

/// What a LOAD DATA statement did.
public struct LoadDataResult: Sendable, Hashable {
    public let affectedRows: UInt64
    /// With LOCAL, MySQL treats data errors as if IGNORE were given: a bad value is stored converted (an
    /// integer column gets 0 for 'abc') and only counted here. A loader must treat warnings > 0 as failure.
    /// The count travels in a 2-byte field and stops at 65,535: compare it with zero, never with a count.
    public let warnings: UInt32
    public let bytesSent: UInt64
    /// Rows the server skipped because they duplicated a unique key (IGNORE, and LOCAL without IGNORE),
    /// or (IGNORE) for another reason such as a foreign key without its parent, from `mysql_info`'s
    /// "Records: … Skipped: …". Each skipped row also counts one warning; it is not capped, so it cannot
    /// be set against ``warnings``.
    public let skipped: UInt64
    /// Lines the server read from the stream ("Records:"), or nil if `mysql_info` did not say.
    public let records: UInt64?

    init(affectedRows: UInt64, warnings: UInt32, bytesSent: UInt64, info: String? = nil) {
        self.affectedRows = affectedRows
        self.warnings = warnings
        self.bytesSent = bytesSent
        self.skipped = info.flatMap { Self.number(after: "Skipped:", in: $0) } ?? 0
        self.records = info.flatMap { Self.number(after: "Records:", in: $0) }
    }

    /// `mysql_info` looks like "Records: 3  Deleted: 0  Skipped: 1  Warnings: 1".
    static func number(after label: String, in info: String) -> UInt64? {
        guard let range = info.range(of: label) else { return nil }
        let digits = info[range.upperBound...].drop(while: { $0 == " " }).prefix(while: \.isNumber)
        return UInt64(digits)
    }
}

/// Rows in the text format `LoadDataFormat.clause` declares: tab-separated, newline-terminated, backslash
/// escapes, `\N` for NULL. Pure: no I/O.
public enum LoadDataFormat {
    /// The `CHARACTER SET … FIELDS … LINES …` part of a LOAD DATA statement matching ``append(_:to:)``.
    public static let clause =
        "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"

    /// Appends one row, newline-terminated.
    public static func append(_ row: [String?], to out: inout [UInt8]) {
        for (index, value) in row.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "\t")) }
            guard let value else {
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "N"))
                continue
            }
            for byte in value.utf8 {
                switch byte {
                case 0x5C:
                    out.append(0x5C)
                    out.append(0x5C)
                case 0x09:
                    out.append(0x5C)
                    out.append(UInt8(ascii: "t"))
                case 0x0A:
                    out.append(0x5C)
                    out.append(UInt8(ascii: "n"))
                case 0x0D:
                    out.append(0x5C)
                    out.append(UInt8(ascii: "r"))
                case 0x00:
                    out.append(0x5C)
                    out.append(UInt8(ascii: "0"))
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\n"))
    }
}
