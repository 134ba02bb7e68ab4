import EsteiraTestSupport
import Foundation
import Testing

@testable import EsteiraAWS

/// The instance metadata service and the container credential endpoint are local: a proxy configured for
/// AWS traffic must never carry their requests (it would see the tokens, and cannot reach them anyway).
@Suite("Credential endpoints bypass any HTTP proxy")
struct MetadataProxyTests {
    /// A transport whose proxy is a port where nothing listens: anything sent through it fails.
    static func deadProxyOptions() -> HTTPTransportOptions {
        var options = HTTPTransportOptions()
        options.proxy = "http://127.0.0.1:\(closedPort())"
        options.connectTimeout = .seconds(2)
        return options
    }

    static func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static let credentialsJSON =
        #"{"Code":"Success","AccessKeyId":"AKIDLOCAL","SecretAccessKey":"s","Token":"t","Expiration":"2099-01-01T00:00:00Z"}"#

    @Test("the dead proxy really is in the way of ordinary requests (the control)")
    func control() async throws {
        let server = try LoopbackHTTPServer { _ in .respond(status: 200, body: Array("hi".utf8)) }
        defer { server.stop() }
        try await withTransport(Self.deadProxyOptions()) { transport in
            await #expect(throws: TransportError.self) {
                _ = try await transport.send(HTTPRequest(method: "GET", url: server.url + "/", timeout: .seconds(5)))
            }
        }
        #expect(server.requests.isEmpty)
    }

    @Test("IMDSv2 on loopback answers although the proxy is dead")
    func imds() async throws {
        let server = try LoopbackHTTPServer { r in
            switch (r.method, r.path) {
            case ("PUT", "/latest/api/token"): return .respond(status: 200, body: Array("tok".utf8))
            case ("GET", "/latest/meta-data/iam/security-credentials/"):
                return .respond(status: 200, body: Array("node\n".utf8))
            case ("GET", "/latest/meta-data/iam/security-credentials/node"): return .json(200, Self.credentialsJSON)
            default: return .respond(status: 404)
            }
        }
        defer { server.stop() }
        let credentials = try await withTransport(Self.deadProxyOptions()) { transport in
            try await InstanceMetadataCredentials(endpoint: server.url, transport: transport).fetch()
        }
        #expect(credentials.accessKeyID == "AKIDLOCAL")
        // Straight to the endpoint: a proxy would have sent an absolute URI on the request line.
        #expect(server.requests.map(\.target).allSatisfy { $0.hasPrefix("/") })
    }

    @Test("container credentials on loopback answer although the proxy is dead")
    func container() async throws {
        let server = try LoopbackHTTPServer { _ in .json(200, Self.credentialsJSON) }
        defer { server.stop() }
        let credentials = try await withTransport(Self.deadProxyOptions()) { transport in
            try await ContainerCredentials(
                url: server.url + "/v1/credentials", authorizationToken: "t",
                transport: transport
            ).fetch()
        }
        #expect(credentials.accessKeyID == "AKIDLOCAL")
        #expect(server.requests.count == 1)
    }
}
