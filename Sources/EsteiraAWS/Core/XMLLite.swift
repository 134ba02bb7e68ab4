/// Just enough XML for AWS's REST-XML answers: element text by name, in document order.
/// AWS documents are flat and machine-written; this avoids a libxml2 dependency in the runtime image.
struct XMLLite {
    private let text: String

    init(_ bytes: [UInt8]) { text = String(decoding: bytes, as: UTF8.self) }
    init(_ text: String) { self.text = text }

    /// Text of every `<name>…</name>`, unescaped, in order.
    func all(_ name: String) -> [String] {
        var out: [String] = []
        var rest = text[...]
        let open = "<\(name)>"
        let close = "</\(name)>"
        while let o = rest.range(of: open) {
            guard let c = rest.range(of: close, range: o.upperBound..<rest.endIndex) else { break }
            out.append(XMLLite.unescape(String(rest[o.upperBound..<c.lowerBound])))
            rest = rest[c.upperBound...]
        }
        return out
    }

    func first(_ name: String) -> String? { all(name).first }

    /// Inner XML of every `<name>…</name>` block, for nested lists.
    func blocks(_ name: String) -> [XMLLite] {
        var out: [XMLLite] = []
        var rest = text[...]
        let open = "<\(name)>"
        let close = "</\(name)>"
        while let o = rest.range(of: open) {
            guard let c = rest.range(of: close, range: o.upperBound..<rest.endIndex) else { break }
            out.append(XMLLite(String(rest[o.upperBound..<c.lowerBound])))
            rest = rest[c.upperBound...]
        }
        return out
    }

    /// Decodes the five named entities and numeric character references (`&#13;`, `&#x1F;`), in one pass,
    /// so `&amp;#13;` stays the text `&#13;`. S3 escapes control characters in keys this way. Anything that
    /// is not a well-formed reference to a Unicode scalar (other than NUL) is kept as written.
    static func unescape(_ s: String) -> String {
        guard s.contains("&") else { return s }
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "&"), let (decoded, length) = reference(bytes, at: i) else {
                out.append(bytes[i])
                i += 1
                continue
            }
            out.append(contentsOf: decoded)
            i += length
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let named: [String: UInt8] = ["lt": 0x3C, "gt": 0x3E, "amp": 0x26, "quot": 0x22, "apos": 0x27]

    /// The UTF-8 of the reference starting at `start` (an `&`) and its length, or nil when it is not one.
    private static func reference(_ bytes: [UInt8], at start: Int) -> ([UInt8], Int)? {
        // The longest reference is `&#x10FFFF;` or `&#1114111;` (10 bytes); look no further for the `;`.
        let limit = min(bytes.count, start + 12)
        guard let semi = (start + 1..<limit).first(where: { bytes[$0] == UInt8(ascii: ";") }) else { return nil }
        let body = bytes[(start + 1)..<semi]
        let length = semi - start + 1
        guard body.first == UInt8(ascii: "#") else {
            return named[String(decoding: body, as: UTF8.self)].map { ([$0], length) }
        }
        var digits = body.dropFirst()
        var radix: UInt32 = 10
        if let x = digits.first, x == UInt8(ascii: "x") || x == UInt8(ascii: "X") {
            radix = 16
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 7 else { return nil }
        var value: UInt32 = 0
        for d in digits {
            let v: UInt32
            switch d {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(d - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: v = UInt32(d - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: v = UInt32(d - UInt8(ascii: "A") + 10)
            default: return nil
            }
            value = value * radix + v
        }
        guard value != 0, let scalar = Unicode.Scalar(value) else { return nil }
        return (Array(String(Character(scalar)).utf8), length)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
