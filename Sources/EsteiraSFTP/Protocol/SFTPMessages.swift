import NIOCore

/// SFTP protocol version 3 (draft-ietf-secsh-filexfer-02), the version OpenSSH's `sftp` speaks and
/// every other client falls back to. Numbers are the draft's; names drop the `SSH_FXP_` prefix.
public enum SFTPPacketType: UInt8, Sendable {
    case initialize = 1
    case version = 2
    case open = 3
    case close = 4
    case read = 5
    case write = 6
    case lstat = 7
    case fstat = 8
    case setstat = 9
    case fsetstat = 10
    case opendir = 11
    case readdir = 12
    case remove = 13
    case mkdir = 14
    case rmdir = 15
    case realpath = 16
    case stat = 17
    case rename = 18
    case readlink = 19
    case symlink = 20
    case status = 101
    case handle = 102
    case data = 103
    case name = 104
    case attrs = 105
    case extended = 200
    case extendedReply = 201
}

/// `SSH_FX_*` status codes. Version 3 has only these nine; the message text carries the detail.
public struct SFTPStatusCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let ok = SFTPStatusCode(rawValue: 0)
    public static let eof = SFTPStatusCode(rawValue: 1)
    public static let noSuchFile = SFTPStatusCode(rawValue: 2)
    public static let permissionDenied = SFTPStatusCode(rawValue: 3)
    public static let failure = SFTPStatusCode(rawValue: 4)
    public static let badMessage = SFTPStatusCode(rawValue: 5)
    public static let noConnection = SFTPStatusCode(rawValue: 6)
    public static let connectionLost = SFTPStatusCode(rawValue: 7)
    public static let operationUnsupported = SFTPStatusCode(rawValue: 8)

    public var description: String {
        switch self {
        case .ok: "OK"
        case .eof: "EOF"
        case .noSuchFile: "NO_SUCH_FILE"
        case .permissionDenied: "PERMISSION_DENIED"
        case .failure: "FAILURE"
        case .badMessage: "BAD_MESSAGE"
        case .noConnection: "NO_CONNECTION"
        case .connectionLost: "CONNECTION_LOST"
        case .operationUnsupported: "OP_UNSUPPORTED"
        default: "status \(rawValue)"
        }
    }
}

/// `SSH_FXF_*` flags of OPEN.
public struct SFTPOpenFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let read = SFTPOpenFlags(rawValue: 0x01)
    public static let write = SFTPOpenFlags(rawValue: 0x02)
    public static let append = SFTPOpenFlags(rawValue: 0x04)
    public static let create = SFTPOpenFlags(rawValue: 0x08)
    public static let truncate = SFTPOpenFlags(rawValue: 0x10)
    public static let exclusive = SFTPOpenFlags(rawValue: 0x20)
}

/// File attributes (`ATTRS`); every field is optional on the wire, flagged by its presence.
public struct SFTPAttributes: Hashable, Sendable {
    public var size: UInt64?
    public var uid: UInt32?
    public var gid: UInt32?
    /// POSIX mode bits including the file type (0o100000 regular file, 0o040000 directory).
    public var permissions: UInt32?
    public var accessTime: UInt32?
    public var modificationTime: UInt32?
    public var extended: [SFTPExtensionPair] = []

    public init(
        size: UInt64? = nil, uid: UInt32? = nil, gid: UInt32? = nil, permissions: UInt32? = nil,
        accessTime: UInt32? = nil, modificationTime: UInt32? = nil
    ) {
        self.size = size
        self.uid = uid
        self.gid = gid
        self.permissions = permissions
        self.accessTime = accessTime
        self.modificationTime = modificationTime
    }

    public static let empty = SFTPAttributes()

    public static let regularFileType: UInt32 = 0o100000
    public static let directoryType: UInt32 = 0o040000

    public var isDirectory: Bool { (permissions ?? 0) & 0o170000 == Self.directoryType }

    enum Flag {
        static let size: UInt32 = 0x01
        static let uidgid: UInt32 = 0x02
        static let permissions: UInt32 = 0x04
        static let acmodtime: UInt32 = 0x08
        static let extended: UInt32 = 0x8000_0000
    }
}

public struct SFTPExtensionPair: Hashable, Sendable {
    public var name: String
    public var data: String
    public init(name: String, data: String) {
        self.name = name
        self.data = data
    }
}

/// One entry of a NAME reply (READDIR, REALPATH).
public struct SFTPNameEntry: Hashable, Sendable {
    public var filename: String
    /// What `ls -l` prints for the entry; clients show it verbatim in version 3.
    public var longname: String
    public var attributes: SFTPAttributes

    public init(filename: String, longname: String, attributes: SFTPAttributes) {
        self.filename = filename
        self.longname = longname
        self.attributes = attributes
    }
}

/// A request from the client, decoded. Paths and handles are text: a path that is not UTF-8 decodes
/// with U+FFFD in it, which the path rules then refuse by name.
public enum SFTPRequest: Hashable, Sendable {
    case initialize(version: UInt32)
    case open(id: UInt32, path: String, flags: SFTPOpenFlags, attributes: SFTPAttributes)
    case close(id: UInt32, handle: String)
    case read(id: UInt32, handle: String, offset: UInt64, length: UInt32)
    case write(id: UInt32, handle: String, offset: UInt64, data: ByteBuffer)
    case lstat(id: UInt32, path: String)
    case fstat(id: UInt32, handle: String)
    case setstat(id: UInt32, path: String, attributes: SFTPAttributes)
    case fsetstat(id: UInt32, handle: String, attributes: SFTPAttributes)
    case opendir(id: UInt32, path: String)
    case readdir(id: UInt32, handle: String)
    case remove(id: UInt32, path: String)
    case mkdir(id: UInt32, path: String, attributes: SFTPAttributes)
    case rmdir(id: UInt32, path: String)
    case realpath(id: UInt32, path: String)
    case stat(id: UInt32, path: String)
    case rename(id: UInt32, from: String, to: String)
    case readlink(id: UInt32, path: String)
    case symlink(id: UInt32, linkPath: String, targetPath: String)
    case extended(id: UInt32, name: String)
    /// A request type this version does not define; answered OP_UNSUPPORTED when it carries an id.
    case unknown(type: UInt8, id: UInt32?)

    /// The request id every reply must echo (INIT has none).
    public var id: UInt32? {
        switch self {
        case .initialize: nil
        case .open(let id, _, _, _), .close(let id, _), .read(let id, _, _, _), .write(let id, _, _, _),
            .lstat(let id, _), .fstat(let id, _), .setstat(let id, _, _), .fsetstat(let id, _, _),
            .opendir(let id, _), .readdir(let id, _), .remove(let id, _), .mkdir(let id, _, _),
            .rmdir(let id, _), .realpath(let id, _), .stat(let id, _), .rename(let id, _, _),
            .readlink(let id, _), .symlink(let id, _, _), .extended(let id, _):
            id
        case .unknown(_, let id): id
        }
    }

    /// The name logs and errors use for the operation.
    public var operation: String {
        switch self {
        case .initialize: "INIT"
        case .open: "OPEN"
        case .close: "CLOSE"
        case .read: "READ"
        case .write: "WRITE"
        case .lstat: "LSTAT"
        case .fstat: "FSTAT"
        case .setstat: "SETSTAT"
        case .fsetstat: "FSETSTAT"
        case .opendir: "OPENDIR"
        case .readdir: "READDIR"
        case .remove: "REMOVE"
        case .mkdir: "MKDIR"
        case .rmdir: "RMDIR"
        case .realpath: "REALPATH"
        case .stat: "STAT"
        case .rename: "RENAME"
        case .readlink: "READLINK"
        case .symlink: "SYMLINK"
        case .extended(_, let name): "EXTENDED \(name)"
        case .unknown(let type, _): "type \(type)"
        }
    }
}

/// A reply from the server.
public enum SFTPResponse: Hashable, Sendable {
    case version(UInt32, extensions: [SFTPExtensionPair])
    case status(id: UInt32, code: SFTPStatusCode, message: String)
    case handle(id: UInt32, handle: String)
    case data(id: UInt32, data: ByteBuffer)
    case name(id: UInt32, entries: [SFTPNameEntry])
    case attributes(id: UInt32, attributes: SFTPAttributes)
}
