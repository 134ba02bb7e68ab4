import Crypto
import NIOCore
import NIOSSH

/// Lets clients that ask for `ssh-userauth` again before each attempt (paramiko does; OpenSSH's sshd
/// allows it) log in after a failed attempt.
///
/// swift-nio-ssh takes a second SERVICE_REQUEST as a protocol violation and drops the connection, and
/// its state machine is not ours to change. The one place our code sees decrypted packets is the
/// transport protection, so the server's ciphers are wrapped: before login, a repeated
/// `SERVICE_REQUEST ssh-userauth` is handed to NIOSSH as a public-key query for a key of this process
/// (which NIOSSH answers with PK_OK on its own, without an attempt reaching the delegate), and that
/// PK_OK is sent to the client as the SERVICE_ACCEPT it waits for. Everything else passes untouched.
enum RepeatedServiceRequest {
    /// The bundled ciphers, wrapped; the bundled ones as they are if a later NIOSSH renames them.
    static var transportProtectionSchemes: [NIOSSHTransportProtection.Type] {
        guard TolerantAES256GCM.wrappedScheme != nil, TolerantAES128GCM.wrappedScheme != nil else {
            return Constants.bundledTransportProtectionSchemes.map { $0 as NIOSSHTransportProtection.Type }
        }
        return [TolerantAES256GCM.self, TolerantAES128GCM.self]
    }

    static let serviceRequest: UInt8 = 5
    static let serviceAccept: UInt8 = 6
    static let userAuthRequest: UInt8 = 50
    static let userAuthSuccess: UInt8 = 52
    static let userAuthPKOK: UInt8 = 60

    /// The public key blob of the stand-in query: made per process, so no client can name it.
    static let markerKeyBlob: [UInt8] = {
        var b = ByteBuffer()
        writeString(&b, Array("ssh-ed25519".utf8))
        writeString(&b, Array(Curve25519.Signing.PrivateKey().publicKey.rawRepresentation))
        return Array(b.readableBytesView)
    }()

    /// USERAUTH_REQUEST "" ssh-connection publickey FALSE ssh-ed25519 <marker>: a query NIOSSH answers itself.
    static let standInQuery: [UInt8] = {
        var b = ByteBuffer()
        b.writeInteger(userAuthRequest)
        writeString(&b, [])
        writeString(&b, Array("ssh-connection".utf8))
        writeString(&b, Array("publickey".utf8))
        b.writeInteger(UInt8(0))
        writeString(&b, Array("ssh-ed25519".utf8))
        writeString(&b, markerKeyBlob)
        return Array(b.readableBytesView)
    }()

    /// PK_OK "ssh-ed25519" <marker>: NIOSSH's answer to the stand-in query.
    static let standInAnswer: [UInt8] = {
        var b = ByteBuffer()
        b.writeInteger(userAuthPKOK)
        writeString(&b, Array("ssh-ed25519".utf8))
        writeString(&b, markerKeyBlob)
        return Array(b.readableBytesView)
    }()

    static let serviceAcceptMessage: [UInt8] = {
        var b = ByteBuffer()
        b.writeInteger(serviceAccept)
        writeString(&b, Array("ssh-userauth".utf8))
        return Array(b.readableBytesView)
    }()

    static let userAuthServiceRequest: [UInt8] = {
        var b = ByteBuffer()
        b.writeInteger(serviceRequest)
        writeString(&b, Array("ssh-userauth".utf8))
        return Array(b.readableBytesView)
    }()

    static func writeString(_ b: inout ByteBuffer, _ bytes: [UInt8]) {
        b.writeInteger(UInt32(bytes.count))
        b.writeBytes(bytes)
    }
}

/// A bundled cipher with the rewriting above; one instance per connection and key exchange, used on
/// the connection's event loop only.
class ServiceRequestTolerantProtection: NIOSSHTransportProtection {
    class var wrappedCipherName: String { fatalError("subclass") }

    static var wrappedScheme: NIOSSHTransportProtection.Type? {
        Constants.bundledTransportProtectionSchemes.first { $0.cipherName == wrappedCipherName }
    }

    private static var scheme: NIOSSHTransportProtection.Type { wrappedScheme! }
    static var cipherName: String { scheme.cipherName }
    static var macName: String? { scheme.macName }
    static var cipherBlockSize: Int { scheme.cipherBlockSize }
    static var keySizes: ExpectedKeySizes { scheme.keySizes }

    private let inner: NIOSSHTransportProtection
    private var sawServiceRequest = false
    private var loggedIn = false
    private var standInsPending = 0

    required init(initialKeys: NIOSSHSessionKeys) throws {
        inner = try Self.scheme.init(initialKeys: initialKeys)
    }

    var macBytes: Int { inner.macBytes }
    var lengthEncrypted: Bool { inner.lengthEncrypted }
    func updateKeys(_ newKeys: NIOSSHSessionKeys) throws { try inner.updateKeys(newKeys) }
    func decryptFirstBlock(_ source: inout ByteBuffer) throws { try inner.decryptFirstBlock(&source) }

    func decryptAndVerifyRemainingPacket(_ source: inout ByteBuffer, sequenceNumber: UInt32) throws -> ByteBuffer {
        let payload = try inner.decryptAndVerifyRemainingPacket(&source, sequenceNumber: sequenceNumber)
        guard !loggedIn, payload.readableBytesView.elementsEqual(RepeatedServiceRequest.userAuthServiceRequest) else {
            return payload
        }
        guard sawServiceRequest else {
            sawServiceRequest = true
            return payload
        }
        standInsPending += 1
        return ByteBuffer(bytes: RepeatedServiceRequest.standInQuery)
    }

    func encryptPacket(_ destination: inout ByteBuffer, sequenceNumber: UInt32) throws {
        // The plaintext packet: uint32 length, byte padding length, payload, padding.
        let start = destination.readerIndex
        if let length = destination.getInteger(at: start, as: UInt32.self),
            let padding = destination.getInteger(at: start + 4, as: UInt8.self),
            Int(length) > Int(padding) + 1, let kind = destination.getInteger(at: start + 5, as: UInt8.self)
        {
            if kind == RepeatedServiceRequest.userAuthSuccess {
                loggedIn = true
            } else if kind == RepeatedServiceRequest.userAuthPKOK, standInsPending > 0,
                let payload = destination.viewBytes(at: start + 5, length: Int(length) - Int(padding) - 1),
                payload.elementsEqual(RepeatedServiceRequest.standInAnswer)
            {
                standInsPending -= 1
                destination.moveWriterIndex(to: start)
                writePacket(RepeatedServiceRequest.serviceAcceptMessage, to: &destination)
            }
        }
        try inner.encryptPacket(&destination, sequenceNumber: sequenceNumber)
    }

    /// RFC 4253 §6 framing, as NIOSSH's own serializer does it.
    private func writePacket(_ payload: [UInt8], to buffer: inout ByteBuffer) {
        let block = max(8, Self.cipherBlockSize)
        let framed = (inner.lengthEncrypted ? 5 : 1) + payload.count
        var padding = block - framed % block
        if padding < 4 { padding += block }
        buffer.writeInteger(UInt32(1 + payload.count + padding))
        buffer.writeInteger(UInt8(padding))
        buffer.writeBytes(payload)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<padding { buffer.writeInteger(UInt8.random(in: 0...255, using: &rng)) }
    }
}

final class TolerantAES256GCM: ServiceRequestTolerantProtection {
    override class var wrappedCipherName: String { "aes256-gcm@openssh.com" }
}

final class TolerantAES128GCM: ServiceRequestTolerantProtection {
    override class var wrappedCipherName: String { "aes128-gcm@openssh.com" }
}
