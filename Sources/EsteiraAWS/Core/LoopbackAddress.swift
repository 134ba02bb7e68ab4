/// Whether a host is this machine, decided by its address and never by how its name starts
/// (`127.example.com` is anybody's host).
///
/// Loopback is 127.0.0.0/8 written as four decimal octets, `::1` in any spelling (brackets allowed), and the
/// literal name `localhost` (curl resolves it to loopback itself, without asking DNS). Short or octal IPv4
/// forms (`127.1`, `0177.0.0.1`, `2130706433`), IPv4-mapped addresses and zones are not loopback here:
/// resolvers disagree about them, and a refusal only means plain HTTP is not allowed.
///
/// EsteiraMySQL holds the same small pure function (the modules know nothing of each other).
public enum LoopbackAddress {
    public static func isLoopback(_ host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        if let v4 = ipv4(Substring(host)) { return v4[0] == 127 }
        return ipv6(unbracketed(host)) == [0, 0, 0, 0, 0, 0, 0, 1]
    }

    /// The ECS agent (169.254.170.2) and the EKS Pod Identity agent (169.254.170.23, fd00:ec2::23).
    static func isContainerAgent(_ host: String) -> Bool {
        if let v4 = ipv4(Substring(host)) { return v4 == [169, 254, 170, 2] || v4 == [169, 254, 170, 23] }
        return ipv6(unbracketed(host)) == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23]
    }

    private static func unbracketed(_ host: String) -> Substring {
        let text = Substring(host)
        guard text.hasPrefix("["), text.hasSuffix("]"), text.count >= 2 else { return text }
        return text.dropFirst().dropLast()
    }

    /// Four decimal octets 0–255 without leading zeros: the one form every resolver reads the same way.
    static func ipv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets: [UInt8] = []
        for part in parts {
            let digits = Array(part.utf8)
            guard (1...3).contains(digits.count),
                digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                digits.count == 1 || digits[0] != UInt8(ascii: "0"),
                let value = UInt8(String(part))
            else { return nil }
            octets.append(value)
        }
        return octets
    }

    /// Eight hexadecimal groups, or fewer around one `::`; no embedded IPv4, no zone.
    static func ipv6(_ text: Substring) -> [UInt16]? {
        func groups(_ s: Substring) -> [UInt16]? {
            if s.isEmpty { return [] }
            var values: [UInt16] = []
            for group in s.split(separator: ":", omittingEmptySubsequences: false) {
                let hex = Array(group.utf8)
                guard (1...4).contains(hex.count),
                    hex.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }),
                    let value = UInt16(String(group), radix: 16)
                else { return nil }
                values.append(value)
            }
            return values
        }
        guard text.utf8.count <= 45 else { return nil }
        guard let gap = text.range(of: "::") else {
            guard let all = groups(text), all.count == 8 else { return nil }
            return all
        }
        guard let head = groups(text[..<gap.lowerBound]), let tail = groups(text[gap.upperBound...]),
            head.count + tail.count <= 7
        else { return nil }
        return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
    }
}
