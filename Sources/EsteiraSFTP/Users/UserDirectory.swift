import Foundation
import NIOSSH
import Yams

/// What a user may do under their home.
public struct SFTPPermissions: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Download, list, stat.
    public static let read = SFTPPermissions(rawValue: 1 << 0)
    /// Upload, mkdir, rename (renames never overwrite, so they destroy nothing).
    public static let write = SFTPPermissions(rawValue: 1 << 1)
    /// Remove files and empty folders.
    public static let delete = SFTPPermissions(rawValue: 1 << 2)

    static let names: [(String, SFTPPermissions)] = [("read", .read), ("write", .write), ("delete", .delete)]

    public var description: String { Self.names.filter { contains($0.1) }.map(\.0).joined(separator: ",") }
}

/// One account of the gateway.
public struct SFTPUser: Sendable, Equatable {
    public var name: String
    /// Bucket prefix that is this user's `/`: ends in `/`, or is empty for the whole bucket.
    public var home: String
    public var permissions: SFTPPermissions
    public var authorizedKeys: [NIOSSHPublicKey]
    public var passwordHash: PasswordHash?
}

public struct UsersFileError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The accounts, read from a YAML users file and/or a Secrets Manager secret holding the same text:
///
/// ```yaml
/// users:
///   - name: acme
///     home: acme/data            # bucket prefix the user sees as /
///     permissions: [read, write] # read, write, delete; default [read, write]
///     keys:                      # OpenSSH public key lines: ssh-ed25519 or ecdsa-sha2-nistp256/384/521
///       - ssh-ed25519 AAAAC3Nza... ops@acme
///     password: $scrypt$ln=15,r=8,p=1$...   # optional; `esteira sftp hash-password`
/// ```
public struct SFTPUserDirectory: Sendable {
    public let users: [String: SFTPUser]

    public init(users: [SFTPUser]) {
        self.users = Dictionary(users.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func user(named name: String) -> SFTPUser? { users[name] }

    /// The users of several sources (a users file and a Secrets Manager secret) as one directory. A name
    /// in two of them is refused, naming both, rather than one silently shadowing the other.
    public static func combining(_ sources: [(directory: SFTPUserDirectory, source: String)]) throws
        -> SFTPUserDirectory
    {
        var seen: [String: String] = [:]
        var all: [SFTPUser] = []
        for (directory, source) in sources {
            for name in directory.users.keys.sorted() {
                if let first = seen[name] {
                    throw UsersFileError(
                        "user '\(name)' is in both \(first) and \(source); keep each user in one place")
                }
                seen[name] = source
                all.append(directory.users[name]!)
            }
        }
        return SFTPUserDirectory(users: all)
    }

    public var passwordLoginEnabled: Bool { users.values.contains { $0.passwordHash != nil } }

    private struct File: Decodable {
        var users: [Entry]?
    }

    private struct Entry: Decodable {
        var name: String?
        var home: String?
        var permissions: [String]?
        var keys: [String]?
        var password: String?
    }

    public static func load(path: String) throws -> SFTPUserDirectory {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw UsersFileError("cannot read the users file \(path): \(error.localizedDescription)")
        }
        return try parse(text, source: path)
    }

    /// Parses YAML (or JSON, which is YAML) naming each problem with the user and field it is in.
    public static func parse(_ text: String, source: String) throws -> SFTPUserDirectory {
        let file: File
        do {
            file = try YAMLDecoder().decode(File.self, from: text)
        } catch {
            throw UsersFileError("\(source) is not a users file (a YAML map with a `users:` list): \(error)")
        }
        guard let entries = file.users, !entries.isEmpty else {
            throw UsersFileError("\(source) has no users: add at least one under `users:` (see docs/SFTP.md)")
        }
        var users: [SFTPUser] = []
        var seen = Set<String>()
        for (index, e) in entries.enumerated() {
            let label = e.name.map { "user '\($0)'" } ?? "user #\(index + 1)"
            func bad(_ what: String) -> UsersFileError { UsersFileError("\(source), \(label): \(what)") }
            guard let name = e.name, !name.isEmpty else { throw bad("`name` is missing") }
            guard name.count <= 64,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-@".contains($0)) })
            else {
                throw bad("the name may use letters, digits and . _ - @ (at most 64)")
            }
            guard seen.insert(name).inserted else { throw bad("the name appears twice") }
            guard let rawHome = e.home else {
                throw bad("`home` is missing (the bucket prefix this user sees as /, e.g. \(name)/data)")
            }
            let home = try normalisedHome(rawHome, bad: bad)
            var permissions: SFTPPermissions = [.read, .write]
            if let names = e.permissions {
                permissions = []
                for p in names {
                    guard let known = SFTPPermissions.names.first(where: { $0.0 == p.lowercased() }) else {
                        throw bad("unknown permission '\(p)'; use read, write and/or delete")
                    }
                    permissions.insert(known.1)
                }
            }
            var keys: [NIOSSHPublicKey] = []
            for (i, line) in (e.keys ?? []).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if trimmed.hasPrefix("ssh-rsa") || trimmed.hasPrefix("ssh-dss") {
                    throw bad(
                        "key #\(i + 1) is \(trimmed.prefix(7)), which this gateway cannot check (swift-nio-ssh supports "
                            + "ed25519 and ECDSA): make one with `ssh-keygen -t ed25519`")
                }
                do {
                    keys.append(try NIOSSHPublicKey(openSSHPublicKey: trimmed))
                } catch {
                    throw bad("key #\(i + 1) is not an OpenSSH public key line ('ssh-ed25519 AAAA… comment'): \(error)")
                }
            }
            var hash: PasswordHash?
            if let p = e.password, !p.isEmpty {
                do { hash = try PasswordHash(parsing: p) } catch { throw bad("`password`: \(error)") }
            }
            guard !keys.isEmpty || hash != nil else {
                throw bad("has neither `keys` nor `password`, so could never log in")
            }
            users.append(
                SFTPUser(name: name, home: home, permissions: permissions, authorizedKeys: keys, passwordHash: hash))
        }
        return SFTPUserDirectory(users: users)
    }

    /// `acme/data`, `/acme/data/` → `acme/data/`; `/` → the whole bucket. `..` and empty segments are refused,
    /// since a home must name exactly one prefix.
    static func normalisedHome(_ raw: String, bad: (String) -> UsersFileError) throws -> String {
        let trimmed = raw.trimmingCharacters(in: .whitespaces)
        if trimmed == "/" { return "" }
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty else { throw bad("`home` is empty; use / explicitly for the whole bucket") }
        for p in parts where p == "." || p == ".." {
            throw bad("`home` '\(raw)' contains '\(p)'; write the prefix plainly, e.g. acme/data")
        }
        return parts.joined(separator: "/") + "/"
    }
}
