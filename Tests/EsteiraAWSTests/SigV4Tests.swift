import Foundation
import Testing

@testable import EsteiraAWS

// MARK: - AWS's SigV4 test suite

/// Credentials, region, service and time of every case, from the suite's SOURCE.txt.
private enum SuiteSource {
    static let accessKeyID = "AKIDEXAMPLE"
    static let secretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let region = "us-east-1"
    static let service = "service"
    static let date = Date(timeIntervalSince1970: 1_440_938_160)  // 20150830T123600Z
}

@Suite("SigV4: AWS test suite")
struct SigV4SuiteTests {
    @Test("the suite folder is found and holds cases")
    func suiteIsPresent() throws {
        // `all()` throws when the folder is missing or has no case; this test
        // makes that a failure even if the parameterised test is filtered out.
        let cases = try SigV4SuiteCase.all()
        #expect(!cases.isEmpty)
    }

    @Test("case matches .creq, .sts, .authz and .sreq", arguments: try SigV4SuiteCase.all())
    func suiteCase(_ suiteCase: SigV4SuiteCase) throws {
        let request = try suiteCase.request()
        let signedRequest = try suiteCase.signedRequest()
        let expectedCanonicalRequest = try suiteCase.text("creq")
        let expectedStringToSign = try suiteCase.text("sts")
        let expectedAuthorization = try suiteCase.text("authz")

        // Only post-sts-token signs with temporary credentials: there the signed
        // request carries X-Amz-Security-Token. When the request already had it
        // (post-sts-header-before) it is signed; when the signer must add it
        // (post-sts-header-after) the suite adds it after signing.
        let sessionToken = signedRequest.values(of: "x-amz-security-token").first
        let tokenAlreadyInRequest = !request.values(of: "x-amz-security-token").isEmpty
        let signer = SigV4Signer(
            credentials: AWSCredentials(
                accessKeyID: SuiteSource.accessKeyID, secretAccessKey: SuiteSource.secretAccessKey,
                sessionToken: sessionToken),
            region: SuiteSource.region, service: SuiteSource.service,
            sessionTokenPlacement: tokenAlreadyInRequest ? .signed : .addedAfterSigning)

        // The request line is the wire path, which the suite leaves unescaped.
        let payloadHash = Hex.encode(Digest.sha256(request.body))
        let signature = signer.sign(
            method: request.method, encodedPath: request.path, query: request.query, headers: request.headers,
            payloadSHA256Hex: payloadHash, date: SuiteSource.date, uriEncoding: .standard)

        // Stage 1, end to end and on its own.
        #expect(signature.canonicalRequest == expectedCanonicalRequest)
        #expect(
            SigV4.canonicalRequest(
                method: request.method, encodedPath: request.path, query: request.query, headers: request.headers,
                payloadSHA256Hex: payloadHash, uriEncoding: .standard) == expectedCanonicalRequest)
        #expect(signature.stringToSign.hasSuffix("\n" + Hex.encode(Digest.sha256(signature.canonicalRequest))))

        // Stages 3 to 5 on their own, fed the suite's output of the stage before.
        let timestamp = SigV4Timestamp(SuiteSource.date)
        let scope = SigV4.credentialScope(
            date: timestamp.date, region: SuiteSource.region, service: SuiteSource.service)
        let key = SigV4.signingKey(
            secretAccessKey: SuiteSource.secretAccessKey, date: timestamp.date, region: SuiteSource.region,
            service: SuiteSource.service)
        let authorizationFields = try #require(AuthorizationFields(expectedAuthorization))
        #expect(SigV4.signature(signingKey: key, stringToSign: expectedStringToSign) == authorizationFields.signature)
        #expect(
            SigV4.authorization(
                accessKeyID: SuiteSource.accessKeyID, credentialScope: scope,
                signedHeaders: authorizationFields.signedHeaders, signature: authorizationFields.signature)
                == expectedAuthorization)

        // Stage 2 and the end result. Two cases of the published suite
        // (post-x-www-form-urlencoded and -parameters) contradict themselves:
        // their .req/.creq gained a Content-Length header (and charset=utf-8)
        // after their .sts/.authz/.sreq were computed without it (and with
        // charset=utf8), so their .sts is not the SHA-256 of their .creq and
        // no signer can match both. That is detected from the files, not from
        // the case names, and reported as a known issue; every other case must
        // match exactly.
        let suiteIsSelfConsistent =
            expectedStringToSign.split(separator: "\n").last.map(String.init)
            == Hex.encode(Digest.sha256(expectedCanonicalRequest))
        withKnownIssue("the suite's .sts is not the SHA-256 of its .creq (a defect of this vector)") {
            #expect(
                SigV4.stringToSign(
                    canonicalRequest: expectedCanonicalRequest, timestamp: timestamp, credentialScope: scope)
                    == expectedStringToSign)
            #expect(signature.stringToSign == expectedStringToSign)
            #expect(signature.authorization == expectedAuthorization)

            // The signer returns exactly the headers the suite's signed request adds.
            func lines(_ headers: [(String, String)]) -> Set<String> {
                Set(headers.map { "\($0.0.lowercased()):\($0.1.trimmingCharacters(in: .whitespaces))" })
            }
            #expect(lines(signature.headersToAdd) == lines(signedRequest.headers).subtracting(lines(request.headers)))
        } when: {
            !suiteIsSelfConsistent
        }
    }
}

/// `SignedHeaders` and `Signature` out of an Authorization value.
private struct AuthorizationFields {
    let signedHeaders: String
    let signature: String

    init?(_ authorization: String) {
        var fields: [String: String] = [:]
        for part in authorization.split(separator: " ", maxSplits: 1).last?.split(separator: ",") ?? [] {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let signedHeaders = fields["SignedHeaders"], let signature = fields["Signature"] else { return nil }
        self.signedHeaders = signedHeaders
        self.signature = signature
    }
}

// MARK: - Stages and signer beyond the suite

@Suite("SigV4: stages, S3 and the signer")
struct SigV4StageTests {
    @Test("signing key matches AWS's documented derivation example")
    func signingKeyExample() {
        // AWS's example: the suite's secret, 20150830, us-east-1, iam.
        let key = SigV4.signingKey(
            secretAccessKey: SuiteSource.secretAccessKey, date: "20150830", region: "us-east-1", service: "iam")
        #expect(Hex.encode(key) == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    }

    @Test(
        "timestamps are UTC, truncated to the second",
        arguments: [
            (1_440_938_160.0, "20150830", "20150830T123600Z"),
            (1_440_938_160.999, "20150830", "20150830T123600Z"),
            (951_782_400.0, "20000229", "20000229T000000Z"),  // leap day
            (0.0, "19700101", "19700101T000000Z"),
            (-1.0, "19691231", "19691231T235959Z"),
            (4_102_444_799.0, "20991231", "20991231T235959Z"),
        ])
    func timestamp(seconds: Double, date: String, dateTime: String) {
        let timestamp = SigV4Timestamp(Date(timeIntervalSince1970: seconds))
        #expect(timestamp.date == date)
        #expect(timestamp.dateTime == dateTime)
    }

    /// AWS's S3 SigV4 header examples (examplebucket, 20130524T000000Z).
    struct S3Example: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let method: String
        let path: String
        let query: [(String, String)]
        let headers: [(String, String)]
        let payloadSHA256Hex: String
        let requestTarget: String
        let signedHeaders: String
        let signature: String
    }

    static let s3Examples: [S3Example] = [
        S3Example(
            testDescription: "GET Object with Range", method: "GET", path: "/test.txt", query: [],
            headers: [("Range", "bytes=0-9")], payloadSHA256Hex: SigV4.emptyPayloadSHA256,
            requestTarget: "/test.txt", signedHeaders: "host;range;x-amz-content-sha256;x-amz-date",
            signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
        S3Example(
            testDescription: "PUT Object, key with $", method: "PUT", path: "/test$file.text", query: [],
            headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadSHA256Hex: Hex.encode(Digest.sha256("Welcome to Amazon S3.")),
            requestTarget: "/test%24file.text",
            signedHeaders: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
            signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
        S3Example(
            testDescription: "GET Bucket lifecycle (query key without value)", method: "GET", path: "/",
            query: [("lifecycle", "")], headers: [], payloadSHA256Hex: SigV4.emptyPayloadSHA256,
            requestTarget: "/?lifecycle", signedHeaders: "host;x-amz-content-sha256;x-amz-date",
            signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
        S3Example(
            testDescription: "GET Bucket (list objects), query sorted", method: "GET", path: "/",
            query: [("prefix", "J"), ("max-keys", "2")], headers: [], payloadSHA256Hex: SigV4.emptyPayloadSHA256,
            requestTarget: "/?max-keys=2&prefix=J", signedHeaders: "host;x-amz-content-sha256;x-amz-date",
            signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
    ]

    @Test("S3 examples from the AWS documentation", arguments: s3Examples)
    func s3Example(_ example: S3Example) {
        let signer = SigV4Signer(
            credentials: AWSCredentials(
                accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            region: "us-east-1", service: "s3")
        let headers =
            [("Host", "examplebucket.s3.amazonaws.com")] + example.headers
            + [("x-amz-content-sha256", example.payloadSHA256Hex)]
        let added = signer.signedHeaders(
            method: example.method, path: example.path, query: example.query, headers: headers,
            payloadSHA256Hex: example.payloadSHA256Hex, date: Date(timeIntervalSince1970: 1_369_353_600),
            uriEncoding: .s3)

        #expect(added.map(\.0) == ["x-amz-date", "authorization"])
        #expect(added.first?.1 == "20130524T000000Z")
        #expect(
            added.last?.1 == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=\(example.signedHeaders), Signature=\(example.signature)")
        #expect(SigV4URIEncoding.s3.requestTarget(path: example.path, query: example.query) == example.requestTarget)
        let query = example.query.isEmpty ? "" : "?" + SigV4URI.encodeQuery(example.query)
        #expect(SigV4URI.encodePath(example.path, encoding: .s3) + query == example.requestTarget)
    }

    @Test("a session token is signed by default and returned to be sent")
    func sessionTokenSignedByDefault() {
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret", sessionToken: "TOKEN"),
            region: "eu-west-1", service: "sqs")
        let signature = signer.sign(
            method: "POST", encodedPath: "/", query: [], headers: [("host", "sqs.eu-west-1.amazonaws.com")],
            payloadSHA256Hex: SigV4.emptyPayloadSHA256, date: SuiteSource.date, uriEncoding: .standard)
        #expect(signature.headersToAdd.map(\.0) == ["x-amz-date", "x-amz-security-token", "authorization"])
        #expect(signature.headersToAdd[1].1 == "TOKEN")
        #expect(signature.canonicalRequest.contains("\nx-amz-security-token:TOKEN\n"))
        #expect(signature.authorization.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"))
    }

    @Test("UNSIGNED-PAYLOAD is the last line and x-amz-content-sha256 is signed")
    func unsignedPayload() {
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"), region: "us-east-1",
            service: "s3")
        let signature = signer.sign(
            method: "PUT", encodedPath: "/bucket/key.csv", query: [],
            headers: [("Host", "bucket.s3.amazonaws.com"), ("X-Amz-Content-SHA256", SigV4.unsignedPayload)],
            payloadSHA256Hex: SigV4.unsignedPayload, date: SuiteSource.date, uriEncoding: .s3)
        #expect(signature.canonicalRequest.hasSuffix("\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD"))
        #expect(signature.canonicalRequest.contains("\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"))
    }

    @Test("headers that curl or proxies may rewrite are not signed")
    func unsignedHeaderNames() {
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"), region: "us-east-1",
            service: "s3")
        let added = signer.signedHeaders(
            method: "GET", path: "/b/k", query: [],
            headers: [
                ("Host", "b.s3.amazonaws.com"), ("User-Agent", "esteira/1"), ("Expect", "100-continue"),
                ("Authorization", "stale"), ("x-amz-content-sha256", SigV4.emptyPayloadSHA256),
            ],
            payloadSHA256Hex: SigV4.emptyPayloadSHA256, date: SuiteSource.date, uriEncoding: .s3)
        #expect(added.last?.1.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,") == true)
    }

    @Test("header values: trimmed, spaces collapsed, repeats and folded lines joined by commas")
    func canonicalHeaderValues() {
        let canonical = SigV4.canonicalHeaders([
            ("X-B", "  a \t  b  "), ("x-a", "one"), ("X-A", "two\n   three"), ("x-c", ""),
        ])
        #expect(canonical.block == "x-a:one,two,three\nx-b:a b\nx-c:\n")
        #expect(canonical.signedHeaders == "x-a;x-b;x-c")
    }
}

// MARK: - URI encoding

@Suite("SigV4: URI encoding")
struct SigV4URIEncodingTests {
    @Test(
        "RFC 3986: unreserved kept, the rest %XX uppercase over UTF-8",
        arguments: [
            ("AZaz09-_.~", "AZaz09-_.~"),
            ("a+b", "a%2Bb"),
            ("100%", "100%25"),
            ("k=v", "k%3Dv"),
            ("a b", "a%20b"),
            ("a/b", "a%2Fb"),
            ("ñ", "%C3%B1"),
            ("ሴ", "%E1%88%B4"),
            ("a&b?#", "a%26b%3F%23"),
        ])
    func percentEncode(text: String, encoded: String) {
        #expect(SigV4.percentEncode(text, keepingSlash: false) == encoded)
    }

    @Test("S3: each segment encoded once, '/' kept, path never normalised")
    func s3Paths() {
        let s3 = SigV4URIEncoding.s3
        #expect(s3.encodedPath("/bucket/my key+1.csv") == "/bucket/my%20key%2B1.csv")
        #expect(s3.encodedPath("/bucket/100%=ñ.csv") == "/bucket/100%25%3D%C3%B1.csv")
        #expect(s3.encodedPath("/bucket/a//b/./c/../d") == "/bucket/a//b/./c/../d")
        #expect(s3.encodedPath("") == "/")
        // What is signed is what is sent.
        for path in ["/bucket/my key+1.csv", "/bucket/a//b/./c", "/bucket/ñ%"] {
            #expect(s3.canonicalURI(encodedPath: s3.encodedPath(path)) == s3.encodedPath(path))
        }
    }

    @Test("other services: normalised, sent encoded once, signed encoded twice")
    func standardPaths() {
        let standard = SigV4URIEncoding.standard
        #expect(standard.encodedPath("/a b/+/%/=/ñ") == "/a%20b/%2B/%25/%3D/%C3%B1")
        #expect(
            standard.canonicalURI(encodedPath: standard.encodedPath("/a b/+/%/=/ñ"))
                == "/a%2520b/%252B/%2525/%253D/%25C3%25B1")
        #expect(standard.encodedPath("//a/./b/../c//") == "/a/c/")
        #expect(standard.encodedPath("/a/b/..") == "/a")
        #expect(standard.encodedPath("/../..") == "/")
        #expect(standard.encodedPath("") == "/")
        // Paths of unreserved characters are the same encoded once or twice.
        #expect(standard.canonicalURI(encodedPath: "/123456789012/my-queue.fifo") == "/123456789012/my-queue.fifo")
    }

    @Test("query: canonical sorted by encoded name then value; wire form in the same order")
    func query() {
        let items = [("prefix", "data/2024 01+x=ñ"), ("delete", ""), ("Param", "b"), ("Param", "a"), ("ሴ", "%")]
        #expect(
            SigV4.canonicalQueryString(items)
                == "%E1%88%B4=%25&Param=a&Param=b&delete=&prefix=data%2F2024%2001%2Bx%3D%C3%B1")
        #expect(
            SigV4.encodedQueryString(items)
                == "%E1%88%B4=%25&Param=a&Param=b&delete&prefix=data%2F2024%2001%2Bx%3D%C3%B1")
        #expect(SigV4URIEncoding.s3.requestTarget(path: "/b/k 1", query: [("uploads", "")]) == "/b/k%201?uploads")
        #expect(SigV4.canonicalQueryString([]) == "")
    }
}

// MARK: - Digests

@Suite("Digests over libcrypto")
struct LibcryptoDigestTests {
    @Test(
        "SHA-256 known answers",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
        ])
    func sha256(input: String, hex: String) {
        #expect(Hex.encode(Digest.sha256(input)) == hex)
        #expect(Hex.encode(Digest.sha256(Array(input.utf8))) == hex)
        #expect(Hex.encode(Digest.sha256(Data(input.utf8))) == hex)
    }

    @Test("HMAC-SHA256: RFC 4231 test case 2, and the empty key")
    func hmac() {
        #expect(
            Hex.encode(Digest.hmacSHA256(key: Array("Jefe".utf8), data: "what do ya want for nothing?"))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(
            Hex.encode(Digest.hmacSHA256(key: [UInt8](), data: ""))
                == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test("streaming SHA-256 equals the one-shot digest, whatever the chunking")
    func streaming() {
        var abc = SHA256Hasher()
        abc.update(Array("a".utf8))
        abc.update([UInt8]())
        abc.update(Array("bc".utf8))
        #expect(Hex.encode(abc.finalize()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")

        let data = (0..<1_000_003).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        var hasher = SHA256Hasher()
        var offset = 0
        var chunk = 1
        while offset < data.count {
            let end = min(offset + chunk, data.count)
            data[offset..<end].withUnsafeBytes { hasher.update($0) }
            offset = end
            chunk = chunk * 7 % 65_537 + 1
        }
        #expect(hasher.finalize() == Digest.sha256(data))
    }

    @Test("MD5 and Content-MD5 (RFC 1321 vectors)")
    func md5() throws {
        #expect(Hex.encode(try Digest.md5([UInt8]())) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(Hex.encode(try Digest.md5(Array("abc".utf8))) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(try Digest.contentMD5([UInt8]()) == "1B2M2Y8AsgTpgAmY7PhCfg==")
    }

    @Test(
        "base64 (RFC 4648 vectors) and hex",
        arguments: [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ])
    func base64(input: String, encoded: String) {
        #expect(Base64.encode(Array(input.utf8)) == encoded)
        #expect(Base64.encode(Array(input.utf8)) == Data(input.utf8).base64EncodedString())
    }

    @Test("hex is lowercase, two digits a byte")
    func hex() {
        #expect(Hex.encode([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
        #expect(Hex.encode([UInt8]()) == "")
    }

    @Test("OpenSSL failures carry the drained error queue, and leave it empty")
    func openSSLErrorFunnel() throws {
        let first = try #require(throws: OpenSSLError.self) { try fetchDigest(named: "NO-SUCH-DIGEST") }
        #expect(first.failedCall == "EVP_MD_fetch(NO-SUCH-DIGEST)")
        #expect(!first.entries.isEmpty)
        #expect(first.description.contains("unsupported"))
        // Drained: a second failure reports its own entries, not the first's too.
        let second = try #require(throws: OpenSSLError.self) { try fetchDigest(named: "NO-SUCH-DIGEST") }
        #expect(second.entries == first.entries)
    }
}

// MARK: - Credentials

@Suite("AWS credentials")
struct CredentialsRedactionTests {
    @Test("description, debugDescription and dump never show the secret or the token")
    func redacted() {
        let credentials = AWSCredentials(
            accessKeyID: "AKIDEXAMPLE", secretAccessKey: "SECRET-KEY-VALUE", sessionToken: "SESSION-TOKEN-VALUE",
            expiration: Date(timeIntervalSince1970: 0))
        var dumped = ""
        dump(credentials, to: &dumped)
        for text in [credentials.description, String(reflecting: credentials), "\(credentials)", dumped] {
            #expect(text.contains("AKIDEXAMPLE"))
            #expect(!text.contains("SECRET-KEY-VALUE"))
            #expect(!text.contains("SESSION-TOKEN-VALUE"))
        }
    }
}
