import Testing

@testable import EsteiraWorker

@Suite("Job slots")
struct SlotCounterTests {
    @Test("the poller asks only for free slots and waits when all are taken")
    func slots() async throws {
        let slots = SlotCounter(2)
        #expect(await slots.waitForFree() == 2)
        await slots.take()
        #expect(await slots.waitForFree() == 1)
        await slots.take()
        let waiter = Task { await slots.waitForFree() }
        try await Task.sleep(for: .milliseconds(50))
        await slots.release()
        #expect(await waiter.value == 1)
    }
}
