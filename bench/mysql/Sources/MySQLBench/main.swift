import EsteiraMySQL
import Foundation

// One measurement per process, so each reports its own peak RSS. ./run.sh calls it several times and
// prints medians and ratios.
//
//   MySQLBench prepare  <url> <table>                       (re)create the table, empty
//   MySQLBench tsv      <rows> <file>                       the same rows, as LOAD DATA text, for the mariadb client
//   MySQLBench load     <url> <table> <rows> <path> <batch> [mode]   load through FileLoad, print a JSON line
//
// path: load-data-local-infile | batched-insert. mode: append (default) | upsert | insert-ignore.

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
    else { fail("load <url> <table> <rows> <path> <batch> [mode]") }
    let mode = try LoadMode(name: args.count > 7 ? args[7] : "append")
    let connection = try await MySQLConnection.connect(try MySQLConfig(url: args[2]))
    let ledger = LedgerRecord(bucket: "bench", key: "\(args[3])/\(UUID().uuidString).csv", version: "v1", fencingToken: 1)
    let clock = ContinuousClock()
    let start = clock.now
    let load = try await connection.beginFileLoad(table: args[3], columns: columns, ledger: ledger, mode: mode, path: path)
    var next = 0
    var batchRows: [[String?]] = []
    batchRows.reserveCapacity(batch)
    while next < rows {
        batchRows.removeAll(keepingCapacity: true)
        for i in next..<min(next + batch, rows) { batchRows.append(row(i)) }
        next += batchRows.count
        try await load.append(batchRows)
    }
    let outcome = try await load.commit()
    let seconds = (clock.now - start) / .seconds(1)
    guard outcome == .loaded(rows: rows) else { fail("unexpected outcome \(outcome)") }
    print("{\"seconds\": \(seconds), \"rows\": \(rows), \"path\": \"\(load.path)\", \"peak_rss_kib\": \(peakRSSKiB())}")
    await connection.close()

default:
    fail("unknown command \(args[1])")
}
