import EsteiraMySQL
import Foundation

// One measurement per process, so each reports its own peak RSS. ./run.sh calls it several times and
// prints medians and ratios.
//
//   MySQLBench prepare  <url> <table>                       (re)create the table, empty
//   MySQLBench tsv      <rows> <file>                       the same rows, as LOAD DATA text, for the mariadb client
//   MySQLBench load     <url> <table> <rows> <path> <batch> [mode] [rows-as]   load through FileLoad, print a JSON line
//   MySQLBench check    <rows>                                  the byte rows equal the String rows
//
// path: load-data-local-infile | batched-insert. mode: append (default) | upsert | insert-ignore.
// rows-as: bytes (default: each field's bytes into a LoadBatch, as the pipeline hands over TypedRows) |
// strings (the [[String?]] API).

let columns = ["id", "order_no", "customer", "amount", "quantity", "created_at", "note"]

let createTable = """
    CREATE TABLE %@ (
      id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
      order_no VARCHAR(32) NOT NULL,
      customer VARCHAR(64) NOT NULL,
      amount DECIMAL(12,2) NOT NULL,
      quantity INT NOT NULL,
      created_at DATETIME NOT NULL,
      note VARCHAR(255) NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    """

/// Row `i` of the data set: typed, cleaned values as the pipeline hands them over.
func row(_ i: Int) -> [String?] {
    let cents = i % 100
    return [
        String(i),
        "ORD-\(i)",
        "customer \(i % 5000) ação",
        "\(i % 100_000).\(cents < 10 ? "0" : "")\(cents)",
        String(i % 50),
        "2024-\(1 + i % 12 < 10 ? "0" : "")\(1 + i % 12)-\(10 + i % 18) 12:\(10 + i % 50):00",
        i % 7 == 0 ? nil : "note for order \(i) — \"quoted\", tab\there",
    ]
}

/// Row `i` again, as the pipeline holds it: each field's bytes in one scratch buffer, no String (the
/// harness's own cost, kept small so it does not take the CPU the server needs). Calls `field` for each
/// value (nil for NULL).
struct ByteRows {
    private let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 512)
    private var ends = (0, 0, 0, 0, 0, 0, 0)
    private static let customerTail = Array(" ação".utf8)
    private static let noteHead = Array("note for order ".utf8)
    private static let noteTail = Array(" — \"quoted\", tab\there".utf8)
    private static let ord = Array("ORD-".utf8), customer = Array("customer ".utf8), year = Array("2024-".utf8)
    private static let hour = Array(" 12:".utf8), seconds = Array(":00".utf8)

    @inline(__always)
    private static func put(_ bytes: [UInt8], _ p: UnsafeMutablePointer<UInt8>, _ at: inout Int) {
        bytes.withUnsafeBufferPointer { (p + at).update(from: $0.baseAddress!, count: $0.count) }
        at += bytes.count
    }

    @inline(__always)
    private static func number(_ value: Int, width: Int = 1, _ p: UnsafeMutablePointer<UInt8>, _ at: inout Int) {
        var digits = 1
        var limit = 10
        while value >= limit && digits < 19 {
            digits += 1
            limit &*= 10
        }
        for _ in digits..<max(digits, width) {
            p[at] = UInt8(ascii: "0")
            at += 1
        }
        var v = value
        var k = at + digits - 1
        while k >= at {
            p[k] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
            v /= 10
            k -= 1
        }
        at += digits
    }

    mutating func row(_ i: Int, _ field: (UnsafeRawBufferPointer?) -> Void) {
        let p = scratch
        var at = 0
        Self.number(i, p, &at)
        ends.0 = at
        Self.put(Self.ord, p, &at)
        Self.number(i, p, &at)
        ends.1 = at
        Self.put(Self.customer, p, &at)
        Self.number(i % 5000, p, &at)
        Self.put(Self.customerTail, p, &at)
        ends.2 = at
        Self.number(i % 100_000, p, &at)
        p[at] = UInt8(ascii: ".")
        at += 1
        Self.number(i % 100, width: 2, p, &at)
        ends.3 = at
        Self.number(i % 50, p, &at)
        ends.4 = at
        Self.put(Self.year, p, &at)
        Self.number(1 + i % 12, width: 2, p, &at)
        p[at] = UInt8(ascii: "-")
        at += 1
        Self.number(10 + i % 18, p, &at)
        Self.put(Self.hour, p, &at)
        Self.number(10 + i % 50, p, &at)
        Self.put(Self.seconds, p, &at)
        ends.5 = at
        if i % 7 != 0 {
            Self.put(Self.noteHead, p, &at)
            Self.number(i, p, &at)
            Self.put(Self.noteTail, p, &at)
        }
        ends.6 = at
        let raw = UnsafeRawPointer(p)
        field(UnsafeRawBufferPointer(start: raw, count: ends.0))
        field(UnsafeRawBufferPointer(start: raw + ends.0, count: ends.1 - ends.0))
        field(UnsafeRawBufferPointer(start: raw + ends.1, count: ends.2 - ends.1))
        field(UnsafeRawBufferPointer(start: raw + ends.2, count: ends.3 - ends.2))
        field(UnsafeRawBufferPointer(start: raw + ends.3, count: ends.4 - ends.3))
        field(UnsafeRawBufferPointer(start: raw + ends.4, count: ends.5 - ends.4))
        field(i % 7 == 0 ? nil : UnsafeRawBufferPointer(start: raw + ends.5, count: ends.6 - ends.5))
    }
}

func peakRSSKiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("MySQLBench: \(message)\n".utf8))
    exit(2)
}

let args = CommandLine.arguments
guard args.count >= 2 else { fail("usage: see the comment at the top of main.swift") }

switch args[1] {
case "prepare":
    guard args.count == 4 else { fail("prepare <url> <table>") }
    let connection = try await MySQLConnection.connect(try MySQLConfig(url: args[2]))
    let table = try SQLIdentifier(args[3])
    try await connection.execute("DROP TABLE IF EXISTS \(table.quoted)")
    try await connection.execute(String(format: createTable, table.quoted))
    await connection.close()

case "tsv":
    guard args.count == 4, let rows = Int(args[2]) else { fail("tsv <rows> <file>") }
    guard FileManager.default.createFile(atPath: args[3], contents: nil) else { fail("cannot create \(args[3])") }
    guard let out = FileHandle(forWritingAtPath: args[3]) else { fail("cannot write \(args[3])") }
    var buffer: [UInt8] = []
    for i in 0..<rows {
        LoadDataFormat.append(row(i), to: &buffer)
        if buffer.count > 1 << 20 {
            out.write(Data(buffer))
            buffer.removeAll(keepingCapacity: true)
        }
    }
    out.write(Data(buffer))
    try out.close()

case "load":
    guard args.count >= 7, let rows = Int(args[4]), let path = LoadPath(rawValue: args[5]), let batch = Int(args[6])
    else { fail("load <url> <table> <rows> <path> <batch> [mode] [rows-as]") }
    let asStrings = args.count > 8 && args[8] == "strings"
    let mode = try LoadMode(name: args.count > 7 ? args[7] : "append")
    let connection = try await MySQLConnection.connect(try MySQLConfig(url: args[2]))
    let ledger = LedgerRecord(
        bucket: "bench", key: "\(args[3])/\(UUID().uuidString).csv", version: "v1", fencingToken: 1)
    let clock = ContinuousClock()
    let start = clock.now
    let load = try await connection.beginFileLoad(
        table: args[3], columns: columns, ledger: ledger, mode: mode, path: path)
    let begun = clock.now
    var next = 0
    if asStrings {
        var batchRows: [[String?]] = []
        batchRows.reserveCapacity(batch)
        while next < rows {
            batchRows.removeAll(keepingCapacity: true)
            for i in next..<min(next + batch, rows) { batchRows.append(row(i)) }
            next += batchRows.count
            try await load.append(batchRows)
        }
    } else {
        var generator = ByteRows()
        while next < rows {
            var rowsBatch = load.makeBatch()
            for i in next..<min(next + batch, rows) {
                generator.row(i) { rowsBatch.appendField($0) }
                try rowsBatch.endRow()
            }
            next += rowsBatch.count
            try await load.append(rowsBatch)
        }
    }
    let committing = clock.now
    let outcome = try await load.commit()
    let seconds = (clock.now - start) / .seconds(1)
    guard outcome == .loaded(rows: rows) else { fail("unexpected outcome \(outcome)") }
    let (beginSeconds, commitSeconds) = ((begun - start) / .seconds(1), (clock.now - committing) / .seconds(1))
    print(
        "{\"seconds\": \(seconds), \"begin_seconds\": \(beginSeconds), \"commit_seconds\": \(commitSeconds), \"rows\": \(rows), \"path\": \"\(load.path)\", \"peak_rss_kib\": \(peakRSSKiB())}"
    )
    await connection.close()

case "check":
    guard args.count == 3, let rows = Int(args[2]) else { fail("check <rows>") }
    var generator = ByteRows()
    for i in 0..<rows {
        var fields: [[UInt8]?] = []
        generator.row(i) { fields.append($0.map { Array($0) }) }
        guard fields == row(i).map({ $0.map { Array($0.utf8) } }) else { fail("row \(i) differs: \(fields) \(row(i))") }
    }
    print("the byte rows equal the String rows for \(rows) rows")

default:
    fail("unknown command \(args[1])")
}
