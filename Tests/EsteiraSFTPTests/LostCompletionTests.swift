import EsteiraTestSupport
import Foundation
import Synchronization
import Testing

@Suite("SFTP upload whose completion answer was lost")
struct LostCompletionTests {
    @Test("the client is told the upload succeeded, and the object is there once, whole")
    func completionAnswerLost() async throws {
        guard let moto = URLComponents(string: ProcessInfo.processInfo.environment["AWS_ENDPOINT_URL"] ?? "")?.port
        else {
            _ = try GatewayHarness.requireStack()
            return
        }
        let completions = LockedCount()
        // The first CompleteMultipartUpload reaches moto and completes the upload, but its answer is lost;
        // the retry gets S3's answer for an upload already completed: NoSuchUpload.
        let proxy = try LoopbackHTTPServer { r in
            guard r.method == "POST", r.target.contains("uploadId=") else { return .forward(port: moto) }
            return completions.next() == 1
                ? .forward(port: moto, cutAfter: 0)
                : .xml(
                    404,
                    "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>")
        }
        defer { proxy.stop() }
        try await GatewayHarness.with(gatewayEndpoint: proxy.url) { h in
            let local = try h.makeFile("big.bin", size: (11 << 20) + 77)
            let r = try await h.sftp(["put \(local) big.bin"])
            #expect(r.status == 0, "the client was told the upload failed:\n\(r.output)")
            #expect(completions.value == 2, "the completion was retried after its lost answer")
            let stored = try #require(try await h.object("acme/data/big.bin"))
            #expect(stored == Array(try Data(contentsOf: URL(fileURLWithPath: local))))
        } configure: { s in
            s.partSize = 5 << 20
            s.maxFileSize = 1 << 30
        }
    }
}

final class LockedCount: Sendable {
    private let count = Mutex(0)
    func next() -> Int {
        count.withLock {
            $0 += 1
            return $0
        }
    }
    var value: Int { count.withLock { $0 } }
}
