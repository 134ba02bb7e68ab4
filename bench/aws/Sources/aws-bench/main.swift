import EsteiraAWS
import Foundation

// S3 GET throughput and CPU per GB: EsteiraAWS's streamed GetObject against the `curl` command
// fetching the same object from the same server, alternating, in the same run.

struct Sample {
    var seconds: Double
    var cpuSeconds: Double
}

func cpuSeconds(_ who: __rusage_who) -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(who.rawValue), &usage)
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return s(usage.ru_utime) + s(usage.ru_stime)
}

func median(_ values: [Double]) -> Double {
    let v = values.sorted()
    return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("aws-bench: \(message)\n".utf8))
    exit(1)
}

let env = ProcessInfo.processInfo.environment
let sizeMB = Int(env["BENCH_SIZE_MB"] ?? "") ?? 256
let runs = Int(env["BENCH_RUNS"] ?? "") ?? 5
guard let endpoint = env["AWS_ENDPOINT_URL"], let key = env["AWS_ACCESS_KEY_ID"],
    let secret = env["AWS_SECRET_ACCESS_KEY"]
else {
    fail("set AWS_ENDPOINT_URL and keys (source /work/main/.local/env)")
}
let config = try AWSConfig.fromEnvironment()
let s3 = S3Client(client: AWSClient(config: config))
let bucket = "esteira-bench-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
let objectKey = "bench/object.bin"
let size = sizeMB << 20

// The object: written once to a temporary file, uploaded in parts.
let path = NSTemporaryDirectory() + "esteira-bench-\(getpid()).bin"
do {
    var block = [UInt8](repeating: 0, count: 1 << 20)
    for i in block.indices { block[i] = UInt8(truncatingIfNeeded: i &* 131) }
    guard FileManager.default.createFile(atPath: path, contents: nil) else { fail("cannot create \(path)") }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    for _ in 0..<sizeMB { handle.write(Data(block)) }
    try handle.close()
}
defer { try? FileManager.default.removeItem(atPath: path) }
try await s3.createBucket(bucket)
try await s3.uploadFile(bucket: bucket, key: objectKey, path: path, partSize: 32 << 20)
print("object: \(sizeMB) MiB in s3://\(bucket)/\(objectKey) at \(endpoint); \(runs) runs each, alternating")

func swiftGET() async throws -> Sample {
    let cpu0 = cpuSeconds(RUSAGE_SELF)
    let t0 = Date()
    let (_, body) = try await s3.getObjectStream(bucket: bucket, key: objectKey)
    var count = 0
    for try await chunk in body { count += chunk.count }
    guard count == size else { fail("Swift GET read \(count) of \(size) bytes") }
    return Sample(seconds: Date().timeIntervalSince(t0), cpuSeconds: cpuSeconds(RUSAGE_SELF) - cpu0)
}

func curlGET() throws -> Sample {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    p.arguments = [
        "-sf", "-o", "/dev/null", "--aws-sigv4", "aws:amz:\(config.region):s3", "--user", "\(key):\(secret)",
        "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "\(endpoint)/\(bucket)/\(objectKey)",
    ]
    let cpu0 = cpuSeconds(RUSAGE_CHILDREN)
    let t0 = Date()
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { fail("curl exited with \(p.terminationStatus)") }
    return Sample(seconds: Date().timeIntervalSince(t0), cpuSeconds: cpuSeconds(RUSAGE_CHILDREN) - cpu0)
}

var ours: [Sample] = []
var theirs: [Sample] = []
_ = try await swiftGET()  // warm-up: connection, first allocation of buffers
for _ in 0..<runs {
    ours.append(try await swiftGET())
    theirs.append(try curlGET())
}
try await s3.deleteObject(bucket: bucket, key: objectKey)

let gb = Double(size) / Double(1 << 30)
let mb = Double(size) / Double(1 << 20)
func report(_ name: String, _ s: [Sample]) -> (Double, Double) {
    let throughput = median(s.map { mb / $0.seconds })
    let cpu = median(s.map { $0.cpuSeconds / gb })
    print(String(format: "%-10@ median %8.1f MiB/s   %6.3f CPU s/GiB", name as NSString, throughput, cpu))
    return (throughput, cpu)
}
let (ourRate, ourCPU) = report("EsteiraAWS", ours)
let (curlRate, curlCPU) = report("curl", theirs)
print(
    String(
        format: "ratio (EsteiraAWS / curl): throughput %.2f×, CPU per GiB %.2f×", ourRate / curlRate, ourCPU / curlCPU))
print("note: both are bounded by the server; moto serves from Python, so the CPU ratio is the telling number")
