import EsteiraSync
import EsteiraTestSupport
import Foundation
import Testing

@testable import EsteiraAWS

@Suite("HTTP transport shutdown")
struct TransportShutdownTests {
    /// Whether the kernel still lists the thread (Linux; elsewhere the id is 0 and the check is skipped).
    static func threadExists(_ tid: Int32) -> Bool {
        FileManager.default.fileExists(atPath: "/proc/self/task/\(tid)")
    }

    static func isShutDownError(_ error: TransportError?) -> Bool {
        guard let error else { return false }
        return error.isShutDown && error.description.contains("shut down")
    }

    @Test("after shutdown the loop thread is gone, and a later request fails at once with a clear error")
    func threadGoneThenRequestsFail() async throws {
        let server = try LoopbackHTTPServer { _ in .respond(status: 200, body: Array("ok".utf8)) }
        defer { server.stop() }
        let transport = HTTPTransport()
        let first = try await transport.send(HTTPRequest(method: "GET", url: server.url + "/"))
        #expect(first.status == 200)
        let tid = transport.loopThreadID
        #if os(Linux)
            #expect(tid > 0)
            #expect(Self.threadExists(tid))
        #endif
        #expect(!transport.isShutDown)

        await transport.shutdown()
        #expect(transport.isShutDown)
        #if os(Linux)
            // The loop returns right after waking us; give the thread a moment to leave the kernel's list.
            let deadline = ContinuousClock.now + .seconds(5)
            while Self.threadExists(tid), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(!Self.threadExists(tid), "the esteira-http thread \(tid) is still running")
        #endif

        let started = ContinuousClock.now
        let viaSend = await #expect(throws: TransportError.self) {
            _ = try await transport.send(HTTPRequest(method: "GET", url: server.url + "/"))
        }
        #expect(Self.isShutDownError(viaSend))
        let viaStream = await #expect(throws: TransportError.self) {
            _ = try await transport.stream(HTTPRequest(method: "GET", url: server.url + "/"))
        }
        #expect(Self.isShutDownError(viaStream))
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(server.requests.count == 1)
        // A second shutdown returns at once.
        await transport.shutdown()
    }

    @Test("a request in flight at shutdown fails with the shutdown error instead of hanging")
    func inFlightRequestFails() async throws {
        let arrived = Locked(false)
        // The server answers only once the test has seen the request end (or after two minutes), so the
        // shutdown, not the answer, is what ended it, however slowly a loaded machine runs the test.
        let answer = DispatchSemaphore(value: 0)
        let server = try LoopbackHTTPServer { _ in
            arrived.value = true
            _ = answer.wait(timeout: .now() + 120)
            return .respond(status: 200)
        }
        defer {
            answer.signal()
            server.stop()
        }
        let transport = HTTPTransport()
        let request = Task { try await transport.send(HTTPRequest(method: "GET", url: server.url + "/")) }
        // Generous: in a full `make test` the whole suite and its servers share two cores (once 30 s was
        // not enough).
        let deadline = ContinuousClock.now + .seconds(90)
        while !arrived.value, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(arrived.value, "the request never reached the server")
        let started = ContinuousClock.now
        await transport.shutdown()
        let failure = await #expect(throws: TransportError.self) { _ = try await request.value }
        #expect(Self.isShutDownError(failure))
        // Bounds a hang only: the answer cannot have come (it waits for the signal in `defer`).
        #expect(ContinuousClock.now - started < .seconds(60))
    }

    @Test("an AWS call through a transport that was shut down is not retried")
    func awsCallNotRetried() async throws {
        let server = try LoopbackHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        let transport = HTTPTransport()
        await transport.shutdown()
        let client = try LocalStack.client(endpoint: server.url, maxAttempts: 3, transport: transport)
        do {
            _ = try await S3Client(client: client).headObject(bucket: "shutdown-test", key: "k")
            Issue.record("the call succeeded through a shut-down transport")
        } catch let e as AWSError {
            #expect(e.code == .transport)
            #expect(!e.isTransient)
            #expect(e.attempts == 1)
            #expect(e.message.contains("shut down"))
        }
        #expect(server.requests.isEmpty)
    }
}
