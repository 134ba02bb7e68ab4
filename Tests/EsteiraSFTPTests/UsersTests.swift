import Foundation
import Logging
import Testing

@testable import EsteiraSFTP

@Suite("Users file and password hashes")
struct UsersTests {
    static let ed25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMUkl3VCUcGL59zqkbZrYSqj2783Y/M1DDS8M1Aht802 ops@acme"

    @Test("a full entry is read as written")
    func reads() throws {
        let dir = try SFTPUserDirectory.parse(
            """
            users:
              - name: acme
                home: /acme/data/
                permissions: [read, write, delete]
                keys: ["\(Self.ed25519)"]
              - name: globex
                home: globex
                password: "$pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M"
            """, source: "users.yaml")
        let acme = try #require(dir.user(named: "acme"))
        #expect(acme.home == "acme/data/")
        #expect(acme.permissions == [.read, .write, .delete])
        #expect(acme.authorizedKeys.count == 1)
        let globex = try #require(dir.user(named: "globex"))
        #expect(globex.permissions == [.read, .write])
        #expect(globex.home == "globex/")
        #expect(dir.passwordLoginEnabled)
    }

    @Test(
        "mistakes are named with the user and the fix",
        arguments: [
            ("users: []", "has no users"),
            ("users:\n  - name: a\n    keys: [\"\(ed25519)\"]", "`home` is missing"),
            ("users:\n  - name: a\n    home: ../b\n    keys: [\"\(ed25519)\"]", "contains '..'"),
            ("users:\n  - name: a\n    home: a", "neither `keys` nor `password`"),
            ("users:\n  - name: a\n    home: a\n    keys: [\"ssh-rsa AAAAB3NzaC1yc2E x\"]", "ssh-keygen -t ed25519"),
            ("users:\n  - name: a\n    home: a\n    keys: [\"not a key\"]", "not an OpenSSH public key"),
            ("users:\n  - name: a\n    home: a\n    password: plain", "esteira sftp hash-password"),
            (
                "users:\n  - name: a\n    home: a\n    permissions: [admin]\n    keys: [\"\(ed25519)\"]",
                "unknown permission 'admin'"
            ),
            (
                "users:\n  - {name: a, home: a, password: \"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$6g3umF+uVrJsObaTZhIbbTlgrvOEFcCItdwSjtPF67M\"}\n  - {name: a, home: b, password: \"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$6g3umF+uVrJsObaTZhIbbTlgrvOEFcCItdwSjtPF67M\"}",
                "appears twice"
            ),
        ])
    func mistakes(_ yaml: String, _ expected: String) {
        do {
            _ = try SFTPUserDirectory.parse(yaml, source: "users.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
            #expect("\(error)".hasPrefix("users.yaml"))
        }
    }

    @Test(
        "hashes made by Python's hashlib verify (scrypt and PBKDF2, passlib's format)",
        arguments: [
            "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$6g3umF+uVrJsObaTZhIbbTlgrvOEFcCItdwSjtPF67M",
            "$pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M",
        ])
    func pythonVectors(_ text: String) throws {
        let hash = try PasswordHash(parsing: text)
        #expect(hash.verify("correct horse"))
        #expect(!hash.verify("correct horse "))
        #expect(!hash.verify(""))
        #expect(hash.description == text)
    }

    @Test(
        "KDF parameters that would cost a login gigabytes or trap are refused, naming the user",
        arguments: [
            ("$scrypt$ln=21,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$6g3umF+uVrJsObaTZhIbbTlgrvOEFcCItdwSjtPF67M", "ln=21"),
            ("$scrypt$ln=14,r=17,p=1$MDEyMzQ1Njc4OWFiY2RlZg$6g3umF+uVrJsObaTZhIbbTlgrvOEFcCItdwSjtPF67M", "r=17"),
            ("$scrypt$ln=14,r=8,p=5$MDEyMzQ1Njc4OWFiY2RlZg$6g3umF+uVrJsObaTZhIbbTlgrvOEFcCItdwSjtPF67M", "p=5"),
            ("$pbkdf2-sha256$10000001$MDEyMzQ1Njc4OWFiY2RlZg$cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M", "10000001"),
            (
                "$pbkdf2-sha256$99999999999$MDEyMzQ1Njc4OWFiY2RlZg$cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M",
                "99999999999"
            ),
        ])
    func kdfBounds(_ hash: String, _ named: String) {
        do {
            _ = try SFTPUserDirectory.parse(
                "users:\n  - {name: acme, home: a, password: \"\(hash)\"}", source: "users.yaml")
            Issue.record("accepted: \(hash)")
        } catch {
            #expect("\(error)".hasPrefix("users.yaml, user 'acme'"), "\(error)")
            #expect("\(error)".contains(named), "\(error)")
        }
    }

    @Test(
        "the largest costs allowed still parse (scrypt ln=20 r=8 p=1, PBKDF2 10,000,000 rounds)",
        arguments: [
            "$scrypt$ln=20,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$6g3umF+uVrJsObaTZhIbbTlgrvOEFcCItdwSjtPF67M",
            "$scrypt$ln=16,r=16,p=4$MDEyMzQ1Njc4OWFiY2RlZg$6g3umF+uVrJsObaTZhIbbTlgrvOEFcCItdwSjtPF67M",
            "$pbkdf2-sha256$10000000$MDEyMzQ1Njc4OWFiY2RlZg$cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M",
        ])
    func kdfBoundsInside(_ hash: String) throws {
        _ = try PasswordHash(parsing: hash)
    }

    @Test("a new hash verifies its password only, and reads back from its own text")
    func roundTrip() throws {
        for algorithm in [
            PasswordHash.Algorithm.scrypt(logN: 12, r: 8, p: 1), .pbkdf2(digest: "sha512", iterations: 2000),
        ] {
            let hash = try PasswordHash.make(password: "s3cret ✓", algorithm: algorithm)
            #expect(hash.verify("s3cret ✓"))
            #expect(!hash.verify("s3cret"))
            #expect(try PasswordHash(parsing: hash.description) == hash)
        }
    }
}

@Suite("Host keys")
struct HostKeyTests {
    static let logger = Logger(label: "test")

    @Test("keys are made on first start and the same keys are read on the next")
    func generatedOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hk-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try HostKeys.loadOrCreate(directory: dir, logger: Self.logger)
        #expect(first.map(\.type).sorted() == ["ecdsa-sha2-nistp256", "ssh-ed25519"])
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/ssh_host_ed25519_key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let second = try HostKeys.loadOrCreate(directory: dir, logger: Self.logger)
        #expect(first.map(\.fingerprint).sorted() == second.map(\.fingerprint).sorted())
    }

    @Test("keys made by ssh-keygen are read, with the fingerprint ssh-keygen prints")
    func opensshKeys() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for type in ["ed25519", "ecdsa"] {
            _ = try Tools.run(
                Tools.require("ssh-keygen"), ["-q", "-t", type, "-N", "", "-f", "\(dir)/ssh_host_\(type)_key"])
        }
        let keys = try HostKeys.loadOrCreate(directory: dir, logger: Self.logger)
        #expect(keys.count == 2)
        for key in keys {
            let printed = try Tools.run(Tools.require("ssh-keygen"), ["-lf", key.path]).output
            #expect(printed.contains(key.fingerprint), "\(printed) vs \(key.fingerprint)")
        }
    }

    @Test(
        "a private key others or its group can read is refused, as sshd does, naming the file and chmod 600",
        arguments: [0o644, 0o640, 0o604, 0o660])
    func tooOpen(_ mode: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/ssh_host_ed25519_key"
        _ = try Tools.run(Tools.require("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", path])
        #expect(chmod(path, mode_t(mode)) == 0)
        let error = try #require(throws: HostKeyError.self) {
            try HostKeys.loadOrCreate(directory: dir, logger: Self.logger)
        }
        #expect(error.description.contains(path), "\(error)")
        #expect(error.description.contains("chmod 600 \(path)"), "\(error)")
        #expect(chmod(path, 0o600) == 0)
        #expect(try HostKeys.loadOrCreate(directory: dir, logger: Self.logger).count == 1)
    }

    @Test("generated keys never exist with a wider mode, even under a permissive umask")
    func generatedPrivateFromTheStart() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hk-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = umask(0)
        defer { umask(old) }
        _ = try HostKeys.loadOrCreate(directory: dir, logger: Self.logger)
        for name in ["ssh_host_ed25519_key", "ssh_host_ecdsa_key"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(dir)/\(name)")
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(name)")
        }
        // Nothing else (no temporary file) is left beside them.
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == [
                "ssh_host_ecdsa_key", "ssh_host_ecdsa_key.pub", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub",
            ])
    }

    @Test("a passphrase-protected key is refused with the command that fixes it")
    func encrypted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Tools.run(
            Tools.require("ssh-keygen"),
            ["-q", "-t", "ed25519", "-N", "pass phrase", "-f", "\(dir)/ssh_host_ed25519_key"])
        let error = try #require(throws: HostKeyError.self) {
            try HostKeys.loadOrCreate(directory: dir, logger: Self.logger)
        }
        #expect(error.description.contains("ssh-keygen -p -N ''"))
    }
}
