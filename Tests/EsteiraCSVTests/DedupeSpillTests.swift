import Foundation
import Testing

@testable import EsteiraCSV

/// Dedupe in bounded memory: the per-file seed (no hash flooding) and the spill to temporary runs.
@Suite("dedupe: random seed and spilling to disk")
struct DedupeSpillTests {
    static func hash(_ text: String, _ d: KeyDeduplicator) -> (UInt64, UInt64) {
        var h = d.hasher()
        h.combine(text)
        return h.finalize()
    }

    static func hash(_ text: String, seed: (UInt64, UInt64)) -> (UInt64, UInt64) {
        var h = KeyHasher(seed: seed)
        h.combine(text)
        return h.finalize()
    }

    /// A fresh folder for a test's temporary runs.
    static func folder() throws -> String {
        let path = NSTemporaryDirectory() + "esteira-dedupe-test-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("two files' deduplicators hash the same key differently")
    func seedsDiffer() {
        let a = KeyDeduplicator(settings: DedupeSettings())
        let b = KeyDeduplicator(settings: DedupeSettings())
        #expect(a.seed != b.seed)
        let ha = Self.hash("order-42", a)
        let hb = Self.hash("order-42", b)
        #expect(ha != hb)
        // Within one file the hash is stable, so duplicates are still found.
        #expect(Self.hash("order-42", a) == ha)
    }

    @Test("keys crafted to share one probe chain under the old fixed seed stay cheap with a per-file seed")
    func hashFlooding() {
        // Keys whose hash under the old fixed seed lands in slot 0 of the starting 4,096-slot table:
        // what an attacker who knows the seed would send.
        var crafted: [String] = []
        var i = 0
        while crafted.count < 1_000 {
            let key = "k\(i)"
            if Self.hash(key, seed: KeyHasher.fixedSeed).0 & 4095 == 0 { crafted.append(key) }
            i += 1
        }
        // Under the fixed seed every insert walks the whole chain: about n²/2 probes.
        let fixed = KeyDeduplicator(settings: DedupeSettings(), seed: KeyHasher.fixedSeed)
        for key in crafted { #expect(fixed.insert(Self.hash(key, fixed)) == .new) }
        #expect(fixed.probes > 400_000)
        // With the file's own random seed the same keys spread out: a few probes each.
        let seeded = KeyDeduplicator(settings: DedupeSettings())
        for key in crafted { #expect(seeded.insert(Self.hash(key, seeded)) == .new) }
        #expect(seeded.probes < 10 * crafted.count, "probes: \(seeded.probes)")
    }

    @Test("duplicates are found across spill boundaries, with no false ones, in a small memory budget")
    func spillExact() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let settings = DedupeSettings(maxMemoryBytes: 1 << 20, tempDirectory: dir)
        let d = KeyDeduplicator(settings: settings)
        let n = 60_000
        for i in 0..<n { #expect(d.insert(Self.hash("key-\(i)", d)) == .new) }
        d.settle()
        #expect(d.spills >= 5, "spills: \(d.spills)")
        // Merging keeps the runs few (logarithmic in the number of spills).
        #expect(d.runCount <= 5, "runs: \(d.runCount)")
        var again = 0
        var fresh = 0
        // Old keys (spilled long ago, recently, or still in memory) interleaved with new ones.
        for i in stride(from: 0, to: n, by: 3) {
            if d.insert(Self.hash("key-\(i)", d)) == .duplicate { again += 1 }
            if d.insert(Self.hash("new-\(i)", d)) == .new { fresh += 1 }
        }
        #expect(again == (n + 2) / 3)
        #expect(fresh == (n + 2) / 3)
        #expect(d.count == n + (n + 2) / 3)
        d.settle()
        #expect(d.memoryBytes <= settings.maxMemoryBytes)
        // The runs are unlinked as soon as they are made: nothing to clean up, even after a crash.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test("past the disk cap the file is refused with the limit it hit")
    func diskCap() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let d = KeyDeduplicator(
            settings: DedupeSettings(maxMemoryBytes: 1 << 20, maxDiskBytes: 100_000, tempDirectory: dir))
        var full = false
        for i in 0..<50_000 where d.insert(Self.hash("key-\(i)", d)) == .full {
            full = true
            break
        }
        #expect(full)
        #expect(d.fullReason?.contains("dedupe.max_disk of 100000 bytes") == true, "\(d.fullReason ?? "nil")")
        #expect(d.peakDiskBytes <= 100_000)
    }

    @Test("a file with more keys than the memory budget holds loads through the reader, duplicates dropped")
    func throughReader() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var contract = CSVContract(
            columns: [ColumnContract(name: "id", type: "int"), ColumnContract(name: "v", type: "text")], key: ["id"])
        contract.dedupe = DedupeSettings(maxMemoryBytes: 1 << 20, tempDirectory: dir)
        var csv = "id,v\n"
        for i in 0..<40_000 { csv += "\(i),a\n" }
        for i in stride(from: 0, to: 40_000, by: 5) { csv += "\(i),again\n" }
        let result = try read(csv, CSVReadOptions(contract: contract), chunkSize: 1 << 16)
        #expect(result.rows.count == 40_000)
        #expect(result.summary.duplicates == 8_000)
        #expect(!result.rows.contains { $0[1] == "again" })
    }

    @Test("route settings: sizes as text, and max_keys only when set")
    func settingsDecode() throws {
        #expect(DedupeSettings.parseBytes("16MiB") == 16 << 20)
        #expect(DedupeSettings.parseBytes("2GiB") == 2 << 30)
        #expect(DedupeSettings.parseBytes("500MB") == 500_000_000)
        #expect(DedupeSettings.parseBytes("lots") == nil)
        #expect(DedupeSettings().maxKeys == nil)
        #expect(DedupeSettings(maxMemoryBytes: 1000).problem?.contains("max_memory") == true)
    }
}
