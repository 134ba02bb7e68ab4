/// S3's naming rules for general purpose buckets, checked before a name from outside (a queue message, a
/// setting) is used in a request: a name that breaks them is no bucket of ours, and never reaches a URL.
public enum S3BucketName {
    /// Why `name` must not go into a request URL at all, or nil. Looser than `problem`: legacy buckets
    /// (capitals, underscores, up to 255 characters) still work, but nothing that could change the URL's
    /// path, query or host (`/`, `..`, `?`, `#`, `%`, spaces…) gets through.
    public static func urlProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard (1...255).contains(bytes.count) else { return "is empty or longer than 255 characters" }
        let allowed = bytes.allSatisfy {
            (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0)
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
        }
        guard allowed else { return "holds characters no bucket name has (only letters, digits, '.', '-' and '_')" }
        guard !name.contains(".."), name != "." else { return "holds a '..' (a path segment, not a bucket)" }
        return nil
    }

    /// Why `name` cannot be a bucket name, or nil when it can.
    public static func problem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return "a bucket name is 3 to 63 characters long" }
        func isAlnum(_ b: UInt8) -> Bool { (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) }
        guard bytes.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }) else {
            return "a bucket name holds only lower-case letters, digits, '.' and '-'"
        }
        guard isAlnum(bytes.first!), isAlnum(bytes.last!) else {
            return "a bucket name begins and ends with a letter or digit"
        }
        guard !name.contains("..") else { return "a bucket name has no two adjacent periods" }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) }) {
            return "a bucket name is not formatted as an IP address"
        }
        for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] where name.hasPrefix(prefix) {
            return "a bucket name cannot begin with '\(prefix)'"
        }
        for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] where name.hasSuffix(suffix) {
            return "a bucket name cannot end with '\(suffix)'"
        }
        return nil
    }
}
