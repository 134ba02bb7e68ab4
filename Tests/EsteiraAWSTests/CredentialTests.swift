import EsteiraSync
import EsteiraTestSupport
import Foundation
import Testing

@testable import EsteiraAWS

/// A folder of its own for one test's config files and tokens.
func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "esteira-aws-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func write(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

@Suite("Shared config files and the credential chain")
struct CredentialChainTests {
    @Test("config and credentials files merge per profile, the credentials file winning")
    func parseFiles() throws {
        let dir = try temporaryDirectory()
        try write(
            """
            # comment
            [default]
            region = eu-west-1
            [profile ci]
            region = sa-east-1 ; inline comment
            s3 =
              addressing_style = path
            role_arn = arn:aws:iam::123456789012:role/ci
            source_profile = base
            [sso-session x]
            sso_region = us-east-1
            """, to: dir + "/config")
        try write(
            """
            [base]
            aws_access_key_id = AKIDBASE
            aws_secret_access_key = se#cret
            [default]
            region = us-west-2
            """, to: dir + "/credentials")
        let files = SharedConfigFiles.load([
            "AWS_CONFIG_FILE": dir + "/config", "AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
        ])
        #expect(files.profiles["default"]?["region"] == "us-west-2")
        #expect(files.profiles["ci"]?["region"] == "sa-east-1")
        #expect(files.profiles["ci"]?["addressing_style"] == nil)
        #expect(files.profiles["base"]?["aws_secret_access_key"] == "se#cret")
        #expect(files.profiles["x"] == nil)
    }

    @Test("region comes from AWS_REGION, then AWS_DEFAULT_REGION, then the profile")
    func region() {
        let files = SharedConfigFiles(profiles: ["default": ["region": "eu-west-3"], "p": ["region": "ap-south-1"]])
        #expect(AWSCredentialChain.region(env: ["AWS_REGION": "a", "AWS_DEFAULT_REGION": "b"], files: files) == "a")
        #expect(AWSCredentialChain.region(env: ["AWS_DEFAULT_REGION": "b"], files: files) == "b")
        #expect(AWSCredentialChain.region(env: [:], files: files) == "eu-west-3")
        #expect(AWSCredentialChain.region(env: ["AWS_PROFILE": "p"], files: files) == "ap-south-1")
        #expect(AWSCredentialChain.region(env: ["AWS_PROFILE": "none"], files: files) == nil)
    }

    static let keys = ["aws_access_key_id": "AKIDFILE", "aws_secret_access_key": "s"]

    @Test(
        "sources are chosen in the SDKs' order",
        arguments: [
            (
                [
                    "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "B", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t",
                    "AWS_ROLE_ARN": "r",
                ], "environment"
            ),
            (["AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "r"], "profile 'default'"),
            (
                [
                    "AWS_PROFILE": "empty", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "r",
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/creds",
                ], "web identity"
            ),
            (
                ["AWS_PROFILE": "empty", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials"],
                "container"
            ),
            (["AWS_PROFILE": "empty"], "IMDSv2"),
        ])
    func order(env: [String: String], source: String) throws {
        let files = SharedConfigFiles(profiles: ["default": Self.keys, "empty": ["region": "x"]])
        #expect(try AWSCredentialChain.resolve(env: env, files: files, region: "us-east-1").source == source)
    }

    @Test(
        "misconfigurations say what to fix",
        arguments: [
            (["AWS_PROFILE": "missing"], "names no profile"),
            (["AWS_PROFILE": "loop1"], "source_profile loop"),
            (["AWS_PROFILE": "norole"], "no source_profile, credential_source or web_identity_token_file"),
            (["AWS_PROFILE": "process"], "credential_process"),
            (["AWS_PROFILE": "empty", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t"], "AWS_ROLE_ARN"),
            (
                ["AWS_PROFILE": "empty", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://example.com/creds"],
                "must be https"
            ),
            (["AWS_PROFILE": "empty", "AWS_EC2_METADATA_DISABLED": "true"], "no AWS credentials"),
        ])
    func misconfigurations(env: [String: String], mentions: String) {
        let files = SharedConfigFiles(profiles: [
            "empty": [:],
            "loop1": ["role_arn": "r", "source_profile": "loop2"],
            "loop2": ["role_arn": "r", "source_profile": "loop1"],
            "norole": ["role_arn": "r"],
            "process": ["credential_process": "/bin/creds"],
        ])
        #expect { _ = try AWSCredentialChain.resolve(env: env, files: files, region: "us-east-1") } throws: { error in
            "\(error)".contains(mentions)
        }
    }

    @Test("AWSConfig.fromEnvironment takes its region and credentials from a profile")
    func configFromProfile() async throws {
        let dir = try temporaryDirectory()
        try write("[profile dev]\nregion = eu-central-1\n", to: dir + "/config")
        try write(
            "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s\naws_session_token = t\n",
            to: dir + "/credentials")
        let config = try AWSConfig.fromEnvironment([
            "AWS_PROFILE": "dev", "AWS_CONFIG_FILE": dir + "/config",
            "AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
        ])
        #expect(config.region == "eu-central-1")
        #expect(config.credentialSource == "profile 'dev'")
        let creds = try await config.credentials.credentials()
        #expect(creds.accessKeyID == "AKIDDEV")
        #expect(creds.sessionToken == "t")
    }
}

/// A clock tests can move.
final class TestClock: Sendable {
    private let time = Locked(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { time.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { time.withLock { $0 += seconds } }
}

@Suite("Refreshing credentials")
struct RefreshingCredentialsTests {
    static func creds(_ id: String, expiring at: Date) -> AWSCredentials {
        AWSCredentials(accessKeyID: id, secretAccessKey: "s", sessionToken: "t", expiration: at)
    }

    @Test("concurrent callers share one refresh")
    func singleFlight() async throws {
        let clock = TestClock()
        let provider = RefreshingCredentials(
            source: "test", now: { clock.now },
            fetch: {
                try await Task.sleep(for: .milliseconds(100))
                return Self.creds("A", expiring: clock.now.addingTimeInterval(3600))
            })
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { try await provider.credentials().accessKeyID } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(ids == Array(repeating: "A", count: 20))
        #expect(await provider.fetchCount == 1)
    }

    @Test("credentials are renewed minutes before they expire, not after")
    func refreshBeforeExpiry() async throws {
        let clock = TestClock()
        let counter = Locked(0)
        let provider = RefreshingCredentials(
            source: "test", refreshBefore: .seconds(300), now: { clock.now },
            fetch: {
                let n = counter.withLock {
                    $0 += 1
                    return $0
                }
                return Self.creds("K\(n)", expiring: clock.now.addingTimeInterval(3600))
            })
        #expect(try await provider.credentials().accessKeyID == "K1")
        clock.advance(3000)  // 10 minutes left: still good
        #expect(try await provider.credentials().accessKeyID == "K1")
        clock.advance(400)  // under 5 minutes left: renewed
        #expect(try await provider.credentials().accessKeyID == "K2")
    }

    @Test("a failed refresh keeps credentials that are still valid, and fails once they expired")
    func failedRefresh() async throws {
        struct Down: Error {}
        let clock = TestClock()
        let failing = Locked(false)
        let provider = RefreshingCredentials(
            source: "test", refreshBefore: .seconds(300), retryFailedRefreshAfter: .seconds(10),
            now: { clock.now },
            fetch: {
                if failing.withLock({ $0 }) { throw Down() }
                return Self.creds("OLD", expiring: clock.now.addingTimeInterval(600))
            })
        #expect(try await provider.credentials().accessKeyID == "OLD")
        failing.withLock { $0 = true }
        clock.advance(400)  // inside the refresh window, 200 s left
        #expect(try await provider.credentials().accessKeyID == "OLD")
        #expect(try await provider.credentials().accessKeyID == "OLD")
        #expect(await provider.fetchCount == 2, "a failed refresh is not retried on every call")
        clock.advance(300)  // expired
        await #expect(throws: Down.self) { try await provider.credentials() }
    }
}

/// Credential sources against real protocol peers: loopback servers for the container endpoint and
/// IMDSv2, moto's STS for web identity and assume role. Each proves its credentials by a signed
/// GetCallerIdentity that moto checks.
@Suite("Credential sources for real")
struct CredentialSourceTests {
    /// moto's real keys, for a source profile.
    static func motoKeys() throws -> (id: String, secret: String) {
        let env = try LocalStack.environment()
        return (env["AWS_ACCESS_KEY_ID"] ?? "", env["AWS_SECRET_ACCESS_KEY"] ?? "")
    }

    /// Real temporary credentials of a role from moto's STS, which the fake endpoints hand out so that
    /// the signed call that follows passes moto's checks (of the session token too).
    static func roleJSON(role: String) async throws -> String {
        let c = try await STSClient(client: try LocalStack.client()).assumeRole(
            roleARN: "arn:aws:iam::123456789012:role/\(role)", sessionName: "endpoint")
        let expiry = ISO8601DateFormatter().string(from: c.expiration ?? Date().addingTimeInterval(3600))
        return
            #"{"Code":"Success","AccessKeyId":"\#(c.accessKeyID)","SecretAccessKey":"\#(c.secretAccessKey)","Token":"\#(c.sessionToken ?? "")","Expiration":"\#(expiry)"}"#
    }

    /// A config that reaches moto with credentials from `env` alone (no keys in the environment).
    static func stsThroughChain(_ extra: [String: String]) throws -> STSClient {
        var env = try LocalStack.environment()
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] {
            env[name] = nil
        }
        env["AWS_CONFIG_FILE"] = "/nonexistent"
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
        env.merge(extra) { $1 }
        let config = try AWSConfig.fromEnvironment(env)
        return STSClient(client: AWSClient(config: config, logger: LocalStack.quietLogger))
    }

    @Test("container credentials (EKS Pod Identity): the token file is sent as Authorization")
    func container() async throws {
        let json = try await Self.roleJSON(role: "pod-identity")
        let server = try LoopbackHTTPServer { request in
            guard request.path == "/v1/credentials", request.header("authorization") == "pod-token" else {
                return .respond(status: 403, body: Array("bad token".utf8))
            }
            return .json(200, json)
        }
        defer { server.stop() }
        let dir = try temporaryDirectory()
        try write("pod-token\n", to: dir + "/token")
        let sts = try Self.stsThroughChain([
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": dir + "/token",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ignored-when-a-file-is-set",
        ])
        #expect(sts.client.config.credentialSource == "container")
        let identity = try await sts.getCallerIdentity()
        #expect(identity.arn == "arn:aws:sts::123456789012:assumed-role/pod-identity/endpoint")
        #expect(server.requests.count == 1)
    }

    @Test("container credentials: a refused token is a clear error")
    func containerRefused() async throws {
        let server = try LoopbackHTTPServer { _ in .respond(status: 401, body: Array("expired token".utf8)) }
        defer { server.stop() }
        let sts = try Self.stsThroughChain([
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t",
        ])
        let error = await #expect(throws: AWSError.self) { try await sts.getCallerIdentity() }
        #expect(error?.code == .credentialsUnavailable)
        #expect(error?.message.contains("HTTP 401: expired token") == true)
    }

    @Test("IMDSv2: a session token first, then the role's credentials, with the token")
    func imds() async throws {
        let json = try await Self.roleJSON(role: "instance")
        let server = try LoopbackHTTPServer { r in
            switch (r.method, r.path) {
            case ("PUT", "/latest/api/token"):
                guard r.header("x-aws-ec2-metadata-token-ttl-seconds") != nil else { return .respond(status: 400) }
                return .respond(status: 200, body: Array("imds-token".utf8))
            case ("GET", _) where r.header("x-aws-ec2-metadata-token") != "imds-token":
                return .respond(status: 401)
            case ("GET", "/latest/meta-data/iam/security-credentials/"):
                return .respond(status: 200, body: Array("esteira-node\n".utf8))
            case ("GET", "/latest/meta-data/iam/security-credentials/esteira-node"):
                return .json(200, json)
            default:
                return .respond(status: 404)
            }
        }
        defer { server.stop() }
        let sts = try Self.stsThroughChain(["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url])
        #expect(sts.client.config.credentialSource == "IMDSv2")
        #expect(try await sts.getCallerIdentity().arn == "arn:aws:sts::123456789012:assumed-role/instance/endpoint")
        #expect(server.requests.map(\.method) == ["PUT", "GET", "GET"])
    }

    @Test("web identity (IRSA) through the chain: STS is called unsigned with the token file's content")
    func webIdentityUnsigned() async throws {
        let expiry = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
        let sts = try LoopbackHTTPServer { r in
            let form = String(decoding: r.body, as: UTF8.self)
            guard r.header("authorization") == nil, form.contains("Action=AssumeRoleWithWebIdentity"),
                form.contains("WebIdentityToken=jwt-from-kubelet"), form.contains("RoleSessionName=pod-1")
            else {
                return .xml(
                    400,
                    "<ErrorResponse><Error><Code>InvalidRequest</Code><Message>\(form)</Message></Error></ErrorResponse>"
                )
            }
            return .xml(
                200,
                """
                <AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>\
                <AccessKeyId>ASIAWEB</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>\
                <Expiration>\(expiry)</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>
                """)
        }
        defer { sts.stop() }
        let dir = try temporaryDirectory()
        try write("jwt-from-kubelet", to: dir + "/token")
        let config = try AWSConfig.fromEnvironment([
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_STS": sts.url,
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/irsa",
            "AWS_WEB_IDENTITY_TOKEN_FILE": dir + "/token", "AWS_ROLE_SESSION_NAME": "pod-1",
        ])
        #expect(config.credentialSource == "web identity")
        let creds = try await config.credentials.credentials()
        #expect(creds.accessKeyID == "ASIAWEB")
        #expect(creds.expiration != nil)
    }

    @Test("web identity against moto's STS gives working role credentials")
    func webIdentityMoto() async throws {
        let dir = try temporaryDirectory()
        try write("eyJhbGciOiJSUzI1NiJ9.token", to: dir + "/token")
        // moto rejects unsigned calls (HTTP 500) when it checks signatures, so this one is signed.
        let signer = STSClient(client: try LocalStack.client())
        let provider = WebIdentityCredentials(
            roleARN: "arn:aws:iam::123456789012:role/esteira-irsa", tokenFile: dir + "/token",
            sessionName: "irsa-test", sts: signer, signRequests: true
        ).provider()
        let creds = try await provider.credentials()
        #expect(creds.sessionToken != nil)
        var config = signer.client.config
        config.credentials = provider
        let identity = try await STSClient(client: AWSClient(config: config, logger: LocalStack.quietLogger))
            .getCallerIdentity()
        #expect(identity.arn == "arn:aws:sts::123456789012:assumed-role/esteira-irsa/irsa-test")
    }

    @Test("a profile with role_arn and source_profile assumes the role with moto's STS")
    func assumeRoleProfile() async throws {
        let (id, secret) = try Self.motoKeys()
        let dir = try temporaryDirectory()
        try write(
            """
            [profile deploy]
            role_arn = arn:aws:iam::123456789012:role/esteira-deploy
            source_profile = base
            role_session_name = deploy-session
            """, to: dir + "/config")
        try write("[base]\naws_access_key_id = \(id)\naws_secret_access_key = \(secret)\n", to: dir + "/credentials")
        var env = try LocalStack.environment()
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] { env[name] = nil }
        env["AWS_PROFILE"] = "deploy"
        env["AWS_CONFIG_FILE"] = dir + "/config"
        env["AWS_SHARED_CREDENTIALS_FILE"] = dir + "/credentials"
        let config = try AWSConfig.fromEnvironment(env)
        #expect(config.credentialSource == "profile 'deploy'")
        let identity = try await STSClient(client: AWSClient(config: config, logger: LocalStack.quietLogger))
            .getCallerIdentity()
        #expect(identity.arn == "arn:aws:sts::123456789012:assumed-role/esteira-deploy/deploy-session")
    }
}
