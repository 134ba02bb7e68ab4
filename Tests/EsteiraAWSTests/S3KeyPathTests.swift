import Foundation
import Testing

@testable import EsteiraAWS

/// S3 keys are opaque strings: `.`, `..` and empty segments are real key characters that the HTTP layer
/// must send as they are (curl would otherwise remove dot segments and merge the request with another key).
@Suite("S3 keys with dot and empty segments")
struct S3KeyPathTests {
    static let keys = [
        "t/data/./x.csv", "t/data/../y.csv", "a//b.csv", "./lead.csv", "../up.csv", "t/.", "t/..", "t/data/x.csv",
    ]

    @Test("put, head, get, list and delete each key exactly, against moto with signatures checked")
    func dotSegmentsRoundTrip() async throws {
        let s3 = S3Client(client: try LocalStack.client(maxAttempts: 1))
        let bucket = LocalStack.uniqueName("s3dots")
        try await s3.createBucket(bucket)
        for (i, key) in Self.keys.enumerated() {
            try await s3.putObject(bucket: bucket, key: key, body: Array("body \(i) of \(key)\n".utf8))
        }
        for (i, key) in Self.keys.enumerated() {
            let body = Array("body \(i) of \(key)\n".utf8)
            #expect(try await s3.headObject(bucket: bucket, key: key).size == Int64(body.count), "\(key)")
            #expect(try await s3.getObject(bucket: bucket, key: key) == body, "\(key)")
            let (_, stream) = try await s3.getObjectStream(bucket: bucket, key: key)
            var streamed: [UInt8] = []
            for try await chunk in stream { streamed += chunk }
            #expect(streamed == body, "\(key)")
        }
        #expect(try await s3.listObjects(bucket: bucket).map(\.key).sorted() == Self.keys.sorted())
        for key in Self.keys {
            try await s3.deleteObject(bucket: bucket, key: key)
            #expect(try await s3.statObject(bucket: bucket, key: key) == nil, "\(key)")
        }
        #expect(try await s3.listObjects(bucket: bucket).isEmpty)
    }
}
