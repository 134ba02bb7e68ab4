/// A path inside a user's home, the only kind of path the storage layer accepts.
///
/// The home is a logical root: an absolute path starts from it, and there is no name that reaches
/// outside, because the key is always `home + components` and no component can be empty, `.`, `..`
/// or contain a `/`. Where a `..` would climb above the home, two rules:
/// - looking around (`init(navigating:)`: REALPATH, STAT, LSTAT, OPENDIR, what `cd` and `ls` send)
///   treats `/` as its own parent, like a chroot, so `cd ..` at the top stays there;
/// - anything that opens, writes, renames or removes (`init(resolving:)`) is refused with
///   PERMISSION_DENIED, so `put f ../other-tenant/f` fails instead of seeming to write into another
///   tenant's folder while landing in one's own.
/// Names S3 or a person would trip over (control characters, bytes that are not UTF-8,
/// backslashes) are refused rather than mapped.
///
/// Paths are split and checked on Unicode scalars, never on `Character`s (grapheme clusters): a `/`
/// followed by a combining mark is one `Character` that is not `/`, and would otherwise hide a
/// separator, and the `..` before it, inside one name.
public struct VirtualPath: Hashable, Sendable, CustomStringConvertible {
    /// Cleaned components; empty for the home itself.
    public let components: [String]

    public static let root = VirtualPath(uncheckedComponents: [])

    /// S3's key length limit, in UTF-8 bytes.
    public static let maximumKeyLength = 1024
    /// POSIX NAME_MAX: clients and local file systems expect no longer names.
    public static let maximumComponentLength = 255

    init(uncheckedComponents: [String]) { components = uncheckedComponents }

    /// Resolves what a client sent, relative to the home root (SFTP v3 has no server-side working
    /// directory; clients send absolute paths or paths relative to where REALPATH(".") put them).
    /// A `..` that would climb above the home is refused with PERMISSION_DENIED and the reason.
    public init(resolving raw: String) throws {
        components = try VirtualPath.components(of: raw, clampAtRoot: false)
    }

    /// For REALPATH, STAT, LSTAT and OPENDIR: like `init(resolving:)`, except that `..` stops at `/`, as
    /// in a chroot, so `cd ..` at the top stays there. These name or look at a path and change nothing.
    public init(navigating raw: String) throws {
        components = try VirtualPath.components(of: raw, clampAtRoot: true)
    }

    private static func components(of raw: String, clampAtRoot: Bool) throws -> [String] {
        var parts: [String] = []
        for part in raw.unicodeScalars.split(separator: "/", omittingEmptySubsequences: true) {
            if part.elementsEqual(".".unicodeScalars) { continue }
            if part.elementsEqual("..".unicodeScalars) {
                if !parts.isEmpty {
                    parts.removeLast()
                } else if !clampAtRoot {
                    throw SFTPStatusError(
                        .permissionDenied,
                        "'\(printable(raw))' goes above your home folder: / is the top "
                            + "of this account, and nothing outside it can be reached")
                }
                continue
            }
            try VirtualPath.check(component: part, in: raw)
            parts.append(String(Substring(part)))
        }
        return parts
    }

    /// Per scalar: a backslash or U+FFFD followed by a combining mark is not a `Character` equal to either.
    static func check(component: Substring.UnicodeScalarView, in raw: String) throws {
        if component.contains("\u{FFFD}") {
            throw SFTPStatusError(
                .failure, "'\(VirtualPath.printable(raw))': the name is not valid UTF-8; rename the file")
        }
        if component.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw SFTPStatusError(
                .failure, "'\(VirtualPath.printable(raw))': names with control characters are not accepted")
        }
        if component.contains("\\") {
            throw SFTPStatusError(
                .failure,
                "'\(VirtualPath.printable(raw))': backslashes are not accepted in names; use / between folders")
        }
        if component.reduce(0, { $0 + UTF8.width($1) }) > maximumComponentLength {
            throw SFTPStatusError(.failure, "a name is longer than \(maximumComponentLength) bytes")
        }
    }

    /// For messages: control characters shown as `?` so a hostile name cannot rewrite the terminal.
    static func printable(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
    }

    public var isRoot: Bool { components.isEmpty }

    /// What the client sees: always absolute, `/` being the home.
    public var description: String { "/" + components.joined(separator: "/") }

    public var name: String { components.last ?? "/" }

    public var parent: VirtualPath { VirtualPath(uncheckedComponents: Array(components.dropLast())) }

    public func appending(_ name: String) -> VirtualPath { VirtualPath(uncheckedComponents: components + [name]) }

    /// The object key of this path under `home` (which ends in `/`, or is empty for the whole bucket).
    public func key(home: String) throws -> String {
        let key = home + components.joined(separator: "/")
        guard key.utf8.count <= VirtualPath.maximumKeyLength else {
            throw SFTPStatusError(
                .failure,
                "\(self): the path is too long for S3 (at most \(VirtualPath.maximumKeyLength) bytes with the home folder)"
            )
        }
        return key
    }

    /// The key prefix of everything inside this path taken as a folder.
    public func directoryPrefix(home: String) throws -> String {
        isRoot ? home : try key(home: home) + "/"
    }
}
