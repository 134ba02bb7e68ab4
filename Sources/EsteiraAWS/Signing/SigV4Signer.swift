#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Signs requests for one service in one region with one set of credentials.
///
/// A value type with no cache: deriving the signing key is four HMACs, a few
/// microseconds, which is less than the bookkeeping a per-day key cache shared
/// across tasks would need. Make a new signer when credentials are refreshed.
public struct SigV4Signer: Sendable {
    /// Where the session token of temporary credentials goes.
    ///
    /// AWS's suite shows both (post-sts-token): most services, and the AWS SDKs,
    /// sign `x-amz-security-token`; a few older ones want it added after the
    /// signature is computed.
    public enum SessionTokenPlacement: Sendable, Hashable {
        /// Signed like any other header (post-sts-header-before). The default.
        case signed
        /// Added to the request but left out of the signature (post-sts-header-after).
        case addedAfterSigning
    }

    /// Headers never signed even when passed in: `authorization` is the
    /// output; the others may be changed on the way by curl or proxies (curl
    /// adds or drops `Expect: 100-continue`), which would break the signature.
    /// The same list as botocore.
    public static let unsignedHeaderNames: Set<String> = ["authorization", "user-agent", "expect", "x-amzn-trace-id"]

    public let credentials: AWSCredentials
    public let region: String
    public let service: String
    public let sessionTokenPlacement: SessionTokenPlacement

    public init(
        credentials: AWSCredentials, region: String, service: String,
        sessionTokenPlacement: SessionTokenPlacement = .signed
    ) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.sessionTokenPlacement = sessionTokenPlacement
    }

    /// Signs a request and returns the headers to add to it: `x-amz-date`
    /// and `x-amz-security-token` (when there is a session token) unless
    /// `headers` already has them, then `authorization`. Names are lowercase.
    ///
    /// - Parameters:
    ///   - path: the logical (decoded) path, e.g. `/bucket/my key+1.csv`. Send
    ///     `uriEncoding.encodedPath(path)` (or `uriEncoding.requestTarget(...)`)
    ///     on the request line, which is what is signed.
    ///   - query: decoded query items; send ``SigV4/encodedQueryString(_:)``.
    ///   - headers: the headers as they will be sent, `host` included. Pass
    ///     `x-amz-content-sha256` here for S3 (it is then signed); it must
    ///     equal `payloadSHA256Hex`.
    ///   - payloadSHA256Hex: hex SHA-256 of the body, or ``SigV4/unsignedPayload``.
    ///   - date: the signing time; a caller-supplied `x-amz-date` must match it.
    public func signedHeaders(
        method: String, path: String, query: [(String, String)], headers: [(String, String)],
        payloadSHA256Hex: String, date: Date, uriEncoding: SigV4URIEncoding
    ) -> [(String, String)] {
        sign(
            method: method, encodedPath: uriEncoding.encodedPath(path), query: query, headers: headers,
            payloadSHA256Hex: payloadSHA256Hex, date: date, uriEncoding: uriEncoding
        ).headersToAdd
    }

    /// As ``signedHeaders(method:path:query:headers:payloadSHA256Hex:date:uriEncoding:)``
    /// for a path already percent-encoded as it will be sent (e.g. the path of
    /// an SQS queue URL returned by AWS).
    public func signedHeaders(
        method: String, encodedPath: String, query: [(String, String)], headers: [(String, String)],
        payloadSHA256Hex: String, date: Date, uriEncoding: SigV4URIEncoding
    ) -> [(String, String)] {
        sign(
            method: method, encodedPath: encodedPath, query: query, headers: headers,
            payloadSHA256Hex: payloadSHA256Hex, date: date, uriEncoding: uriEncoding
        ).headersToAdd
    }

    /// Every stage's output for a request, for tests and for diagnosing a
    /// `SignatureDoesNotMatch` (whose error body carries the server's
    /// canonical request to compare with ``SigV4Signature/canonicalRequest``).
    public func sign(
        method: String, encodedPath: String, query: [(String, String)], headers: [(String, String)],
        payloadSHA256Hex: String, date: Date, uriEncoding: SigV4URIEncoding
    ) -> SigV4Signature {
        let timestamp = SigV4Timestamp(date)
        var toSign: [(String, String)] = []
        toSign.reserveCapacity(headers.count + 2)
        var hasDate = false
        var hasToken = false
        var hasHost = false
        for (name, value) in headers {
            let lowercased = SigV4.lowercasedASCII(name)
            if Self.unsignedHeaderNames.contains(lowercased) { continue }
            switch lowercased {
            case "x-amz-date":
                hasDate = true
                assert(
                    value == timestamp.dateTime,
                    "x-amz-date \(value) differs from the signing date \(timestamp.dateTime)")
            case "x-amz-security-token":
                hasToken = true
            case "x-amz-content-sha256":
                assert(value == payloadSHA256Hex, "x-amz-content-sha256 differs from the signed payload hash")
            case "host":
                hasHost = true
            default:
                break
            }
            toSign.append((name, value))
        }
        assert(hasHost, "SigV4 requires the host header to be signed; pass it in headers")

        var headersToAdd: [(String, String)] = []
        if !hasDate {
            toSign.append(("x-amz-date", timestamp.dateTime))
            headersToAdd.append(("x-amz-date", timestamp.dateTime))
        }
        if let token = credentials.sessionToken, !hasToken {
            if sessionTokenPlacement == .signed { toSign.append(("x-amz-security-token", token)) }
            headersToAdd.append(("x-amz-security-token", token))
        }

        let canonicalHeaders = SigV4.canonicalHeaders(toSign)
        let canonicalRequest = SigV4.canonicalRequest(
            method: method,
            canonicalURI: uriEncoding.canonicalURI(encodedPath: encodedPath),
            canonicalQueryString: SigV4.canonicalQueryString(query),
            canonicalHeaders: canonicalHeaders,
            payloadSHA256Hex: payloadSHA256Hex)
        let scope = SigV4.credentialScope(date: timestamp.date, region: region, service: service)
        let stringToSign = SigV4.stringToSign(
            canonicalRequest: canonicalRequest, timestamp: timestamp, credentialScope: scope)
        let key = SigV4.signingKey(
            secretAccessKey: credentials.secretAccessKey, date: timestamp.date, region: region, service: service)
        let signature = SigV4.signature(signingKey: key, stringToSign: stringToSign)
        let authorization = SigV4.authorization(
            accessKeyID: credentials.accessKeyID, credentialScope: scope,
            signedHeaders: canonicalHeaders.signedHeaders, signature: signature)
        headersToAdd.append(("authorization", authorization))

        return SigV4Signature(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
            authorization: authorization, headersToAdd: headersToAdd)
    }
}

/// The outputs of every SigV4 stage for one request.
public struct SigV4Signature: Sendable {
    public let canonicalRequest: String
    public let stringToSign: String
    /// Hex signature (stage 4).
    public let signature: String
    /// The `Authorization` header value (stage 5).
    public let authorization: String
    /// Headers to add to the request, lowercase names, `authorization` last.
    public let headersToAdd: [(String, String)]
}
