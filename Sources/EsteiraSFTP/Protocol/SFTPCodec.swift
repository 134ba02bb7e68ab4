import Foundation
import NIOCore

/// A packet that cannot be read. `id` is set when the request id was readable, so the client can be
/// answered BAD_MESSAGE for that request instead of losing the whole connection.
public struct SFTPProtocolError: Error, Hashable, CustomStringConvertible, Sendable {
    public var id: UInt32?
    public var message: String
    public init(id: UInt32? = nil, _ message: String) {
        self.id = id
        self.message = message
    }
    public var description: String { message }
}

/// The SFTP v3 wire format: `uint32 length | byte type | payload`, big-endian, strings as
/// `uint32 length | bytes`. Pure: no I/O, tested on its own.
public enum SFTPCodec {
    /// OpenSSH's own limit (SFTP_MAX_MSG_LENGTH): a WRITE of 32 KiB or 255 KiB fits, a runaway length does not.
    public static let maximumPacketLength = 256 * 1024 + 1024
    /// The longest reply (type and payload, without the length prefix) a client takes: OpenSSH's
    /// SFTP_MAX_MSG_LENGTH; its client aborts the session on a longer one.
    public static let maximumReplyLength = 256 * 1024
    /// The most bytes one DATA reply carries, as OpenSSH's own server (SFTP_MAX_READ_LENGTH).
    public static let maximumReadLength = maximumReplyLength - 1024
    /// A NAME reply's type, id and count.
    static let nameReplyOverhead = 1 + 4 + 4

    /// The bytes `entry` takes in a NAME reply.
    static func encodedLength(of entry: SFTPNameEntry) -> Int {
        var b = ByteBufferAllocator().buffer(capacity: 128)
        writeAttributes(&b, entry.attributes)
        return 4 + entry.filename.utf8.count + 4 + entry.longname.utf8.count + b.readableBytes
    }

    /// Splits one whole packet (type and payload, without the length prefix) off `buffer`, or returns
    /// nil when more bytes are needed. A length above the limit is an error: the stream cannot be resynchronised.
    public static func nextFrame(_ buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length >= 1, length <= maximumPacketLength else {
            throw SFTPProtocolError(
                "packet length \(length) is outside 1…\(maximumPacketLength) bytes; "
                    + "the client is not speaking SFTP version 3")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(length))
    }

    /// Decodes one frame from `nextFrame`.
    public static func decodeRequest(_ frame: ByteBuffer) throws -> SFTPRequest {
        var b = frame
        guard let rawType: UInt8 = b.readInteger() else { throw SFTPProtocolError("empty packet") }
        if rawType == SFTPPacketType.initialize.rawValue {
            // Extensions may follow the version; version 3 clients send none we need.
            guard let version: UInt32 = b.readInteger() else { throw SFTPProtocolError("INIT without a version") }
            return .initialize(version: version)
        }
        guard let id: UInt32 = b.readInteger() else {
            throw SFTPProtocolError("packet of type \(rawType) is too short to hold a request id")
        }
        guard let type = SFTPPacketType(rawValue: rawType) else { return .unknown(type: rawType, id: id) }
        var r = Reader(buffer: b, id: id, type: type)
        let request: SFTPRequest
        switch type {
        case .open:
            request = .open(
                id: id, path: try r.string(), flags: SFTPOpenFlags(rawValue: try r.uint32()),
                attributes: try r.attributes())
        case .close: request = .close(id: id, handle: try r.string())
        case .read: request = .read(id: id, handle: try r.string(), offset: try r.uint64(), length: try r.uint32())
        case .write: request = .write(id: id, handle: try r.string(), offset: try r.uint64(), data: try r.bytes())
        case .lstat: request = .lstat(id: id, path: try r.string())
        case .fstat: request = .fstat(id: id, handle: try r.string())
        case .setstat: request = .setstat(id: id, path: try r.string(), attributes: try r.attributes())
        case .fsetstat: request = .fsetstat(id: id, handle: try r.string(), attributes: try r.attributes())
        case .opendir: request = .opendir(id: id, path: try r.string())
        case .readdir: request = .readdir(id: id, handle: try r.string())
        case .remove: request = .remove(id: id, path: try r.string())
        case .mkdir:
            // Some clients omit the attributes of MKDIR altogether; treat that as "none".
            let path = try r.string()
            request = .mkdir(id: id, path: path, attributes: r.isAtEnd ? .empty : try r.attributes())
        case .rmdir: request = .rmdir(id: id, path: try r.string())
        case .realpath: request = .realpath(id: id, path: try r.string())
        case .stat: request = .stat(id: id, path: try r.string())
        case .rename: request = .rename(id: id, from: try r.string(), to: try r.string())
        case .readlink: request = .readlink(id: id, path: try r.string())
        case .symlink: request = .symlink(id: id, linkPath: try r.string(), targetPath: try r.string())
        case .extended: request = .extended(id: id, name: try r.string())
        case .initialize, .version, .status, .handle, .data, .name, .attrs, .extendedReply:
            // Server-to-client packets sent to the server.
            request = .unknown(type: rawType, id: id)
        }
        return request
    }

    /// Encodes a reply, length prefix included.
    public static func encode(_ response: SFTPResponse, allocator: ByteBufferAllocator = ByteBufferAllocator())
        -> ByteBuffer
    {
        var b = allocator.buffer(capacity: 64)
        b.writeInteger(UInt32(0))  // length, patched below
        switch response {
        case .version(let version, let extensions):
            b.writeInteger(SFTPPacketType.version.rawValue)
            b.writeInteger(version)
            for e in extensions {
                writeString(&b, e.name)
                writeString(&b, e.data)
            }
        case .status(let id, let code, let message):
            b.writeInteger(SFTPPacketType.status.rawValue)
            b.writeInteger(id)
            b.writeInteger(code.rawValue)
            writeString(&b, message)
            writeString(&b, "en")
        case .handle(let id, let handle):
            b.writeInteger(SFTPPacketType.handle.rawValue)
            b.writeInteger(id)
            writeString(&b, handle)
        case .data(let id, var data):
            b.reserveCapacity(minimumWritableBytes: data.readableBytes + 9)
            b.writeInteger(SFTPPacketType.data.rawValue)
            b.writeInteger(id)
            b.writeInteger(UInt32(data.readableBytes))
            b.writeBuffer(&data)
        case .name(let id, let entries):
            b.writeInteger(SFTPPacketType.name.rawValue)
            b.writeInteger(id)
            b.writeInteger(UInt32(entries.count))
            for e in entries {
                writeString(&b, e.filename)
                writeString(&b, e.longname)
                writeAttributes(&b, e.attributes)
            }
        case .attributes(let id, let attributes):
            b.writeInteger(SFTPPacketType.attrs.rawValue)
            b.writeInteger(id)
            writeAttributes(&b, attributes)
        }
        b.setInteger(UInt32(b.readableBytes - 4), at: b.readerIndex)
        return b
    }

    /// Encodes a request, length prefix included (for tests and the test client).
    public static func encode(_ request: SFTPRequest, allocator: ByteBufferAllocator = ByteBufferAllocator())
        -> ByteBuffer
    {
        var b = allocator.buffer(capacity: 64)
        b.writeInteger(UInt32(0))
        func head(_ type: SFTPPacketType, _ id: UInt32) {
            b.writeInteger(type.rawValue)
            b.writeInteger(id)
        }
        switch request {
        case .initialize(let version):
            b.writeInteger(SFTPPacketType.initialize.rawValue)
            b.writeInteger(version)
        case .open(let id, let path, let flags, let attributes):
            head(.open, id)
            writeString(&b, path)
            b.writeInteger(flags.rawValue)
            writeAttributes(&b, attributes)
        case .close(let id, let handle):
            head(.close, id)
            writeString(&b, handle)
        case .read(let id, let handle, let offset, let length):
            head(.read, id)
            writeString(&b, handle)
            b.writeInteger(offset)
            b.writeInteger(length)
        case .write(let id, let handle, let offset, var data):
            head(.write, id)
            writeString(&b, handle)
            b.writeInteger(offset)
            b.writeInteger(UInt32(data.readableBytes))
            b.writeBuffer(&data)
        case .lstat(let id, let path):
            head(.lstat, id)
            writeString(&b, path)
        case .fstat(let id, let handle):
            head(.fstat, id)
            writeString(&b, handle)
        case .setstat(let id, let path, let a):
            head(.setstat, id)
            writeString(&b, path)
            writeAttributes(&b, a)
        case .fsetstat(let id, let handle, let a):
            head(.fsetstat, id)
            writeString(&b, handle)
            writeAttributes(&b, a)
        case .opendir(let id, let path):
            head(.opendir, id)
            writeString(&b, path)
        case .readdir(let id, let handle):
            head(.readdir, id)
            writeString(&b, handle)
        case .remove(let id, let path):
            head(.remove, id)
            writeString(&b, path)
        case .mkdir(let id, let path, let a):
            head(.mkdir, id)
            writeString(&b, path)
            writeAttributes(&b, a)
        case .rmdir(let id, let path):
            head(.rmdir, id)
            writeString(&b, path)
        case .realpath(let id, let path):
            head(.realpath, id)
            writeString(&b, path)
        case .stat(let id, let path):
            head(.stat, id)
            writeString(&b, path)
        case .rename(let id, let from, let to):
            head(.rename, id)
            writeString(&b, from)
            writeString(&b, to)
        case .readlink(let id, let path):
            head(.readlink, id)
            writeString(&b, path)
        case .symlink(let id, let link, let target):
            head(.symlink, id)
            writeString(&b, link)
            writeString(&b, target)
        case .extended(let id, let name):
            head(.extended, id)
            writeString(&b, name)
        case .unknown(let type, let id):
            b.writeInteger(type)
            if let id { b.writeInteger(id) }
        }
        b.setInteger(UInt32(b.readableBytes - 4), at: b.readerIndex)
        return b
    }

    /// Decodes a reply frame (for tests and the test client).
    public static func decodeResponse(_ frame: ByteBuffer) throws -> SFTPResponse {
        var b = frame
        guard let rawType: UInt8 = b.readInteger(), let type = SFTPPacketType(rawValue: rawType) else {
            throw SFTPProtocolError("unknown reply type")
        }
        if type == .version {
            guard let version: UInt32 = b.readInteger() else { throw SFTPProtocolError("VERSION without a version") }
            var r = Reader(buffer: b, id: nil, type: type)
            var extensions: [SFTPExtensionPair] = []
            while !r.isAtEnd { extensions.append(SFTPExtensionPair(name: try r.string(), data: try r.string())) }
            return .version(version, extensions: extensions)
        }
        guard let id: UInt32 = b.readInteger() else { throw SFTPProtocolError("reply without an id") }
        var r = Reader(buffer: b, id: id, type: type)
        switch type {
        case .status:
            let code = SFTPStatusCode(rawValue: try r.uint32())
            let message = r.isAtEnd ? "" : try r.string()
            return .status(id: id, code: code, message: message)
        case .handle: return .handle(id: id, handle: try r.string())
        case .data: return .data(id: id, data: try r.bytes())
        case .name:
            let count = try r.uint32()
            var entries: [SFTPNameEntry] = []
            for _ in 0..<count {
                entries.append(
                    SFTPNameEntry(filename: try r.string(), longname: try r.string(), attributes: try r.attributes()))
            }
            return .name(id: id, entries: entries)
        case .attrs: return .attributes(id: id, attributes: try r.attributes())
        default: throw SFTPProtocolError(id: id, "type \(rawType) is not a reply")
        }
    }

    static func writeString(_ b: inout ByteBuffer, _ s: String) {
        let start = b.writerIndex
        b.writeInteger(UInt32(0))
        let n = b.writeString(s)
        b.setInteger(UInt32(n), at: start)
    }

    static func writeAttributes(_ b: inout ByteBuffer, _ a: SFTPAttributes) {
        var flags: UInt32 = 0
        if a.size != nil { flags |= SFTPAttributes.Flag.size }
        if a.uid != nil, a.gid != nil { flags |= SFTPAttributes.Flag.uidgid }
        if a.permissions != nil { flags |= SFTPAttributes.Flag.permissions }
        if a.accessTime != nil || a.modificationTime != nil { flags |= SFTPAttributes.Flag.acmodtime }
        if !a.extended.isEmpty { flags |= SFTPAttributes.Flag.extended }
        b.writeInteger(flags)
        if let size = a.size { b.writeInteger(size) }
        if let uid = a.uid, let gid = a.gid {
            b.writeInteger(uid)
            b.writeInteger(gid)
        }
        if let p = a.permissions { b.writeInteger(p) }
        if a.accessTime != nil || a.modificationTime != nil {
            b.writeInteger(a.accessTime ?? a.modificationTime ?? 0)
            b.writeInteger(a.modificationTime ?? a.accessTime ?? 0)
        }
        if !a.extended.isEmpty {
            b.writeInteger(UInt32(a.extended.count))
            for e in a.extended {
                writeString(&b, e.name)
                writeString(&b, e.data)
            }
        }
    }

    /// Field reader that names the packet and field in its errors.
    struct Reader {
        var buffer: ByteBuffer
        let id: UInt32?
        let type: SFTPPacketType

        var isAtEnd: Bool { buffer.readableBytes == 0 }

        func truncated(_ what: String) -> SFTPProtocolError {
            SFTPProtocolError(id: id, "\(type) packet is truncated: \(what) is missing")
        }

        mutating func uint32() throws -> UInt32 {
            guard let v: UInt32 = buffer.readInteger() else { throw truncated("a 32-bit field") }
            return v
        }

        mutating func uint64() throws -> UInt64 {
            guard let v: UInt64 = buffer.readInteger() else { throw truncated("a 64-bit field") }
            return v
        }

        mutating func bytes() throws -> ByteBuffer {
            let n = try uint32()
            guard let slice = buffer.readSlice(length: Int(n)) else {
                throw truncated("\(n) bytes of a string (only \(buffer.readableBytes) left)")
            }
            return slice
        }

        mutating func string() throws -> String {
            let slice = try bytes()
            return String(decoding: slice.readableBytesView, as: UTF8.self)
        }

        mutating func attributes() throws -> SFTPAttributes {
            let flags = try uint32()
            var a = SFTPAttributes()
            if flags & SFTPAttributes.Flag.size != 0 { a.size = try uint64() }
            if flags & SFTPAttributes.Flag.uidgid != 0 {
                a.uid = try uint32()
                a.gid = try uint32()
            }
            if flags & SFTPAttributes.Flag.permissions != 0 { a.permissions = try uint32() }
            if flags & SFTPAttributes.Flag.acmodtime != 0 {
                a.accessTime = try uint32()
                a.modificationTime = try uint32()
            }
            if flags & SFTPAttributes.Flag.extended != 0 {
                let count = try uint32()
                guard count <= 1024 else {
                    throw SFTPProtocolError(id: id, "\(count) extended attributes is not plausible")
                }
                for _ in 0..<count { a.extended.append(SFTPExtensionPair(name: try string(), data: try string())) }
            }
            return a
        }
    }
}

/// `ls -l` text for a NAME entry, in the shape OpenSSH's server produces, since version 3 clients
/// print it verbatim.
public enum SFTPLongName {
    public static func format(name: String, attributes a: SFTPAttributes, owner: String) -> String {
        let mode = a.permissions ?? 0
        var perms = a.isDirectory ? "d" : "-"
        let bits: [(UInt32, Character)] = [
            (0o400, "r"), (0o200, "w"), (0o100, "x"), (0o040, "r"), (0o020, "w"),
            (0o010, "x"), (0o004, "r"), (0o002, "w"), (0o001, "x"),
        ]
        for (bit, c) in bits { perms.append(mode & bit != 0 ? c : "-") }
        let size = String(a.size ?? 0)
        let owner8 = owner.count > 8 ? String(owner.prefix(8)) : owner
        let pad = { (s: String, width: Int) in s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
        }
        let lpad = { (s: String, width: Int) in
            s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
        }
        return "\(perms)    1 \(pad(owner8, 8)) \(pad(owner8, 8)) \(lpad(size, 8)) \(date(a.modificationTime)) \(name)"
    }

    /// "Mon dd HH:MM" (UTC) like ls for recent files; the year is always shown instead of the time
    /// when the file is older than six months, also like ls.
    static func date(_ seconds: UInt32?, now: UInt32 = UInt32(clamping: Int(Date().timeIntervalSince1970))) -> String {
        guard let seconds else { return "            " }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let (y, m, d, hh, mm) = civil(Int64(seconds))
        let day = d < 10 ? " \(d)" : "\(d)"
        let recent = Int64(now) - Int64(seconds) < 182 * 86400 && Int64(seconds) <= Int64(now) + 86400
        let tail = recent ? format2(hh) + ":" + format2(mm) : " \(y)"
        return "\(months[m - 1]) \(day) \(tail)"
    }

    private static func format2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// Days-from-civil inverse (Howard Hinnant's algorithm): UTC calendar fields from Unix seconds.
    static func civil(_ t: Int64) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int) {
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let secs = t - days * 86400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (Int(y), Int(m), Int(d), Int(secs / 3600), Int(secs % 3600 / 60))
    }
}
