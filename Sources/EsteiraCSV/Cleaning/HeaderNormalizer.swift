/// Header names become safe, predictable column identifiers: ASCII lower snake case, accents stripped,
/// at most 64 bytes (MySQL's limit), never empty, never two alike. A header can never carry SQL: the only
/// characters that survive are `a-z`, `0-9` and `_`.
///
/// `"Nº do Pedido"` → `n_do_pedido`, `"Valor (R$)"` → `valor_r`, `"Ação"` → `acao`, `"2024"` → `col_2024`,
/// `""` → `column_3` (its position).
public enum HeaderNormalizer {
    public enum CollisionPolicy: String, Sendable, Hashable, Codable {
        /// The second `valor` becomes `valor_2`, the third `valor_3`.
        case rename
        /// The file is refused with both positions named.
        case refuse
    }

    /// One name, without regard to the others.
    public static func identifier(_ name: String, position: Int) -> String {
        var out: [UInt8] = []
        var pendingUnderscore = false
        for scalar in name.unicodeScalars {
            let folded = fold(scalar)
            for b in folded.utf8 {
                let lower = b >= 0x41 && b <= 0x5A ? b + 0x20 : b
                if (lower >= 0x61 && lower <= 0x7A) || (lower >= 0x30 && lower <= 0x39) {
                    if pendingUnderscore && !out.isEmpty { out.append(0x5F) }
                    pendingUnderscore = false
                    out.append(lower)
                } else {
                    pendingUnderscore = true
                }
            }
        }
        if out.isEmpty { return "column_\(position + 1)" }
        if out[0] >= 0x30 && out[0] <= 0x39 { out = Array("col_".utf8) + out }
        if out.count > 64 {
            out = Array(out[0..<64])
            while out.last == 0x5F { out.removeLast() }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Every name of a header row. A trailing empty name (a delimiter at the end of the header line)
    /// is the caller's to drop before this.
    public static func normalize(_ names: [String], collisions: CollisionPolicy = .rename) throws(CSVReadError)
        -> [String]
    {
        var seen: [String: Int] = [:]
        var out: [String] = []
        out.reserveCapacity(names.count)
        for (position, name) in names.enumerated() {
            var id = identifier(name, position: position)
            if let first = seen[id] {
                switch collisions {
                case .refuse:
                    throw CSVReadError(
                        .badHeader,
                        "header columns \(first + 1) and \(position + 1) both become '\(id)' ('\(names[first].prefix(60))' and '\(name.prefix(60))'); rename one in the file, or set header_collisions: rename on the route"
                    )
                case .rename:
                    var n = 2
                    let base = id
                    repeat {
                        let suffix = "_\(n)"
                        // A cut that ends in '_' would give "__", which is not an identifier this function makes.
                        var kept = base.prefix(64 - suffix.utf8.count)
                        while kept.last == "_" { kept = kept.dropLast() }
                        id = String(kept) + suffix
                        n += 1
                    } while seen[id] != nil
                }
            }
            seen[id] = position
            out.append(id)
        }
        return out
    }

    /// Latin letters with diacritics to their base letters (Latin-1 Supplement and Latin Extended-A,
    /// which cover the languages partners write headers in); other characters pass unchanged and, not
    /// being ASCII letters or digits, become separators.
    static func fold(_ scalar: Unicode.Scalar) -> String {
        let v = scalar.value
        guard v >= 0xAA else { return String(scalar) }
        switch v {
        case 0xC0...0xC5, 0xE0...0xE5, 0x100...0x105: return "a"
        case 0xC6, 0xE6: return "ae"
        case 0xC7, 0xE7, 0x106...0x10D: return "c"
        case 0xC8...0xCB, 0xE8...0xEB, 0x112...0x11B: return "e"
        case 0xCC...0xCF, 0xEC...0xEF, 0x128...0x131: return "i"
        case 0xD0, 0xF0, 0x10E...0x111: return "d"
        case 0xD1, 0xF1, 0x143...0x14B: return "n"
        case 0xD2...0xD6, 0xD8, 0xF2...0xF6, 0xF8, 0x14C...0x151: return "o"
        case 0x152, 0x153: return "oe"
        case 0xD9...0xDC, 0xF9...0xFC, 0x168...0x173: return "u"
        case 0xDD, 0xFD, 0xFF, 0x176...0x178: return "y"
        case 0xDE, 0xFE: return "th"
        case 0xDF: return "ss"
        case 0x11C...0x123: return "g"
        case 0x124...0x127: return "h"
        case 0x134, 0x135: return "j"
        case 0x136...0x138: return "k"
        case 0x139...0x142: return "l"
        case 0x154...0x159: return "r"
        case 0x15A...0x161: return "s"
        case 0x162...0x167: return "t"
        case 0x174, 0x175: return "w"
        case 0x179...0x17E: return "z"
        case 0xAA: return "a"
        case 0xBA: return "o"
        default: return String(scalar)
        }
    }
}

/// Why a file cannot be read at all, as opposed to a row that is refused. `code` says which kind, so
/// the pipeline can classify it once (all of these are permanent: the same bytes fail the same way).
public struct CSVReadError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public var description: String { rawValue }
        public static let badHeader = Code(rawValue: "BadHeader")
        public static let contract = Code(rawValue: "Contract")
        public static let compression = Code(rawValue: "Compression")
        /// The file inflates past a decompression limit (size or ratio): not corrupt, refused for its size.
        public static let tooLarge = Code(rawValue: "TooLarge")
        public static let empty = Code(rawValue: "Empty")
        public static let dedupeFull = Code(rawValue: "DedupeFull")
        /// Not one record of the file could be read (each was refused, for its size or its quoting).
        public static let unreadable = Code(rawValue: "Unreadable")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
