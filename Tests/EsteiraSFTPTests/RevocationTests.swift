import Testing

@testable import EsteiraSFTP

/// Which logged-in connections a users reload ends: a table of what changed, with the decision.
@Suite("Who keeps access after a users reload")
struct RevocationTests {
    static let k1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEd4YAoxqpe0mmZSeecqwwfrTiAGLmyF7em8Y9bvsZ6L k1"
    static let k2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKRAQIQRLiadyp8bBKN34I/MAfo4oRyBzF/b3AjKS6Tq k2"
    static let hash1 = "$scrypt$ln=15,r=8,p=1$aPJg9kwudsd4lEyoClVGvg$H5Ml6N4Szcl5GoLbTf7dqaJLwF2YxggtRTBSBYI84nY"
    static let hash2 = "$scrypt$ln=15,r=8,p=1$bPJg9kwudsd4lEyoClVGvg$H5Ml6N4Szcl5GoLbTf7dqaJLwF2YxggtRTBSBYI84nY"

    static func user(_ fields: String) throws -> SFTPUser? {
        let text = "users:\n  - {name: acme, \(fields)}\n  - {name: other, home: other, keys: [\"\(k2)\"]}\n"
        return try SFTPUserDirectory.parse(text, source: "test").user(named: "acme")
    }

    static let atLogin = "home: acme/data, permissions: [read, write], keys: [\"\(k1)\"], password: \"\(hash1)\""

    static let cases: [(now: String?, ends: String?)] = [
        (atLogin, nil),
        // Gained a key: nothing it may have logged in with was taken away.
        ("home: acme/data, permissions: [read, write], keys: [\"\(k1)\", \"\(k2)\"], password: \"\(hash1)\"", nil),
        (nil, "removed"),
        ("home: acme/data, permissions: [read, write], keys: [\"\(k2)\"], password: \"\(hash1)\"", "key"),
        ("home: acme/data, permissions: [read, write], keys: [\"\(k1)\"]", "password"),
        ("home: acme/data, permissions: [read, write], keys: [\"\(k1)\"], password: \"\(hash2)\"", "password"),
        ("home: acme/other, permissions: [read, write], keys: [\"\(k1)\"], password: \"\(hash1)\"", "home"),
        ("home: acme/data, permissions: [read], keys: [\"\(k1)\"], password: \"\(hash1)\"", "permissions"),
    ]

    @Test(
        "removed, a credential taken away or changed, a new home or permissions end it; a key gained does not",
        arguments: cases)
    func decision(_ c: (now: String?, ends: String?)) throws {
        let before = try #require(try Self.user(Self.atLogin))
        let now = try c.now.flatMap { try Self.user($0) }
        switch before.access(under: now) {
        case .continues(let user):
            #expect(c.ends == nil, "kept, expected to end for \(c.ends ?? "")")
            #expect(user == now)
        case .ends(let reason):
            #expect(c.ends != nil && reason.contains(c.ends!), "\(reason)")
        }
    }
}
