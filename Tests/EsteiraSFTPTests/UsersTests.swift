import Foundation
import Logging
import Testing
@testable import EsteiraSFTP

@Suite("Users file and password hashes")
struct UsersTests {
    static let ed25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMUkl3VCUcGL59zqkbZrYSqj2783Y/M1DDS8M1Aht802 ops@acme"

    @Test("a full entry is read as written")
    func reads() throws {
        let dir = try SFTPUserDirectory.parse("""
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

    @Test("mistakes are named with the user and the fix", arguments: [
        ("users: []", "has no users"),
        ("users:\n  - name: a\n    keys: [\"\(ed25519)\"]", "`home` is missing"),
        ("users:\n  - name: a\n    home: ../b\n    keys: [\"\(ed25519)\"]", "contains '..'"),
        ("users:\n  - name: a\n    home: a", "neither `keys` nor `password`"),
        ("users:\n  - name: a\n    home: a\n    keys: [\"ssh-rsa AAAAB3NzaC1yc2E x\"]", "ssh-keygen -t ed25519"),
        ("users:\n  - name: a\n    home: a\n    keys: [\"not a key\"]", "not an OpenSSH public key"),
        ("users:\n  - name: a\n    home: a\n    password: plain", "esteira sftp hash-password"),
        ("users:\n  - name: a\n    home: a\n    permissions: [admin]\n    keys: [\"\(ed25519)\"]", "unknown permission 'admin'"),
        ("users:\n  - {name: a, home: a, password: \"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$6g3umF+uVrJsObaTZhIbbTlgrvOEFcCItdwSjtPF67M\"}\n  - {name: a, home: b, password: \"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$6g3umF+uVrJsObaTZhIbbTlgrvOEFcCItdwSjtPF67M\"}", "appears twice"),
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

    @Test("hashes made by Python's hashlib verify (scrypt and PBKDF2, passlib's format)", arguments: [
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

    @Test("a new hash verifies its password only, and reads back from its own text")
    func roundTrip() throws {
        for algorithm in [PasswordHash.Algorithm.scrypt(logN: 12, r: 8, p: 1), .pbkdf2(digest: "sha512", iterations: 2000)] {
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
            _ = try Tools.run(Tools.require("ssh-keygen"), ["-q", "-t", type, "-N", "", "-f", "\(dir)/ssh_host_\(type)_key"])
        }
        let keys = try HostKeys.loadOrCreate(directory: dir, logger: Self.logger)
        #expect(keys.count == 2)
        for key in keys {
            let printed = try Tools.run(Tools.require("ssh-keygen"), ["-lf", key.path]).output
            #expect(printed.contains(key.fingerprint), "\(printed) vs \(key.fingerprint)")
        }
    }

    @Test("a passphrase-protected key is refused with the command that fixes it")
    func encrypted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Tools.run(Tools.require("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "pass phrase", "-f", "\(dir)/ssh_host_ed25519_key"])
        let error = try #require(throws: HostKeyError.self) { try HostKeys.loadOrCreate(directory: dir, logger: Self.logger) }
        #expect(error.description.contains("ssh-keygen -p -N ''"))
    }
}
