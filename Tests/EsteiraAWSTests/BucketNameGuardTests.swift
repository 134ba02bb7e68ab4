import EsteiraTestSupport
import Foundation
import Testing

@testable import EsteiraAWS

/// A bucket name from outside must never change the request's URL: `a/../b` would reach bucket `b` once
/// curl squashes the dot segment, and `evil.example/x?` would rewrite the host of a virtual-hosted call.
@Suite("S3 bucket names never reshape a URL")
struct BucketNameGuardTests {
    @Test(
        "a name that could reshape the URL is refused before anything is sent",
        arguments: [
            "a/../b", "..", "b?x=1", "b#frag", "b c", "evil.example/x", "", "b%2F", String(repeating: "b", count: 256),
        ])
    func refused(bucket: String) async throws {
        let server = try LoopbackHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        let s3 = S3Client(client: try LocalStack.client(endpoint: server.url))
        let error = await #expect(throws: AWSError.self) { _ = try await s3.headObject(bucket: bucket, key: "k.csv") }
        #expect(error?.code == .invalidBucketName)
        #expect(error?.isTransient == false)
        #expect(server.requests.isEmpty)
    }

    @Test(
        "valid names, and legacy names with capitals or underscores, go through",
        arguments: ["esteira-landing", "a.b.c", "Legacy_Bucket"])
    func accepted(bucket: String) async throws {
        let server = try LoopbackHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        let s3 = S3Client(client: try LocalStack.client(endpoint: server.url))
        _ = try await s3.headObject(bucket: bucket, key: "k.csv")
        #expect(server.requests.first?.path == "/\(bucket)/k.csv")
    }
}
