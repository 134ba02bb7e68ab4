import Crypto
import Foundation
import Logging
import NIOCore
import NIOSSH

#if canImport(Glibc)
    import Glibc
#endif

public struct HostKeyError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// One host key and how clients will see it.
public struct HostKey: Sendable {
    public var privateKey: NIOSSHPrivateKey
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`.
    public var type: String
    /// OpenSSH's `SHA256:…` form, what `ssh-keygen -lf` and a first-time client print.
    public var fingerprint: String
    public var path: String
}

/// Host keys in OpenSSH's own private key format, so keys made by `ssh-keygen -t ed25519 -N ''` (or
/// held in a Kubernetes Secret) work as they are, and keys this gateway makes work with OpenSSH tools.
///
/// The folder is read for `ssh_host_*_key` files; when it has none, an ed25519 and an ECDSA P-256
/// key are made (mode 0600 from their first byte) so the next start, and the clients' known_hosts, see
/// the same keys. A private key other users can read is refused, as sshd refuses it.
public enum HostKeys {
    public static func loadOrCreate(directory: String, logger: Logger) throws -> [HostKey] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if !fm.fileExists(atPath: directory, isDirectory: &isDir) {
            do {
                try fm.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw HostKeyError("cannot create the host key folder \(directory): \(error.localizedDescription)")
            }
        } else if !isDir.boolValue {
            throw HostKeyError("\(directory) is a file; --host-key-dir must name a folder")
        }
        let names = ((try? fm.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("ssh_host_") && $0.hasSuffix("_key") }.sorted()
        var keys: [HostKey] = []
        for name in names {
            let path = directory + "/" + name
            try checkPrivate(path)
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw HostKeyError("cannot read host key \(path): \(error.localizedDescription)")
            }
            if let key = try parse(text, path: path, logger: logger) { keys.append(key) }
        }
        if keys.isEmpty {
            if !names.isEmpty {
                throw HostKeyError(
                    "\(directory) has host keys but none this gateway can use; add one with "
                        + "`ssh-keygen -t ed25519 -N '' -f \(directory)/ssh_host_ed25519_key`")
            }
            for (name, key) in [
                ("ssh_host_ed25519_key", Generated.ed25519(Curve25519.Signing.PrivateKey())),
                ("ssh_host_ecdsa_key", Generated.p256(P256.Signing.PrivateKey())),
            ] {
                let path = directory + "/" + name
                if try write(key, path: path) {
                    logger.notice("host key generated", metadata: ["path": "\(path)"])
                }
                // Another replica sharing the folder may have made this one first: use what is there.
                try checkPrivate(path)
                keys.append(try parse(String(contentsOfFile: path, encoding: .utf8), path: path, logger: logger)!)
            }
        }
        return keys
    }

    /// sshd's rule ("UNPROTECTED PRIVATE KEY FILE"): a private key that users other than the gateway can
    /// read is refused. Bits for others always refuse; bits for the group refuse a file of our own user,
    /// as sshd does. A file of another owner that we read through its group is accepted: that is how a
    /// Kubernetes Secret mounted with `defaultMode: 0600` and the pod's `fsGroup` looks (root:fsGroup, 0640).
    static func checkPrivate(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw HostKeyError("cannot read host key \(path): \(String(cString: strerror(errno)))")
        }
        let mode = Int(info.st_mode) & 0o777
        let byOthers = mode & 0o007 != 0
        let byGroup = mode & 0o070 != 0 && info.st_uid == geteuid()
        guard byOthers || byGroup else { return }
        throw HostKeyError(
            "host key \(path) can be read by \(byOthers ? "other users" : "its group") (mode \(String(format: "%04o", mode))): "
                + "run `chmod 600 \(path)`. A private host key must be readable by the gateway alone; sshd refuses such keys too"
        )
    }

    enum Generated {
        case ed25519(Curve25519.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }

    /// SHA256:base64 (no padding) of the public key blob, as OpenSSH prints it.
    public static func fingerprint(_ key: NIOSSHPublicKey) -> String {
        let line = String(openSSHPublicKey: key)
        let fields = line.split(separator: " ")
        guard fields.count >= 2, let blob = Data(base64Encoded: String(fields[1])) else { return "?" }
        var b64 = Data(SHA256.hash(data: blob)).base64EncodedString()
        while b64.hasSuffix("=") { b64.removeLast() }
        return "SHA256:" + b64
    }

    // MARK: OpenSSH private key format (PROTOCOL.key)

    static let magic = Array("openssh-key-v1".utf8) + [0]
    static let begin = "-----BEGIN OPENSSH PRIVATE KEY-----"
    static let end = "-----END OPENSSH PRIVATE KEY-----"

    /// The key in `text`, or nil (with a warning) for a valid key of a type the gateway cannot serve.
    static func parse(_ text: String, path: String, logger: Logger) throws -> HostKey? {
        func bad(_ what: String) -> HostKeyError { HostKeyError("host key \(path): \(what)") }
        guard let s = text.range(of: begin), let e = text.range(of: end) else {
            throw bad(
                "not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----); convert it with `ssh-keygen -p -f \(path)`"
            )
        }
        let b64 = text[s.upperBound..<e.lowerBound].filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: String(b64)) else { throw bad("the base64 body is damaged") }
        var b = ByteBuffer(bytes: data)
        guard b.readBytes(length: magic.count) == magic else { throw bad("not in the openssh-key-v1 format") }
        let cipher = try string(&b, bad)
        let kdf = try string(&b, bad)
        _ = try blob(&b, bad)
        guard String(decoding: cipher, as: UTF8.self) == "none", String(decoding: kdf, as: UTF8.self) == "none" else {
            throw bad(
                "the key is protected by a passphrase; the gateway starts unattended, so remove it with "
                    + "`ssh-keygen -p -N '' -f \(path)` and protect the file by its permissions instead")
        }
        guard let count: UInt32 = b.readInteger(), count == 1 else { throw bad("holds more than one key") }
        _ = try blob(&b, bad)
        var priv = try blob(&b, bad)
        guard let c1: UInt32 = priv.readInteger(), let c2: UInt32 = priv.readInteger(), c1 == c2 else {
            throw bad("the private section's check numbers differ (damaged file)")
        }
        let type = String(decoding: try string(&priv, bad), as: UTF8.self)
        let key: NIOSSHPrivateKey
        switch type {
        case "ssh-ed25519":
            _ = try string(&priv, bad)
            let secret = try string(&priv, bad)
            guard secret.count == 64 else { throw bad("an ed25519 private key must be 64 bytes") }
            do {
                key = NIOSSHPrivateKey(
                    ed25519Key: try Curve25519.Signing.PrivateKey(rawRepresentation: secret.prefix(32)))
            } catch { throw bad("the ed25519 key is not valid: \(error)") }
        case "ecdsa-sha2-nistp256":
            _ = try string(&priv, bad)  // curve name
            _ = try string(&priv, bad)  // public point
            var scalar = try string(&priv, bad)
            while scalar.count > 32, scalar.first == 0 { scalar.removeFirst() }
            scalar = [UInt8](repeating: 0, count: max(0, 32 - scalar.count)) + scalar
            do {
                key = NIOSSHPrivateKey(p256Key: try P256.Signing.PrivateKey(rawRepresentation: scalar))
            } catch { throw bad("the ECDSA key is not valid: \(error)") }
        default:
            logger.warning(
                "host key skipped: this gateway serves ssh-ed25519 and ecdsa-sha2-nistp256 keys only",
                metadata: ["path": "\(path)", "type": "\(type)"])
            return nil
        }
        return HostKey(privateKey: key, type: type, fingerprint: fingerprint(key.publicKey), path: path)
    }

    /// Writes `key` as an unencrypted OpenSSH private key (mode 0600) and its `.pub` beside it; false, and
    /// nothing written, when a key of that name appeared meanwhile.
    @discardableResult
    static func write(_ key: Generated, path: String) throws -> Bool {
        var pub = ByteBuffer()
        var priv = ByteBuffer()
        let comment = "esteira-sftp"
        switch key {
        case .ed25519(let k):
            let p = Array(k.publicKey.rawRepresentation)
            putString(&pub, "ssh-ed25519")
            putBytes(&pub, p)
            let check = UInt32.random(in: 0...UInt32.max)
            priv.writeInteger(check)
            priv.writeInteger(check)
            putString(&priv, "ssh-ed25519")
            putBytes(&priv, p)
            putBytes(&priv, Array(k.rawRepresentation) + p)
        case .p256(let k):
            let q = Array(k.publicKey.x963Representation)
            putString(&pub, "ecdsa-sha2-nistp256")
            putString(&pub, "nistp256")
            putBytes(&pub, q)
            let check = UInt32.random(in: 0...UInt32.max)
            priv.writeInteger(check)
            priv.writeInteger(check)
            putString(&priv, "ecdsa-sha2-nistp256")
            putString(&priv, "nistp256")
            putBytes(&priv, q)
            var d = Array(k.rawRepresentation)
            if d.first.map({ $0 & 0x80 != 0 }) == true { d.insert(0, at: 0) }  // mpint: positive
            while d.count > 1, d[0] == 0, d[1] & 0x80 == 0 { d.removeFirst() }
            putBytes(&priv, d)
        }
        putString(&priv, comment)
        var pad: UInt8 = 1
        while priv.readableBytes % 8 != 0 {
            priv.writeInteger(pad)
            pad += 1
        }
        var out = ByteBuffer(bytes: magic)
        putString(&out, "none")
        putString(&out, "none")
        putBytes(&out, [])
        out.writeInteger(UInt32(1))
        putBytes(&out, Array(pub.readableBytesView))
        putBytes(&out, Array(priv.readableBytesView))
        let b64 = Data(out.readableBytesView).base64EncodedString()
        var lines = [begin]
        var rest = Substring(b64)
        while !rest.isEmpty {
            lines.append(String(rest.prefix(70)))
            rest = rest.dropFirst(70)
        }
        lines.append(end)
        let pubType = String(
            decoding: pub.getBytes(
                at: pub.readerIndex + 4, length: Int(pub.getInteger(at: pub.readerIndex, as: UInt32.self)!))!,
            as: UTF8.self)
        let pubLine = "\(pubType) \(Data(pub.readableBytesView).base64EncodedString()) \(comment)\n"
        let failed = { (why: String) in
            HostKeyError(
                "cannot write a new host key to \(path): \(why); check that the folder is writable "
                    + "(or provide keys made with `ssh-keygen -t ed25519 -N '' -f \(path)`)")
        }
        // The private key never exists with another mode: a temporary file is created 0600 (exclusively), filled,
        // synced, then linked into place, which fails rather than replace a key another process made meanwhile.
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = "\(directory)/.\(name).\(UInt32.random(in: 0...UInt32.max)).tmp"
        try writeExclusively(temporary, Array((lines.joined(separator: "\n") + "\n").utf8), mode: 0o600, failed: failed)
        defer { unlink(temporary) }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST { return false }
            throw failed(String(cString: strerror(errno)))
        }
        let publicTemporary = temporary + ".pub"
        try writeExclusively(publicTemporary, Array(pubLine.utf8), mode: 0o644, failed: failed)
        guard rename(publicTemporary, path + ".pub") == 0 else {
            let why = String(cString: strerror(errno))
            unlink(publicTemporary)
            throw failed(why)
        }
        return true
    }

    /// open(O_CREAT|O_EXCL, mode), write all, fsync, close.
    private static func writeExclusively(
        _ path: String, _ bytes: [UInt8], mode: mode_t,
        failed: (String) -> HostKeyError
    ) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failed(String(cString: strerror(errno))) }
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                let why = String(cString: strerror(errno))
                close(fd)
                unlink(path)
                throw failed(why)
            }
            done += n
        }
        let synced = fsync(fd) == 0 ? nil : String(cString: strerror(errno))
        let closed = close(fd) == 0 ? nil : String(cString: strerror(errno))
        if let why = synced ?? closed {
            unlink(path)
            throw failed(why)
        }
    }

    private static func blob(_ b: inout ByteBuffer, _ bad: (String) -> HostKeyError) throws -> ByteBuffer {
        guard let n: UInt32 = b.readInteger(), let s = b.readSlice(length: Int(n)) else {
            throw bad("the file is truncated")
        }
        return s
    }

    private static func string(_ b: inout ByteBuffer, _ bad: (String) -> HostKeyError) throws -> [UInt8] {
        Array(try blob(&b, bad).readableBytesView)
    }

    private static func putString(_ b: inout ByteBuffer, _ s: String) { putBytes(&b, Array(s.utf8)) }

    private static func putBytes(_ b: inout ByteBuffer, _ bytes: [UInt8]) {
        b.writeInteger(UInt32(bytes.count))
        b.writeBytes(bytes)
    }
}
