// dedupebench generate <path> <rows>   a keyed file: order_id in a shuffled order, 5% of rows repeating an
//                                      earlier key (deterministic)
// dedupebench read <path> <mode>       read it through CSVReader under a keyed contract and print one JSON
//                                      line: bytes, seconds, rows, duplicates, peak RSS, CPU seconds.
//                                      mode: default (the shipped settings: 40 MiB, spills to TMPDIR),
//                                      memory (max_memory 4 GiB: never spills, the old in-memory table),
//                                      off (dedupe: false, the floor)
import EsteiraCSV
import Foundation

struct Random {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func generate(path: String, rows: Int) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path)
    else {
        throw CocoaError(.fileWriteUnknown)
    }
    var random = Random(state: 7)
    var buffer = "order_id,customer,amount\n"
    // A bijection on 0..<2^40 scatters the ids (multiply by an odd constant, keep 40 bits).
    let mask: UInt64 = (1 << 40) - 1
    var last: [UInt64] = []
    for i in 0..<rows {
        let id: UInt64
        if i > 1000, random.next() % 20 == 0 {
            id = last[Int(random.next() % UInt64(last.count))]
        } else {
            id = (UInt64(i) &* 0x9E37_79B9_7F4B) & mask
            if last.count < 100_000 { last.append(id) } else { last[Int(random.next() % 100_000)] = id }
        }
        buffer += "\(id),customer \(random.next() % 50_000),\(random.next() % 100_000).\(random.next() % 100)\n"
        if buffer.utf8.count > 1 << 20 {
            out.write(Data(buffer.utf8))
            buffer = ""
        }
    }
    out.write(Data(buffer.utf8))
    try out.close()
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
        usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func peakRSS() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

func read(path: String, mode: String) throws {
    var contract = CSVContract(
        columns: [
            ColumnContract(name: "order_id", type: "bigint", required: true),
            ColumnContract(name: "customer", type: "varchar(120)"),
            ColumnContract(name: "amount", type: "decimal(12,2)"),
        ], key: ["order_id"])
    switch mode {
    case "default": break
    case "memory": contract.dedupe.maxMemoryBytes = 4 << 30
    case "off": contract.dedupe.enabled = false
    default: fatalError("mode: default, memory or off")
    }
    let reader = try CSVReader(options: CSVReadOptions(contract: contract))
    guard let handle = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
    let start = Date()
    let cpu0 = cpuSeconds()
    var bytes = 0
    var rows = 0
    let sink = { (event: CSVReadEvent) in if case .row = event { rows += 1 } }
    while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
        bytes += data.count
        try reader.consume(Array(data), sink)
    }
    let summary = try reader.finish(sink)
    let seconds = Date().timeIntervalSince(start)
    let cpu = cpuSeconds() - cpu0
    let line: [String: Any] = [
        "engine": "esteira-\(mode)", "bytes": bytes, "seconds": seconds, "cpu_seconds": cpu,
        "rows": rows, "duplicates": summary.duplicates, "peak_rss": peakRSS(),
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
}

let args = CommandLine.arguments
switch args.count >= 4 ? args[1] : "" {
case "generate": try generate(path: args[2], rows: Int(args[3])!)
case "read": try read(path: args[2], mode: args[3])
default:
    FileHandle.standardError.write(
        Data("usage: dedupebench generate <path> <rows> | read <path> default|memory|off\n".utf8))
    exit(2)
}
