#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// AWS Signature Version 4, one function per stage of the specification:
///
/// 1. ``canonicalRequest(method:canonicalURI:canonicalQueryString:canonicalHeaders:payloadSHA256Hex:)``
/// 2. ``stringToSign(canonicalRequest:timestamp:credentialScope:)``
/// 3. ``signingKey(secretAccessKey:date:region:service:)``
/// 4. ``signature(signingKey:stringToSign:)``
/// 5. ``authorization(accessKeyID:credentialScope:signedHeaders:signature:)``
///
/// Each is pure and checked on its own against AWS's test suite; ``SigV4Signer``
/// strings them together for a request.
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// The payload hash to sign when the body is not hashed (S3 only; the
    /// request must then carry `x-amz-content-sha256: UNSIGNED-PAYLOAD`).
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// SHA-256 of the empty body, hex: the payload hash of GET, HEAD and DELETE.
    public static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    // MARK: Stage 1: canonical request

    /// Stage 1: the canonical request, six lines joined by `\n`.
    public static func canonicalRequest(
        method: String,
        canonicalURI: String,
        canonicalQueryString: String,
        canonicalHeaders: SigV4CanonicalHeaders,
        payloadSHA256Hex: String
    ) -> String {
        // `canonicalHeaders.block` ends with its own `\n`, which with the
        // separator gives the blank line the format requires.
        [
            method, canonicalURI, canonicalQueryString, canonicalHeaders.block, canonicalHeaders.signedHeaders,
            payloadSHA256Hex,
        ].joined(separator: "\n")
    }

    /// Stage 1 from request parts: `encodedPath` as sent on the wire (see
    /// ``SigV4URIEncoding``), `query` decoded, `headers` as sent.
    public static func canonicalRequest(
        method: String,
        encodedPath: String,
        query: [(String, String)],
        headers: [(String, String)],
        payloadSHA256Hex: String,
        uriEncoding: SigV4URIEncoding
    ) -> String {
        canonicalRequest(
            method: method,
            canonicalURI: uriEncoding.canonicalURI(encodedPath: encodedPath),
            canonicalQueryString: canonicalQueryString(query),
            canonicalHeaders: canonicalHeaders(headers),
            payloadSHA256Hex: payloadSHA256Hex)
    }

    /// The canonical form of `headers`: names lowercased; each value trimmed
    /// with runs of spaces and tabs collapsed to one space; a value folded over
    /// several lines becomes its lines joined by `,` (what the suite's
    /// get-header-value-multiline expects); a name that occurs several times
    /// gets its values joined by `,` in the order given; sorted by name.
    ///
    /// Every header given is signed: choosing which to leave out is the
    /// signer's job (see ``SigV4Signer``).
    public static func canonicalHeaders(_ headers: [(String, String)]) -> SigV4CanonicalHeaders {
        var valuesByName: [String: [UInt8]] = [:]
        valuesByName.reserveCapacity(headers.count)
        for (name, value) in headers {
            let name = lowercasedASCII(name)
            let isRepeat = valuesByName[name] != nil
            appendCanonicalValue(value, commaFirst: isRepeat, to: &valuesByName[name, default: []])
        }
        let names = valuesByName.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var block: [UInt8] = []
        for name in names {
            block.append(contentsOf: name.utf8)
            block.append(UInt8(ascii: ":"))
            block.append(contentsOf: valuesByName[name]!)
            block.append(UInt8(ascii: "\n"))
        }
        return SigV4CanonicalHeaders(
            block: String(decoding: block, as: UTF8.self),
            signedHeaders: names.joined(separator: ";"))
    }

    /// Header names are ASCII tokens; lowercasing bytes avoids Unicode case
    /// mapping on every header of every request.
    static func lowercasedASCII(_ text: String) -> String {
        if !text.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) { return text }
        return String(
            decoding: text.utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 },
            as: UTF8.self)
    }

    private static func appendCanonicalValue(_ value: String, commaFirst: Bool, to output: inout [UInt8]) {
        if commaFirst { output.append(UInt8(ascii: ",")) }
        var wroteLine = false
        var pendingSpace = false
        var lineHasText = false
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\n"):
                // End of a folded line: the next non-blank line starts a new
                // comma-separated item.
                if lineHasText { wroteLine = true }
                lineHasText = false
                pendingSpace = false
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                if lineHasText { pendingSpace = true }
            default:
                if !lineHasText && wroteLine { output.append(UInt8(ascii: ",")) }
                if pendingSpace { output.append(UInt8(ascii: " ")) }
                pendingSpace = false
                lineHasText = true
                output.append(byte)
            }
        }
    }

    // MARK: Stage 2: string to sign

    /// `date/region/service/aws4_request`, with `date` as `yyyyMMdd`.
    public static func credentialScope(date: String, region: String, service: String) -> String {
        "\(date)/\(region)/\(service)/aws4_request"
    }

    /// Stage 2: algorithm, timestamp, credential scope and the hex SHA-256 of
    /// the canonical request, joined by `\n`.
    public static func stringToSign(
        canonicalRequest: String, timestamp: SigV4Timestamp, credentialScope: String
    ) -> String {
        [algorithm, timestamp.dateTime, credentialScope, Hex.encode(Digest.sha256(canonicalRequest))]
            .joined(separator: "\n")
    }

    // MARK: Stage 3: signing key

    /// Stage 3: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
    public static func signingKey(secretAccessKey: String, date: String, region: String, service: String) -> [UInt8] {
        let dateKey = Digest.hmacSHA256(key: Array(("AWS4" + secretAccessKey).utf8), data: date)
        let regionKey = Digest.hmacSHA256(key: dateKey, data: region)
        let serviceKey = Digest.hmacSHA256(key: regionKey, data: service)
        return Digest.hmacSHA256(key: serviceKey, data: "aws4_request")
    }

    // MARK: Stage 4: signature

    /// Stage 4: hex HMAC-SHA256 of the string to sign under the signing key.
    public static func signature(signingKey: [UInt8], stringToSign: String) -> String {
        Hex.encode(Digest.hmacSHA256(key: signingKey, data: stringToSign))
    }

    // MARK: Stage 5: Authorization header

    /// Stage 5: the `Authorization` header value.
    public static func authorization(
        accessKeyID: String, credentialScope: String, signedHeaders: String, signature: String
    ) -> String {
        "\(algorithm) Credential=\(accessKeyID)/\(credentialScope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }
}

/// Canonical headers as two of the canonical request's lines need them.
public struct SigV4CanonicalHeaders: Sendable, Hashable {
    /// `name:value` lines, sorted by name, each ending in `\n`.
    public let block: String
    /// The lowercased names joined by `;`: the `SignedHeaders` list.
    public let signedHeaders: String
}

/// A signing instant in the two forms SigV4 uses, both UTC.
public struct SigV4Timestamp: Sendable, Hashable {
    /// `yyyyMMdd`, for the credential scope and the signing key.
    public let date: String
    /// `yyyyMMdd'T'HHmmss'Z'`, for `x-amz-date` and the string to sign.
    public let dateTime: String

    /// Formatted by arithmetic rather than `DateFormatter`, which is slow to
    /// create and depends on locale and calendar settings. Sub-second parts are
    /// dropped, as AWS requires.
    public init(_ instant: Date) {
        let seconds = Int64(instant.timeIntervalSince1970.rounded(.down))
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        // Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
        // civil_from_days).
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)

        var digits: [UInt8] = []
        digits.reserveCapacity(16)
        func append(_ value: Int64, width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                digits.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        append(year, width: 4)
        append(month, width: 2)
        append(day, width: 2)
        let date = String(decoding: digits, as: UTF8.self)
        digits.append(UInt8(ascii: "T"))
        append(secondOfDay / 3_600, width: 2)
        append(secondOfDay / 60 % 60, width: 2)
        append(secondOfDay % 60, width: 2)
        digits.append(UInt8(ascii: "Z"))
        self.date = date
        self.dateTime = String(decoding: digits, as: UTF8.self)
    }
}
