import EsteiraSync
import EsteiraTestSupport
import Foundation
import Testing

@testable import EsteiraAWS

let noSuchUpload = LoopbackHTTPServer.Reply.xml(
    404, "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>")

/// A call whose answer was lost is retried; the retry must recognise its own earlier success.
@Suite("Retries after a lost answer")
struct LostAnswerTests {
    @Test("CompleteMultipartUpload whose answer was lost: the retry's NoSuchUpload is recognised as our own success")
    func completeAnswerLost() async throws {
        let bucket = LocalStack.uniqueName("lost-complete")
        try await S3Client(client: try LocalStack.client()).createBucket(bucket)
        let moto = try LocalStack.motoPort()
        let dropped = Locked(false)
        // The first completion reaches moto, which completes the upload; its answer never comes back. The
        // retry gets what S3 answers for an upload already completed (moto would answer 200 again).
        let proxy = try LoopbackHTTPServer { r in
            let completing = r.method == "POST" && r.target.contains("uploadId=")
            return dropped.withLock { done in
                guard completing else { return .forward(port: moto) }
                if done { return noSuchUpload }
                done = true
                return .forward(port: moto, cutAfter: 0)
            }
        }
        defer { proxy.stop() }
        let path = NSTemporaryDirectory() + "lost-complete-\(UInt32.random(in: 0...UInt32.max)).bin"
        let size = (5 << 20) + 1234
        try Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        let s3 = S3Client(client: try LocalStack.client(endpoint: proxy.url))
        let info = try await s3.uploadFile(bucket: bucket, key: "acme/data/big.bin", path: path, partSize: 5 << 20)
        #expect(dropped.withLock { $0 }, "the proxy never saw the completion")
        #expect(proxy.requests.filter { $0.method == "POST" && $0.target.contains("uploadId=") }.count == 2)
        let head = try await s3.headObject(bucket: bucket, key: "acme/data/big.bin")
        #expect(head.size == Int64(size))
        #expect(info.eTag?.filter { $0 != "\"" } == head.eTag?.filter { $0 != "\"" })
    }

    @Test("a NoSuchUpload is still an error when the object is absent, or is another object")
    func noSuchUploadStaysAnError() async throws {
        let bucket = LocalStack.uniqueName("no-upload")
        try await S3Client(client: try LocalStack.client()).createBucket(bucket)
        let moto = try LocalStack.motoPort()
        let proxy = try LoopbackHTTPServer { r in
            r.method == "POST" && r.target.contains("uploadId=") ? noSuchUpload : .forward(port: moto)
        }
        defer { proxy.stop() }
        let s3 = S3Client(client: try LocalStack.client(endpoint: proxy.url))
        let parts = [S3UploadedPart(partNumber: 1, eTag: "\"0123456789abcdef0123456789abcdef\"", size: 2)]
        for present in [false, true] {
            if present { try await s3.putObject(bucket: bucket, key: "k.csv", body: Array("id".utf8)) }
            let error = await #expect(throws: AWSError.self) {
                try await s3.completeMultipartUpload(bucket: bucket, key: "k.csv", uploadID: "gone", parts: parts)
            }
            #expect(error?.code == .noSuchUpload, "object present: \(present)")
        }
    }

    @Test("multipart ETag: the MD5 of the parts' binary MD5s, then -N")
    func multipartETag() throws {
        // Two parts whose MD5s are those of "a" and "b".
        let a = Digest.hex(try Digest.md5(Array("a".utf8)))
        let b = Digest.hex(try Digest.md5(Array("b".utf8)))
        let parts = [S3UploadedPart(partNumber: 2, eTag: "\"\(b)\""), S3UploadedPart(partNumber: 1, eTag: a)]
        let expected = Digest.hex(try Digest.md5(Hex.decode(Array(a.utf8))! + Hex.decode(Array(b.utf8))!)) + "-2"
        #expect(S3UploadedPart.multipartETag(parts) == expected)
        #expect(S3UploadedPart.multipartETag([S3UploadedPart(partNumber: 1, eTag: "kms-etag")]) == nil)
        #expect(S3UploadedPart.multipartETag([]) == nil)
    }
}
