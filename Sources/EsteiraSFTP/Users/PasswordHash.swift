internal import COpenSSL
import Foundation

/// A stored password: scrypt or PBKDF2, in the modular-crypt strings passlib writes, so an operator can
/// make one with `esteira sftp hash-password` or with Python:
///
///     $scrypt$ln=15,r=8,p=1$<salt>$<hash>           salt and hash in base64 without padding
///     $pbkdf2-sha256$600000$<salt>$<hash>            salt and hash in passlib's "ab64" (. for +)
///     $pbkdf2-sha512$210000$<salt>$<hash>
///
/// The KDFs are OpenSSL's (EVP_PBE_scrypt, PKCS5_PBKDF2_HMAC); comparison is constant-time.
public struct PasswordHash: Sendable, Equatable, CustomStringConvertible {
    public enum Algorithm: Sendable, Equatable {
        case scrypt(logN: Int, r: Int, p: Int)
        case pbkdf2(digest: String, iterations: Int)
    }

    public let algorithm: Algorithm
    let salt: [UInt8]
    let hash: [UInt8]

    /// The default for new hashes: scrypt with N=2^15, r=8 (32 MiB, tens of milliseconds), OWASP's advice.
    public static let defaultAlgorithm = Algorithm.scrypt(logN: 15, r: 8, p: 1)

    public var description: String {
        switch algorithm {
        case .scrypt(let logN, let r, let p):
            "$scrypt$ln=\(logN),r=\(r),p=\(p)$\(Base64.encode(salt, ab64: false))$\(Base64.encode(hash, ab64: false))"
        case .pbkdf2(let digest, let iterations):
            "$pbkdf2-\(digest)$\(iterations)$\(Base64.encode(salt, ab64: true))$\(Base64.encode(hash, ab64: true))"
        }
    }

    /// The costs a stored hash may ask for.
    static let scryptBounds = (ln: 1...20, r: 1...16, p: 1...4)
    static let pbkdf2Rounds = 1000...10_000_000
    /// scrypt's working set, 128·r·N bytes.
    static let scryptMaxMemory = 1 << 30

    public init(parsing text: String) throws {
        let fields = text.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 5, fields[0].isEmpty else {
            throw PasswordHashError(
                "'\(Self.redacted(text))' is not a password hash of the form $scrypt$ln=15,r=8,p=1$SALT$HASH "
                    + "or $pbkdf2-sha256$ITERATIONS$SALT$HASH (make one with `esteira sftp hash-password`)")
        }
        switch fields[1] {
        case "scrypt":
            var params: [String: Int] = [:]
            for pair in fields[2].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2, let v = Int(kv[1]) { params[String(kv[0])] = v }
            }
            // Bounds, because every login attempt against this hash pays its cost: ln=20,r=8 is 1 GiB and
            // about a second; beyond that one attempt could take gigabytes.
            guard let ln = params["ln"], let r = params["r"], let p = params["p"], Self.scryptBounds.ln.contains(ln),
                Self.scryptBounds.r.contains(r), Self.scryptBounds.p.contains(p)
            else {
                throw PasswordHashError(
                    "scrypt parameters '\(fields[2])' must be ln=1…20,r=1…16,p=1…4 (each login pays this cost; "
                        + "ln=15,r=8,p=1 is the default of `esteira sftp hash-password`)")
            }
            let memory = 128 * r << ln
            guard memory <= Self.scryptMaxMemory else {
                throw PasswordHashError(
                    "scrypt parameters '\(fields[2])' need \(memory >> 20) MiB per login; at most "
                        + "\(Self.scryptMaxMemory >> 20) MiB (ln=20,r=8) is allowed")
            }
            algorithm = .scrypt(logN: ln, r: r, p: p)
            salt = try Base64.decode(fields[3], ab64: false, what: "scrypt salt")
            hash = try Base64.decode(fields[4], ab64: false, what: "scrypt hash")
        case "pbkdf2-sha256", "pbkdf2-sha512":
            guard let iterations = Int(fields[2]), Self.pbkdf2Rounds.contains(iterations) else {
                throw PasswordHashError(
                    "PBKDF2 iterations '\(fields[2])' must be a number from 1000 to 10000000 "
                        + "(600000 is today's advice for SHA-256; each login pays this cost)")
            }
            algorithm = .pbkdf2(digest: String(fields[1].dropFirst("pbkdf2-".count)), iterations: iterations)
            salt = try Base64.decode(fields[3], ab64: true, what: "PBKDF2 salt")
            hash = try Base64.decode(fields[4], ab64: true, what: "PBKDF2 hash")
        default:
            throw PasswordHashError(
                "'$\(fields[1])$' hashes are not supported; use scrypt or pbkdf2-sha256 (`esteira sftp hash-password`)")
        }
        guard salt.count >= 8, hash.count >= 16 else {
            throw PasswordHashError(
                "the hash's salt (\(salt.count) bytes) or digest (\(hash.count) bytes) is too short")
        }
    }

    init(algorithm: Algorithm, salt: [UInt8], hash: [UInt8]) {
        self.algorithm = algorithm
        self.salt = salt
        self.hash = hash
    }

    /// Hashes a new password with a random 16-byte salt.
    public static func make(password: String, algorithm: Algorithm = defaultAlgorithm) throws -> PasswordHash {
        var salt = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&salt, Int32(salt.count)) == 1 else {
            throw PasswordHashError("OpenSSL could not produce random bytes")
        }
        return PasswordHash(
            algorithm: algorithm, salt: salt,
            hash: try derive(password: password, algorithm: algorithm, salt: salt, length: 32))
    }

    /// Whether `password` matches. Slow by design (the KDF's cost): call it off the event loop.
    public func verify(_ password: String) -> Bool {
        guard let derived = try? Self.derive(password: password, algorithm: algorithm, salt: salt, length: hash.count)
        else {
            return false
        }
        return derived.count == hash.count && CRYPTO_memcmp(derived, hash, hash.count) == 0
    }

    static func derive(password: String, algorithm: Algorithm, salt: [UInt8], length: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        let pass = Array(password.utf8)
        let ok: Int32
        switch algorithm {
        case .scrypt(let logN, let r, let p):
            let n = UInt64(1) << UInt64(logN)
            // OpenSSL refuses above maxmem; allow what these parameters need (128·r·N, plus 128·r·p) and a margin.
            let maxmem = 128 * UInt64(r) * (n + UInt64(p) + 2) + (1 << 20)
            ok = EVP_PBE_scrypt(
                pass.map { CChar(bitPattern: $0) }, pass.count, salt, salt.count, n, UInt64(r), UInt64(p),
                maxmem, &out, length)
        case .pbkdf2(let digest, let iterations):
            let md = digest == "sha512" ? EVP_sha512() : EVP_sha256()
            ok = PKCS5_PBKDF2_HMAC(
                pass.map { CChar(bitPattern: $0) }, Int32(pass.count), salt, Int32(salt.count),
                Int32(iterations), md, Int32(length), &out)
        }
        guard ok == 1 else {
            ERR_clear_error()
            throw PasswordHashError("OpenSSL could not derive the key (\(algorithm))")
        }
        return out
    }

    static func redacted(_ s: String) -> String { s.count > 12 ? String(s.prefix(12)) + "…" : s }
}

public struct PasswordHashError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Base64 without padding, and passlib's "ab64" variant (`.` instead of `+`).
enum Base64 {
    static func encode(_ bytes: [UInt8], ab64: Bool) -> String {
        var s = Data(bytes).base64EncodedString()
        while s.hasSuffix("=") { s.removeLast() }
        return ab64 ? s.replacingOccurrences(of: "+", with: ".") : s
    }

    static func decode(_ text: String, ab64: Bool, what: String) throws -> [UInt8] {
        var s = ab64 ? text.replacingOccurrences(of: ".", with: "+") : text
        while s.count % 4 != 0 { s += "=" }
        guard let d = Data(base64Encoded: s) else { throw PasswordHashError("the \(what) is not valid base64") }
        return Array(d)
    }
}
