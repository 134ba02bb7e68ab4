import EsteiraCSV
import Foundation

/// Everything a `CSVReader` produced for one input, copied out.
struct ReadResult {
    var columns: [String] = []
    var rows: [[String?]] = []
    var rejected: [RejectedRow] = []
    var summary = CSVReadSummary()
}

/// Reads `bytes` cut into chunks of `chunkSize` (the whole input at once by default).
func read(_ bytes: [UInt8], _ options: CSVReadOptions = CSVReadOptions(), chunkSize: Int? = nil) throws -> ReadResult {
    var result = ReadResult()
    let reader = try CSVReader(options: options)
    let sink = { (event: CSVReadEvent) in
        switch event {
        case .columns(let names): result.columns = names
        case .row(let values): result.rows.append(values.strings)
        case .rejected(let row): result.rejected.append(row)
        }
    }
    let size = max(1, chunkSize ?? bytes.count)
    var start = 0
    while start < bytes.count {
        let end = min(bytes.count, start + size)
        try reader.consume(Array(bytes[start..<end]), sink)
        start = end
    }
    result.summary = try reader.finish(sink)
    return result
}

func read(_ text: String, _ options: CSVReadOptions = CSVReadOptions(), chunkSize: Int? = nil) throws -> ReadResult {
    try read(Array(text.utf8), options, chunkSize: chunkSize)
}

/// Text in Windows-1252, as Excel on a Brazilian Windows machine saves it.
func windows1252(_ text: String) -> [UInt8] {
    let high: [Unicode.Scalar: UInt8] = [
        "€": 0x80, "‚": 0x82, "„": 0x84, "…": 0x85, "‘": 0x91, "’": 0x92, "“": 0x93, "”": 0x94, "–": 0x96, "—": 0x97,
    ]
    return text.unicodeScalars.map { scalar in
        if let b = high[scalar] { return b }
        precondition(scalar.value < 0x100, "\(scalar) is not in Windows-1252")
        return UInt8(scalar.value)
    }
}

/// gzip through the system's gzip, so the test data is compressed by something other than the code under test.
func gzip(_ bytes: [UInt8], arguments: [String] = ["-c"]) throws -> [UInt8] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["gzip"] + arguments
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    // Written from another thread so a large input cannot deadlock against a full output pipe.
    let writer = Thread {
        input.fileHandleForWriting.write(Data(bytes))
        try? input.fileHandleForWriting.close()
    }
    writer.start()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Array(data)
}
