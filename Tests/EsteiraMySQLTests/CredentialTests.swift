import Foundation
import Testing

@testable import EsteiraMySQL

@Suite("Credentials: RDS secrets, rotation, connection reuse")
struct CredentialTests {
    static let secret =
        #"{"username":"app","password":"S3cr3t-Hunter2","host":"db.abc.eu-west-1.rds.amazonaws.com","port":3306,"dbname":"sales","engine":"mysql","dbInstanceIdentifier":"db"}"#

    @Test func parsesAnRDSSecretWithVerifiedTLSAndHidesThePassword() throws {
        let config = try MySQLConfig(rdsSecret: Self.secret, tlsCAFile: "/etc/ssl/rds-global-bundle.pem")
        #expect(config.user == "app")
        #expect(config.password == "S3cr3t-Hunter2")
        #expect(config.host == "db.abc.eu-west-1.rds.amazonaws.com")
        #expect(config.port == 3306)
        #expect(config.database == "sales")
        #expect(config.tlsMode == .verifyIdentity)
        #expect(config.tlsCAFile == "/etc/ssl/rds-global-bundle.pem")
        for text in [config.description, config.debugDescription, config.redactedURL, String(describing: config)] {
            #expect(!text.contains("Hunter2"), "password leaked: \(text)")
        }
        var dumped = ""
        dump(config, to: &dumped)
        #expect(!dumped.contains("Hunter2"))
    }

    @Test func acceptsAStringPortAndADatabaseOverride() throws {
        let json = #"{"username":"u","password":"p","host":"127.0.0.1","port":"13306"}"#
        let config = try MySQLConfig(rdsSecret: json, database: "esteira")
        #expect(config.port == 13306)
        #expect(config.database == "esteira")
        #expect(config.tlsMode == .preferred, "loopback: no certificate to verify")
    }

    @Test(arguments: [
        ("not json Hunter2", "not valid JSON"),
        (#"["Hunter2"]"#, "not a JSON object"),
        (#"{"password":"Hunter2","host":"h"}"#, #"no "username""#),
        (#"{"username":"u","host":"h"}"#, #"no "password""#),
        (#"{"username":"u","password":"Hunter2"}"#, #"no "host""#),
        (#"{"username":"u","password":"Hunter2","host":"h","port":"x"}"#, "port"),
        (#"{"username":"u","password":"Hunter2","host":"h","port":70000}"#, "1–65535"),
        (#"{"username":"u","password":"Hunter2","host":"h","engine":"postgres"}"#, "postgres"),
    ])
    func refusesBadSecretsWithoutEchoingThem(json: String, expected: String) {
        do {
            _ = try MySQLConfig(rdsSecret: json)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.code == .invalidSecret)
            #expect(error.isPermanent)
            #expect(error.message.contains(expected), "\(error.message)")
            #expect(!error.description.contains("Hunter2"), "secret leaked: \(error)")
        }
    }

    /// A fake Secrets Manager: returns whatever `secret` holds now, counting calls.
    final class FakeSecrets: Sendable {
        let secret: Locked<String>
        let calls = Locked(0)
        init(_ secret: String) { self.secret = Locked(secret) }
        func fetch() async throws -> String {
            calls.withLock { $0 += 1 }
            return secret.value
        }
    }

    static func secretJSON(for config: MySQLConfig, password: String) -> String {
        let object: [String: Any] = [
            "username": config.user, "password": password, "host": config.host,
            "port": config.port, "dbname": config.database ?? "", "engine": "mariadb",
        ]
        let data = try! JSONSerialization.data(withJSONObject: object)
        return String(decoding: data, as: UTF8.self)
    }

    @Test func theSecretIsCachedUntilRefreshedAndFetchedOnceForConcurrentCallers() async throws {
        let fake = FakeSecrets(Self.secret)
        let source = SecretCredentialSource(fetchSecretString: { try await fake.fetch() })
        async let a = source.current()
        async let b = source.current()
        _ = try await (a, b)
        _ = try await source.current()
        #expect(fake.calls.value == 1)
        fake.secret.value = Self.secret.replacingOccurrences(of: "S3cr3t-Hunter2", with: "rotated")
        await source.refresh()
        #expect(try await source.current().password == "rotated")
        #expect(fake.calls.value == 2)
    }

    /// Rotation as the server sees it: the cached secret holds an old password, MySQL says 1045, the source
    /// is refreshed and the connect succeeds with the new one. The test user's real password is never
    /// changed (other tests run in parallel with it); the "old" password is simply a wrong one.
    @Test(.tags(.mysql)) func anAccessDeniedFetchesTheSecretAgain() async throws {
        let real = try TestServer.config()
        guard real.unixSocket == nil else { return }
        let fake = FakeSecrets(Self.secretJSON(for: real, password: "old-password-before-rotation"))
        let source = SecretCredentialSource(tlsMode: .preferred, fetchSecretString: { try await fake.fetch() })
        _ = try await source.current()  // cached: the old password
        fake.secret.value = Self.secretJSON(for: real, password: real.password)  // rotated

        let connection = try await MySQLConnection.connect(using: source)
        #expect(try await connection.query("SELECT 1").scalar == "1")
        #expect(fake.calls.value == 2)
        await connection.close()

        // A secret that is wrong even when fetched again is a permanent error, after one retry only.
        fake.secret.value = Self.secretJSON(for: real, password: "still-wrong")
        await source.refresh()
        await #expect {
            _ = try await MySQLConnection.connect(using: source)
        } throws: { error in
            let error = try #require(error as? MySQLError)
            return error.code == .accessDenied && error.isPermanent && !error.description.contains("still-wrong")
        }
        #expect(fake.calls.value == 4)
    }

    @Test(.tags(.mysql)) func thePoolReusesAHealthyConnectionAndReplacesALostOne() async throws {
        let config = try TestServer.config()
        let pool = MySQLConnectionPool(config: config, maxIdle: 1)
        let first = try await pool.checkout()
        let firstID = first.connectionID
        await pool.checkin(first)
        #expect(await pool.idleCount == 1)
        let again = try await pool.checkout()
        #expect(again.connectionID == firstID, "an idle, healthy connection is reused")
        await pool.checkin(again)

        // Lost while idle (server restart, failover, wait_timeout): the next file gets a new connection.
        let killer = try await MySQLConnection.connect(config)
        try await killer.execute("KILL CONNECTION \(firstID)")
        let replacement = try await pool.checkout()
        #expect(replacement.connectionID != firstID)
        #expect(try await replacement.query("SELECT 1").scalar == "1")
        await pool.checkin(replacement)

        await pool.close()
        await #expect(throws: MySQLError.self) { _ = try await pool.checkout() }
        await killer.close()
    }

    @Test(.tags(.mysql)) func aConnectionGivenBackWithAnOpenLoadIsNotReused() async throws {
        try await withTestDatabase { config in
            let pool = MySQLConnectionPool(config: config)
            let connection = try await pool.checkout()
            try await connection.execute("CREATE TABLE t (v INT) ENGINE=InnoDB")
            let load = try await connection.beginFileLoad(
                table: "t", columns: ["v"], ledger: LedgerRecord(bucket: "b", key: "k", version: "1", fencingToken: 1))
            try await load.append([["1"]])
            await pool.checkin(connection)  // the load is still open: its transaction must not leak to the next file
            #expect(await pool.idleCount == 0)
            #expect(!connection.isUsable)
            let fresh = try await pool.checkout()
            #expect(try await fresh.count("t") == 0)
            #expect(try await fresh.count("esteira_ledger") == 0)
            await pool.checkin(fresh)
            await pool.close()
        }
    }
}
