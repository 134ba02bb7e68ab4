// csvbench generate <path> <bytes>   writes the orders-like file (deterministic)
// csvbench read <path>               parse + type + clean it through CSVReader under the orders contract
//                                    (canonical bytes per value), and print one JSON line: bytes, seconds,
//                                    MB/s, rows, rejects, peak RSS
// csvbench read-strings <path>       the same, plus a [String?] per row as FileLoad.append takes today
// csvbench parse|strings <path>      floors: the parser alone; the parser plus one String per field
import EsteiraCSV
import Foundation

/// A small deterministic generator (splitmix64), so every run and every engine reads the same file.
struct Random {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

let header = "order_id,customer_id,customer,amount,quantity,ordered_at,shipped_at,status,paid,notes\n"

/// The contract the benchmark types and cleans under: what a real orders route would declare.
let contract = CSVContract(
    columns: [
        ColumnContract(name: "order_id", type: "bigint", required: true),
        ColumnContract(name: "customer_id", type: "int", required: true),
        ColumnContract(name: "customer", type: "varchar(120)", required: true),
        ColumnContract(name: "amount", type: "decimal(12,2)", required: true),
        ColumnContract(name: "quantity", type: "int"),
        ColumnContract(name: "ordered_at", type: "date", required: true),
        ColumnContract(name: "shipped_at", type: "datetime"),
        ColumnContract(name: "status", type: "enum", values: ["new", "paid", "shipped", "cancelled"]),
        ColumnContract(name: "paid", type: "boolean"),
        ColumnContract(name: "notes", type: "text"),
    ], dedupe: DedupeSettings(enabled: false))

func generate(path: String, bytes target: Int) throws {
    let names = [
        "Ana Souza", "Bruno Lima", "Carla Dias", "Diego Alves", "Eva Martins", "Fábio Nunes", "Gil Prado",
        "Helena Reis", "Ícaro Melo", "Joana Paz",
    ]
    let notes = [
        "", "", "", "gift wrap", "\"leave at the door, ring twice\"", "\"fragile, \"\"glass\"\"\"",
        "\"two lines:\ndeliver after 6pm\"", "\"customer called, wants invoice\"", "", "\"a, b, c\"",
    ]
    let statuses = ["new", "paid", "shipped", "cancelled"]
    guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path)
    else {
        throw CocoaError(.fileWriteUnknown)
    }
    var random = Random(state: 42)
    var buffer = header
    var written = 0
    var id = 1_000_000
    while written < target {
        id += 1
        let name = names[random.below(names.count)]
        let customer = random.below(4) == 0 ? "\"\(name), Ltd\"" : name
        let amount = "\(random.below(100_000)).\(String(format: "%02d", random.below(100)))"
        let day = 1 + random.below(28)
        let month = 1 + random.below(12)
        let date = "2026-\(month < 10 ? "0" : "")\(month)-\(day < 10 ? "0" : "")\(day)"
        let shipped = random.below(3) == 0 ? "" : "\(date)T\(10 + random.below(10)):\(10 + random.below(50)):00-03:00"
        var row =
            "\(id),\(random.below(50_000)),\(customer),\(amount),\(1 + random.below(9)),\(date),\(shipped),\(statuses[random.below(4)]),\(random.below(2) == 0 ? "true" : "false"),\(notes[random.below(notes.count)])\n"
        // About 2% dirty rows, of the kinds partners send.
        if random.below(50) == 0 {
            switch random.below(4) {
            case 0: row = "\(id),1,\(name),12.3x,1,\(date),,new,true,bad amount\n"
            case 1: row = "\(id),1,\(name),1.00,1,2026-02-30,,new,true,impossible date\n"
            case 2: row = "\(id),1,\(name),1.00\n"
            default: row = "\(id),1,,1.00,1,\(date),,new,true,no customer\n"
            }
        }
        buffer += row
        if buffer.utf8.count > 1 << 20 {
            out.write(Data(buffer.utf8))
            written += buffer.utf8.count
            buffer = ""
        }
    }
    out.write(Data(buffer.utf8))
    try out.close()
}

func peakRSSBytes() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_maxrss * 1024
}

/// User + system CPU seconds of this process so far. On a shared machine wall time includes the time
/// other processes held the core; CPU time is what the engine itself spent, so MB per CPU-second is the
/// steadier "per core" figure. Both are printed.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
        usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func read(path: String, strings: Bool) throws {
    guard let input = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
    // BENCH_CONTRACT=text loads every column as text: the cost of the machinery without conversions.
    var chosen = contract
    if ProcessInfo.processInfo.environment["BENCH_CONTRACT"] == "text" {
        chosen.columns = chosen.columns.map { ColumnContract(name: $0.name, type: "text", required: $0.required) }
    }
    let reader = try CSVReader(options: CSVReadOptions(contract: chosen))
    let showRejects = Int(ProcessInfo.processInfo.environment["BENCH_SHOW_REJECTS"] ?? "") ?? 0
    // The counters live behind a pointer: captured `var`s of a closure the compiler cannot prove
    // non-escaping pay a dynamic exclusivity check per access, a cost of the harness, not of the engine.
    let tally = UnsafeMutablePointer<(rows: Int, rejected: Int, checksum: Int)>.allocate(capacity: 1)
    tally.initialize(to: (0, 0, 0))
    defer { tally.deallocate() }
    // What the pipeline does with a row: keep it for the next batch. Here: touch it and let it go.
    let sink = { (event: CSVReadEvent) in
        switch event {
        case .row(let row):
            tally.pointee.rows += 1
            if strings {
                // What the pipeline does today: FileLoad.append takes [[String?]].
                tally.pointee.checksum &+= row.strings.count
            } else {
                var sum = 0
                for i in 0..<row.count { sum &+= row[i]?.count ?? 0 }
                tally.pointee.checksum &+= sum
            }
        case .rejected(let row):
            tally.pointee.rejected += 1
            // BENCH_SHOW_REJECTS=n prints the first n reasons, to check the dirty share is the intended one.
            if tally.pointee.rejected <= showRejects {
                FileHandle.standardError.write(Data("line \(row.line): \(row.reason)\n".utf8))
            }
        case .columns: break
        }
    }
    var bytes = 0
    let start = DispatchTime.now().uptimeNanoseconds
    let cpuStart = cpuSeconds()
    while true {
        let chunk = input.readData(ofLength: 1 << 20)
        if chunk.isEmpty { break }
        bytes += chunk.count
        try chunk.withUnsafeBytes { try reader.consume($0, sink) }
    }
    let summary = try reader.finish(sink)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let cpu = cpuSeconds() - cpuStart
    let (rows, rejected, checksum) = tally.pointee
    let decoded = Double(summary.bytes)
    print(
        "{\"engine\":\"\(strings ? "esteira-typed-strings" : "esteira-typed")\",\"bytes\":\(bytes),\"decoded_bytes\":\(Int(decoded)),\"seconds\":\(seconds),\"mb_per_s\":\(decoded / 1e6 / seconds),\"cpu_seconds\":\(cpu),\"mb_per_cpu_s\":\(decoded / 1e6 / cpu),\"rows\":\(rows),\"rejected\":\(rejected),\"peak_rss\":\(peakRSSBytes()),\"check\":\(checksum)}"
    )
}

/// The floor under `read`: the parser alone (mode parse), and the parser plus one String per field
/// (mode strings), over the same chunks.
func floor(path: String, strings: Bool) throws {
    guard let input = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
    var parser = CSVParser()
    var records = 0
    var check = 0
    let start = DispatchTime.now().uptimeNanoseconds
    let cpuStart = cpuSeconds()
    var bytes = 0
    while true {
        let chunk = input.readData(ofLength: 1 << 20)
        if chunk.isEmpty { break }
        bytes += chunk.count
        chunk.withUnsafeBytes { raw in
            parser.consume(raw) { event in
                guard case .record(let record) = event else { return }
                records += 1
                if strings {
                    var row: [String?] = []
                    row.reserveCapacity(record.count)
                    for i in 0..<record.count { row.append(record.string(at: i)) }
                    check &+= row.count
                }
            }
        }
    }
    parser.finish { _ in }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let cpu = cpuSeconds() - cpuStart
    print(
        "{\"engine\":\"esteira-\(strings ? "strings" : "parse")\",\"bytes\":\(bytes),\"seconds\":\(seconds),\"mb_per_s\":\(Double(bytes) / 1e6 / seconds),\"cpu_seconds\":\(cpu),\"mb_per_cpu_s\":\(Double(bytes) / 1e6 / cpu),\"rows\":\(records),\"peak_rss\":\(peakRSSBytes()),\"check\":\(check)}"
    )
}

let args = CommandLine.arguments
switch args.dropFirst().first {
case "generate" where args.count == 4:
    try generate(path: args[2], bytes: Int(args[3])!)
case "read" where args.count == 3:
    try read(path: args[2], strings: false)
case "read-strings" where args.count == 3:
    try read(path: args[2], strings: true)
case "parse" where args.count == 3:
    try floor(path: args[2], strings: false)
case "strings" where args.count == 3:
    try floor(path: args[2], strings: true)
default:
    FileHandle.standardError.write(Data("usage: csvbench generate <path> <bytes> | csvbench read <path>\n".utf8))
    exit(2)
}
