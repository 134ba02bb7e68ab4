import Testing

@testable import EsteiraPipeline

@Suite("test-only fault switch")
struct TestFaultsTests {
    @Test(
        "the abort marker is found wherever the chunks cut it, and only when it is there",
        arguments: [1, 2, 3, 5, 7, 64])
    func markerAcrossChunks(chunk: Int) {
        let text = Array("id,name\n1,ok\n2,BOOM-MARKER-9\n3,ok\n".utf8)
        var scan = TestFaults.MarkerScan(marker: Array("BOOM-MARKER-9".utf8))
        var found = false
        var start = 0
        while start < text.count, !found {
            found = scan.found(in: Array(text[start..<min(text.count, start + chunk)]))
            start += chunk
        }
        #expect(found)
        var clean = TestFaults.MarkerScan(marker: Array("BOOM-MARKER-9".utf8))
        let other = Array("id,name\n1,BOOM-MARKER-8\n2,MARKER-9\n".utf8)
        start = 0
        while start < other.count {
            let hit = clean.found(in: Array(other[start..<min(other.count, start + chunk)]))
            #expect(!hit)
            start += chunk
        }
    }

    @Test("the switch is off unless ESTEIRA_TEST_ABORT_ON_MARKER is set")
    func offByDefault() {
        #expect(TestFaults.abortMarker == nil)
        #expect(TestFaults.abortScan()?.marker == nil)
    }
}
