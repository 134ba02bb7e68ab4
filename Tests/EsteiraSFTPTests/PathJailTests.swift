import Testing

@testable import EsteiraSFTP

@Suite("The home is a logical root")
struct PathJailTests {
    static let cases: [(raw: String, key: String)] = [
        (".", "acme/data/"),
        ("/", "acme/data/"),
        ("orders.csv", "acme/data/orders.csv"),
        ("/in/orders.csv", "acme/data/in/orders.csv"),
        // An absolute path starts at the home: another tenant's name is just a folder of this one.
        ("/globex/data/x.csv", "acme/data/globex/data/x.csv"),
        ("in/./../in//a.csv", "acme/data/in/a.csv"),
        ("in/sub/../../b.csv", "acme/data/b.csv"),
        ("ação ü.csv", "acme/data/ação ü.csv"),
    ]

    @Test("what a client sends maps under the home and never beside it", arguments: cases)
    func staysHome(_ c: (raw: String, key: String)) throws {
        for path in [try VirtualPath(resolving: c.raw), try VirtualPath(navigating: c.raw)] {
            let key = path.isRoot ? try path.directoryPrefix(home: "acme/data/") : try path.key(home: "acme/data/")
            #expect(key == c.key)
            #expect(key.hasPrefix("acme/data/"))
            #expect(!path.components.contains(".."))
        }
    }

    static let escapes: [(raw: String, realpath: String)] = [
        ("../other-tenant/x.csv", "/other-tenant/x.csv"),
        ("../../../../etc/passwd", "/etc/passwd"),
        ("/acme/../../globex/data/secret.csv", "/globex/data/secret.csv"),
        ("..", "/"),
        ("//..//..//", "/"),
        ("/../acme/data/planted.csv", "/acme/data/planted.csv"),
        ("in/../../x", "/x"),
    ]

    @Test(
        "a .. above the home is refused with the reason; cd and ls (REALPATH, STAT, OPENDIR) stop at / like a chroot",
        arguments: escapes)
    func climbingOutIsRefused(_ c: (raw: String, realpath: String)) throws {
        let error = try #require(throws: SFTPStatusError.self) { try VirtualPath(resolving: c.raw) }
        #expect(error.code == .permissionDenied)
        #expect(error.message.contains("goes above your home folder"))
        #expect(try VirtualPath(navigating: c.raw).description == c.realpath)
    }

    @Test(
        "odd names are refused with a reason",
        arguments: [
            ("a\u{0}b", "control"), ("line\nbreak.csv", "control"), ("bell\u{7}", "control"),
            ("dir\\file.csv", "backslash"), ("bad\u{FFFD}.csv", "UTF-8"),
            (String(repeating: "x", count: 256), "longer than 255"),
        ])
    func oddNames(_ raw: String, _ reason: String) throws {
        let error = try #require(throws: SFTPStatusError.self) { try VirtualPath(resolving: raw) }
        #expect(error.message.contains(reason))
        #expect(!error.message.contains("\n"))
    }

    @Test("a key longer than S3 allows is refused")
    func tooLong() throws {
        let path = try VirtualPath(
            resolving: Array(repeating: String(repeating: "d", count: 200), count: 6).joined(separator: "/"))
        #expect(throws: SFTPStatusError.self) { try path.key(home: "acme/data/") }
    }

    @Test("a whole-bucket home refuses .. above it too")
    func wholeBucket() throws {
        #expect(throws: SFTPStatusError.self) { try VirtualPath(resolving: "../../x") }
        #expect(try VirtualPath(navigating: "../../x").key(home: "") == "x")
    }
}

/// Paths are split on Unicode scalars, never on grapheme clusters: a `/` followed by a combining mark
/// is still a `/` (and the `..` before it still climbs).
@Suite("Paths split on scalars")
struct ScalarPathTests {
    @Test(
        "a combining mark after / does not hide a separator, so the .. before it climbs",
        arguments: [
            "../\u{301}b", "/../\u{301}b", "in/../../\u{301}x.csv", "x/../../\u{301}",
        ])
    func combiningMarksDoNotHideClimbs(_ raw: String) throws {
        let error = try #require(throws: SFTPStatusError.self) { try VirtualPath(resolving: raw) }
        #expect(error.code == .permissionDenied)
        #expect(error.message.contains("goes above your home folder"))
        // Looking around clamps at /; no component left holds a / or is a `..`.
        for c in try VirtualPath(navigating: raw).components {
            #expect(!c.unicodeScalars.contains("/"))
            #expect(!c.unicodeScalars.elementsEqual("..".unicodeScalars))
        }
    }

    @Test("`..` or `.` followed by a combining mark is an ordinary name, not a climb")
    func dotsWithMarksAreNames() throws {
        let path = try VirtualPath(resolving: "..\u{301}/x")
        #expect(path.components.count == 2)
        #expect(path.components[0].unicodeScalars.elementsEqual("..\u{301}".unicodeScalars))
    }

    @Test(
        "components are split at every / scalar",
        arguments: [
            ("a/\u{301}b/c", ["a", "\u{301}b", "c"]),
            ("in/\u{301}/x.csv", ["in", "\u{301}", "x.csv"]),
            ("./\u{301}.csv", ["\u{301}.csv"]),
        ])
    func splitOnScalars(_ raw: String, _ expected: [String]) throws {
        let path = try VirtualPath(resolving: raw)
        #expect(path.components.map { Array($0.unicodeScalars) } == expected.map { Array($0.unicodeScalars) })
        #expect(
            try path.key(home: "acme/data/").unicodeScalars.elementsEqual(
                ("acme/data/" + expected.joined(separator: "/")).unicodeScalars))
    }

    @Test(
        "backslash and U+FFFD are refused even when a combining mark follows them",
        arguments: [
            ("dir\\\u{301}file.csv", "backslash"), ("bad\u{FFFD}\u{301}.csv", "UTF-8"), ("x\u{7F}\u{301}", "control"),
        ])
    func perScalarChecks(_ raw: String, _ reason: String) throws {
        let error = try #require(throws: SFTPStatusError.self) { try VirtualPath(resolving: raw) }
        #expect(error.message.contains(reason))
    }
}
