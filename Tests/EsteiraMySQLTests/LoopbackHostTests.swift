import EsteiraMySQL
import Testing

/// TLS is only preferred (not verified) for a server on this machine, and "on this machine" is decided by
/// the address, never by how the name starts: `127.example.com` is anybody's host.
@Suite("Loopback by address, not by text (MySQL)")
struct LoopbackHostTests {
    @Test(
        "the default TLS mode follows the parsed address",
        arguments: [
            ("127.0.0.1", MySQLConfig.TLSMode.preferred),
            ("127.8.9.10", .preferred),
            ("127.255.255.255", .preferred),
            ("::1", .preferred),
            ("0:0:0:0:0:0:0:1", .preferred),
            ("0000::0001", .preferred),
            ("localhost", .preferred),  // Connector/C takes the Unix socket for it
            ("LocalHost", .preferred),
            ("127.example.com", .verifyIdentity),
            ("127.0.0.1.nip.io", .verifyIdentity),
            ("127.db.internal", .verifyIdentity),
            ("127", .verifyIdentity),
            ("127.1", .verifyIdentity),  // inet_aton's short form: not taken as loopback
            ("0177.0.0.1", .verifyIdentity),  // octal to inet_aton: not taken as loopback
            ("127.0.0.01", .verifyIdentity),
            ("127.0.0.256", .verifyIdentity),
            ("127.0.0.1 ", .verifyIdentity),
            ("128.0.0.1", .verifyIdentity),
            ("126.255.255.255", .verifyIdentity),
            ("::2", .verifyIdentity),
            ("::ffff:127.0.0.1", .verifyIdentity),
            ("::1%lo", .verifyIdentity),
            ("localhost.example.com", .verifyIdentity),
            ("localhost.", .verifyIdentity),
            ("", .verifyIdentity),
        ])
    func defaultTLSMode(host: String, expected: MySQLConfig.TLSMode) {
        #expect(MySQLConfig.defaultTLSMode(host: host, unixSocket: nil) == expected, "\(host.debugDescription)")
    }

    @Test(
        "URLs reach the same decision",
        arguments: [
            ("mysql://u@127.example.com/db", MySQLConfig.TLSMode.verifyIdentity),
            ("mysql://u@127.0.0.1:13306/db", .preferred),
            ("mysql://u@[::1]:3306/db", .preferred),
            ("mysql://u@[::ffff:127.0.0.1]:3306/db", .verifyIdentity),
        ])
    func fromURL(url: String, expected: MySQLConfig.TLSMode) throws {
        #expect(try MySQLConfig(url: url).tlsMode == expected)
    }
}
