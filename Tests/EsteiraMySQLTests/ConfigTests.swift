import Testing

@testable import EsteiraMySQL

@Suite("MySQLConfig")
struct ConfigTests {
    @Test func parsesAFullURLAndPercentDecodesCredentials() throws {
        let config = try MySQLConfig(
            url:
                "mysql://est%C3%A9ira:p%40ss%3Aw%2Fd%3F%23@db.internal:3307/my%5Fdb?socket=%2Ftmp%2Fm.sock"
                + "&ssl-mode=verify_ca&ssl-ca=/etc/rds.pem&connect-timeout=3&read-timeout=60&write-timeout=30")
        #expect(config.user == "estéira")
        #expect(config.password == "p@ss:w/d?#")
        #expect(config.host == "db.internal")
        #expect(config.port == 3307)
        #expect(config.database == "my_db")
        #expect(config.unixSocket == "/tmp/m.sock")
        #expect(config.tlsMode == .verifyCA)
        #expect(config.tlsCAFile == "/etc/rds.pem")
        #expect(config.connectTimeout == .seconds(3))
        #expect(config.readTimeout == .seconds(60))
        #expect(config.writeTimeout == .seconds(30))
        #expect(config.charset == "utf8mb4")
    }

    @Test func defaultsAreSane() throws {
        let config = try MySQLConfig(url: "mysql://esteira@localhost")
        #expect(config.port == 3306)
        #expect(config.password == "")
        #expect(config.database == nil)
        #expect(config.charset == "utf8mb4")
        #expect(config.tlsMode == .preferred)
    }

    @Test(
        "TLS is verified by default unless the server is on this machine",
        arguments: [
            ("127.0.0.1", MySQLConfig.TLSMode.preferred),
            ("localhost", .preferred),
            ("[::1]", .preferred),
            ("mydb.abc123.eu-west-1.rds.amazonaws.com", .verifyIdentity),
            ("10.0.0.5", .verifyIdentity),
        ])
    func defaultTLSMode(host: String, expected: MySQLConfig.TLSMode) throws {
        let config = try MySQLConfig(url: "mysql://u:p@\(host):3306/db")
        #expect(config.tlsMode == expected)
    }

    @Test func parsesIPv6Hosts() throws {
        let config = try MySQLConfig(url: "mysql://u:p@[fd00::1]:3310/db")
        #expect(config.host == "fd00::1")
        #expect(config.port == 3310)
        #expect(config.redactedURL.contains("[fd00::1]:3310"))
    }

    @Test func neverShowsThePassword() throws {
        let config = try MySQLConfig(url: "mysql://esteira:Hunter2-s3cret@db.example.com:3306/esteira")
        for text in [
            config.description, config.debugDescription, String(describing: config),
            String(reflecting: config), "\(config)", dumped(config),
        ] {
            #expect(!text.contains("Hunter2"), "password leaked: \(text)")
        }
        #expect(config.description == "mysql://esteira:***@db.example.com:3306/esteira?ssl-mode=VERIFY_IDENTITY")
    }

    @Test(
        "bad URLs are refused with an error that does not echo the password",
        arguments: [
            "postgres://u:Hunter2@h/db",
            "mysql://u:Hunter2@h:99999/db",
            "mysql://u:Hunter2@h:port/db",
            "mysql://u:Hunter2@h/db?sslmode=sometimes",
            "mysql://u:Hunter2@h/db?colour=blue",
            "mysql://u:Hunter2@h/db?charset=gbk",
            "mysql://u:Hunter2@h/db?read-timeout=0",
            "mysql://u:Hunt%zzer2@h/db",
            "mysql://u:Hun?ter2@h/db",
            "mysql://u:Hun/ter2@h/db",
            "mysql://u:Hun#ter2@h/db",
            "mysql://:Hunter2@h/db",
            "mysql://h/db",
        ])
    func refusesBadURLs(url: String) {
        do {
            _ = try MySQLConfig(url: url)
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(
                !error.description.contains("Hunter2") && !error.description.contains("ter2"),
                "password leaked: \(error)")
            #expect(error.isPermanent)
        }
    }

    private func dumped(_ value: some Any) -> String {
        var out = ""
        dump(value, to: &out)
        return out
    }
}
