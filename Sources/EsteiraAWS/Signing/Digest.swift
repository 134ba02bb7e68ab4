internal import COpenSSL

// OpenSSL 3 resolves an algorithm through its providers (a global lock and a
// table lookup) every time a legacy getter such as EVP_sha256() is used.
// Fetching once and sharing the result avoids that on every request; fetched
// EVP_MD/EVP_MAC objects are immutable and documented as safe to share between
// threads, which is what the @unchecked Sendable below asserts.
struct FetchedAlgorithm: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Fetches a digest from the default providers; the error says why it is
/// unavailable (e.g. "unsupported" for MD5 under FIPS).
func fetchDigest(named name: String) throws(OpenSSLError) -> FetchedAlgorithm {
    guard let md = EVP_MD_fetch(nil, name, nil) else {
        throw OpenSSLError.drain(failedCall: "EVP_MD_fetch(\(name))")
    }
    return FetchedAlgorithm(pointer: md)
}

private let sha256Algorithm: FetchedAlgorithm = {
    do {
        return try fetchDigest(named: "SHA256")
    } catch {
        fatalError("\(error)")
    }
}()

private let hmacAlgorithm: FetchedAlgorithm = {
    guard let mac = EVP_MAC_fetch(nil, "HMAC", nil) else {
        fatalError(OpenSSLError.drain(failedCall: "EVP_MAC_fetch(HMAC)").description)
    }
    return FetchedAlgorithm(pointer: mac)
}()

// MD5 is the one digest that can be legitimately missing: a FIPS-only OpenSSL
// configuration refuses it. So its absence is an error for the caller to
// handle, not a trap.
private let md5Algorithm = Result { () throws(OpenSSLError) in try fetchDigest(named: "MD5") }

/// Runs `body` over the bytes of `bytes` without copying when they are already
/// contiguous (arrays, slices, native strings' UTF-8 views, Data).
@inline(__always)
func withContiguousBytes<Bytes: Sequence<UInt8>, Result>(
    _ bytes: Bytes, _ body: (UnsafeRawBufferPointer) -> Result
) -> Result {
    if let result = bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    return Array(bytes).withUnsafeBytes(body)
}

/// One-shot message digests and MACs over libcrypto.
///
/// SHA-256 and HMAC-SHA256 cannot fail short of memory exhaustion or a broken
/// OpenSSL install, so they do not throw (see `requireOpenSSL`); MD5 throws
/// because FIPS configurations disable it.
public enum Digest {
    /// Length in bytes of a SHA-256 digest and of an HMAC-SHA256 tag.
    public static let sha256Length = 32
    /// Length in bytes of an MD5 digest.
    public static let md5Length = 16

    // MARK: SHA-256

    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: sha256Length) { output, count in
            var length: UInt32 = 0
            requireOpenSSL(
                EVP_Digest(bytes.baseAddress, bytes.count, output.baseAddress, &length, sha256Algorithm.pointer, nil),
                "EVP_Digest(SHA256)")
            count = Int(length)
        }
    }

    public static func sha256(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        withContiguousBytes(bytes) { sha256($0) }
    }

    /// SHA-256 of the string's UTF-8 encoding.
    public static func sha256(_ string: String) -> [UInt8] {
        sha256(string.utf8)
    }

    // MARK: HMAC-SHA256

    public static func hmacSHA256(key: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer) -> [UInt8] {
        guard let context = EVP_MAC_CTX_new(hmacAlgorithm.pointer) else {
            fatalError(OpenSSLError.drain(failedCall: "EVP_MAC_CTX_new(HMAC)").description)
        }
        defer { EVP_MAC_CTX_free(context) }
        requireOpenSSL(
            esteira_hmac_sha256_init(context, key.baseAddress?.assumingMemoryBound(to: UInt8.self), key.count),
            "EVP_MAC_init(HMAC-SHA256)")
        if let base = data.baseAddress, data.count > 0 {
            requireOpenSSL(
                EVP_MAC_update(context, base.assumingMemoryBound(to: UInt8.self), data.count),
                "EVP_MAC_update(HMAC-SHA256)")
        }
        return [UInt8](unsafeUninitializedCapacity: sha256Length) { output, count in
            var length = 0
            requireOpenSSL(
                EVP_MAC_final(context, output.baseAddress, &length, output.count),
                "EVP_MAC_final(HMAC-SHA256)")
            count = length
        }
    }

    public static func hmacSHA256(key: some Sequence<UInt8>, data: some Sequence<UInt8>) -> [UInt8] {
        withContiguousBytes(key) { key in
            withContiguousBytes(data) { data in hmacSHA256(key: key, data: data) }
        }
    }

    /// HMAC-SHA256 of the string's UTF-8 encoding; SigV4 MACs strings at every step.
    public static func hmacSHA256(key: some Sequence<UInt8>, data: String) -> [UInt8] {
        hmacSHA256(key: key, data: data.utf8)
    }

    // MARK: MD5

    /// MD5, for the `Content-MD5` header that S3 requires on some calls
    /// (DeleteObjects). Not for anything that needs collision resistance.
    ///
    /// - Throws: ``OpenSSLError`` when the OpenSSL configuration disables MD5 (FIPS).
    public static func md5(_ bytes: some Sequence<UInt8>) throws(OpenSSLError) -> [UInt8] {
        let algorithm = try md5Algorithm.get()
        let (digest, result) = withContiguousBytes(bytes) { bytes -> ([UInt8], Int32) in
            var result: Int32 = 0
            let digest = [UInt8](unsafeUninitializedCapacity: md5Length) { output, count in
                var length: UInt32 = 0
                result = EVP_Digest(bytes.baseAddress, bytes.count, output.baseAddress, &length, algorithm.pointer, nil)
                count = result == 1 ? Int(length) : 0
            }
            return (digest, result)
        }
        // Still on the thread that made the call, so the error queue is its own.
        try checkOpenSSL(result, "EVP_Digest(MD5)")
        return digest
    }

    /// Lowercase hex of a digest, the form SigV4 and checksums are written in;
    /// the same as ``Hex/encode(_:)``.
    public static func hex(_ digest: some Sequence<UInt8>) -> String {
        Hex.encode(digest)
    }

    /// The value of a `Content-MD5` header for `body`: base64 of its MD5.
    public static func contentMD5(_ body: some Sequence<UInt8>) throws(OpenSSLError) -> String {
        Base64.encode(try md5(body))
    }
}

/// Incremental SHA-256, for bodies too large to hold at once (file checksums,
/// S3 payload hashes computed while reading from disk).
///
/// Noncopyable because it owns an `EVP_MD_CTX`: a copy would share the C state
/// and double-free it. `finalize()` consumes the hasher, so it cannot be updated
/// after its digest has been taken.
public struct SHA256Hasher: ~Copyable, @unchecked Sendable {
    // @unchecked: the context is owned by exactly one hasher (noncopyable) and
    // only touched through `mutating`/`consuming` methods, so moving a hasher to
    // another task never shares the C state.
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new() else {
            fatalError(OpenSSLError.drain(failedCall: "EVP_MD_CTX_new").description)
        }
        requireOpenSSL(EVP_DigestInit_ex2(context, sha256Algorithm.pointer, nil), "EVP_DigestInit_ex2(SHA256)")
        self.context = context
    }

    deinit {
        EVP_MD_CTX_free(context)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        feed(bytes)
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        withContiguousBytes(bytes) { feed($0) }
    }

    // Nonmutating so that closures can call it while borrowing `self`; the
    // public entry points are `mutating` to say what they mean.
    private func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        requireOpenSSL(EVP_DigestUpdate(context, base, bytes.count), "EVP_DigestUpdate(SHA256)")
    }

    /// The digest of everything passed to `update`, 32 bytes.
    public consuming func finalize() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Digest.sha256Length) { output, count in
            var length: UInt32 = 0
            requireOpenSSL(EVP_DigestFinal_ex(context, output.baseAddress, &length), "EVP_DigestFinal_ex(SHA256)")
            count = Int(length)
        }
    }
}
