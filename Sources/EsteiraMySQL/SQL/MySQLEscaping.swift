/// String-literal escaping for connections whose character set is utf8mb4 (or any other charset
/// ``MySQLConfig`` accepts) and whose sql_mode does not contain NO_BACKSLASH_ESCAPES — which is what
/// ``MySQLConnection`` sets up on every connect.
///
/// It produces the same bytes as `mysql_real_escape_string` on such a connection: in utf8mb4 no byte of a
/// multi-byte character is below 0x80, so the bytes that need escaping (NUL, LF, CR, `\`, `'`, `"`, ^Z) can
/// never be part of a longer character, and byte-wise escaping is exact. (That would not hold for GBK, Big5
/// or SJIS, which is why those charsets are refused.) Being pure, it can run on any thread, without a hop
/// to the connection's thread.
public enum MySQLEscaping {
    /// The escaped body of a string literal (no surrounding quotes).
    public static func escape(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count + 8)
        appendEscaped(value.utf8, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Escapes arbitrary bytes (for `_binary'…'` literals into BINARY/BLOB columns).
    public static func escape(bytes: some Sequence<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        appendEscaped(bytes, to: &out)
        return out
    }

    /// A complete SQL literal: `'escaped'`, or `NULL` for nil.
    public static func literal(_ value: String?) -> String {
        guard let value else { return "NULL" }
        return "'" + escape(value) + "'"
    }

    /// Appends `'escaped'` or `NULL` to a statement buffer (the batched-INSERT hot path).
    static func appendLiteral(_ value: String?, to out: inout [UInt8]) {
        guard let value else {
            out.append(contentsOf: "NULL".utf8)
            return
        }
        out.append(UInt8(ascii: "'"))
        appendEscaped(value.utf8, to: &out)
        out.append(UInt8(ascii: "'"))
    }

    /// Byte-wise, the same table as Connector/C's `mysql_real_escape_string` (libmariadb/ma_charset.c).
    static func appendEscaped(_ bytes: some Sequence<UInt8>, to out: inout [UInt8]) {
        let backslash = UInt8(ascii: "\\")
        for byte in bytes {
            switch byte {
            case 0x00:
                out.append(backslash)
                out.append(UInt8(ascii: "0"))
            case 0x0A:
                out.append(backslash)
                out.append(UInt8(ascii: "n"))
            case 0x0D:
                out.append(backslash)
                out.append(UInt8(ascii: "r"))
            case 0x1A:
                out.append(backslash)
                out.append(UInt8(ascii: "Z"))
            case 0x5C, 0x27, 0x22:
                out.append(backslash)
                out.append(byte)
            default: out.append(byte)
            }
        }
    }
}
