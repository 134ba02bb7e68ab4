import Testing

@testable import EsteiraAWS

/// Container credentials over plain HTTP only to this machine or the ECS/EKS agent, decided by the parsed
/// address: `127.example.com` is anybody's host, and the answer is a set of keys.
@Suite("Loopback by address, not by text (container credentials)")
struct LoopbackHostTests {
    @Test(
        "plain HTTP is allowed only to loopback addresses and the agents",
        arguments: [
            ("http://127.0.0.1:8080/creds", true),
            ("http://127.3.2.1/creds", true),
            ("http://[::1]:8080/creds", true),
            ("http://[0:0:0:0:0:0:0:1]/creds", true),
            ("http://localhost:8080/creds", true),
            ("http://169.254.170.2/v2/creds", true),
            ("http://169.254.170.23/v1/credentials", true),
            ("http://[fd00:ec2::23]/v1/credentials", true),
            ("http://[fd00:ec2:0::23]/v1/credentials", true),
            ("https://creds.example.com/x", true),
            ("http://127.example.com/creds", false),
            ("http://127.0.0.1.nip.io/creds", false),
            ("http://127.1/creds", false),
            ("http://0x7f000001/creds", false),
            ("http://2130706433/creds", false),
            ("http://0177.0.0.1/creds", false),
            ("http://[::ffff:127.0.0.1]/creds", false),
            ("http://[::2]/creds", false),
            ("http://169.254.170.3/creds", false),
            ("http://localhost.example.com/creds", false),
            ("http://example.com/creds", false),
        ])
    func fullURI(uri: String, allowed: Bool) {
        let result = Result { try ContainerCredentials.fromEnvironment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": uri]) }
        switch result {
        case .success(let c): #expect(allowed && c?.url == uri, "\(uri) was accepted")
        case .failure(let e): #expect(!allowed && "\(e)".contains("must be https"), "\(uri): \(e)")
        }
    }

    @Test(
        "the address parser",
        arguments: [
            ("127.0.0.1", true), ("127.255.0.9", true), ("::1", true), ("[::1]", true), ("0::1", true),
            ("localhost", true), ("LOCALHOST", true),
            ("127.example.com", false), ("127.1", false), ("127.0.0.1.", false), ("1.2.3.4", false), ("::", false),
            ("localhost.", false), ("", false), ("[::1", false), ("127.0.0.1:80", false),
        ])
    func parser(host: String, loopback: Bool) {
        #expect(LoopbackAddress.isLoopback(host) == loopback, "\(host.debugDescription)")
    }
}
