import EsteiraMySQL
import Testing

/// Feeds bytes to LOAD DATA in chunks of at most `chunk` bytes, like a producer would.
final class ByteSource {
    let bytes: [UInt8]
    let chunk: Int
    let failAfter: Int?
    var offset = 0

    struct Broken: Error, Equatable {}

    init(_ bytes: [UInt8], chunk: Int = 1000, failAfter: Int? = nil) {
        self.bytes = bytes
        self.chunk = chunk
        self.failAfter = failAfter
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if let failAfter, offset >= failAfter { throw Broken() }
        let count = min(buffer.count, chunk, bytes.count - offset)
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.withUnsafeBytes { $0 }[offset..<offset + count]))
        offset += count
        return count
    }
}

@Suite("LOAD DATA LOCAL INFILE from memory")
struct LoadDataLocalInfileTests {
    @Test func encodesRowsInTheDeclaredFormat() {
        var out: [UInt8] = []
        LoadDataFormat.append(["a\tb", nil, "", "c\\N", "l1\nl2\r", "nul\u{0}"], to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "a\\tb\t\\N\t\tc\\\\N\tl1\\nl2\\r\tnul\\0\n")
    }

    static let table =
        "CREATE TABLE t (id INT NOT NULL, v TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL) ENGINE=InnoDB"

    @Test(.tags(.mysql)) func streamsRowsExactly() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.table)
            var values: [String?] = roundTripStrings.map { $0 }
            values += [nil, "", "\\N", "tab\there", "a\\tb"]
            var data: [UInt8] = []
            for (id, value) in values.enumerated() { LoadDataFormat.append(["\(id)", value], to: &data) }
            let payload = data
            let result = try await connection.run { session in
                let source = ByteSource(payload, chunk: 777)
                return try session.loadDataLocalInfile(
                    "LOAD DATA LOCAL INFILE 'esteira-stream-1' INTO TABLE t \(LoadDataFormat.clause) (id, v)",
                    streamName: "esteira-stream-1", read: source.read(into:))
            }
            #expect(result.affectedRows == UInt64(values.count))
            #expect(result.warnings == 0)
            #expect(result.bytesSent == UInt64(payload.count))
            let stored = try await connection.query("SELECT v FROM t ORDER BY id")
            #expect(stored.rows.map { $0[0].map { Array($0.utf8) } } == values.map { $0.map { Array($0.utf8) } })
            await connection.close()
        }
    }

    @Test(.tags(.mysql)) func refusesAnyOtherNameAndStaysUsable() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.table)
            await #expect {
                try await connection.run { session in
                    try session.loadDataLocalInfile(
                        "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t",
                        streamName: "esteira-stream-1"
                    ) { _ in 0 }
                }
            } throws: { error in
                (error as? MySQLError)?.message.contains("refused for '/etc/passwd'") ?? false
            }
            #expect(try await connection.count("t") == 0)
            #expect(connection.isUsable)
            await connection.close()
        }
    }

    @Test(.tags(.mysql)) func aProducerFailureIsRethrownAsIsAndRollsBack() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.table)
            var data: [UInt8] = []
            for id in 0..<5000 { LoadDataFormat.append(["\(id)", "value \(id)"], to: &data) }
            let payload = data
            try await connection.execute("START TRANSACTION")
            await #expect(throws: ByteSource.Broken.self) {
                try await connection.run { session in
                    let source = ByteSource(payload, chunk: 4096, failAfter: 20_000)
                    return try session.loadDataLocalInfile(
                        "LOAD DATA LOCAL INFILE 's' INTO TABLE t \(LoadDataFormat.clause) (id, v)",
                        streamName: "s", read: source.read(into:))
                }
            }
            try await connection.execute("ROLLBACK")
            #expect(try await connection.count("t") == 0)
            #expect(connection.isUsable)
            #expect(try await connection.query("SELECT 1").scalar == "1", "the protocol is still in step")
            await connection.close()
        }
    }

    /// Documents a MySQL rule a loader must handle: with LOCAL, data errors are only warnings.
    @Test(.tags(.mysql)) func badValuesAreWarningsNotErrors() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.table)
            var data: [UInt8] = []
            LoadDataFormat.append(["not a number", "x"], to: &data)
            let payload = data
            let result = try await connection.run { session in
                try session.loadDataLocalInfile(
                    "LOAD DATA LOCAL INFILE 's' INTO TABLE t \(LoadDataFormat.clause) (id, v)",
                    streamName: "s", read: ByteSource(payload).read(into:))
            }
            #expect(result.warnings > 0)
            await connection.close()
        }
    }
}
