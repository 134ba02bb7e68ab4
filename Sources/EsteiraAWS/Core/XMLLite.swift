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

    static func unescape(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&#34;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
