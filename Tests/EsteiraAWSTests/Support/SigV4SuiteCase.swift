import Foundation
import Testing

/// One case of AWS's SigV4 test suite: a folder `NAME` holding `NAME.req` (the
/// request), `.creq` (canonical request), `.sts` (string to sign), `.authz`
/// (Authorization value) and `.sreq` (the signed request). Cases sit at the top
/// of the suite or one level down (normalize-path/, post-sts-token/).
struct SigV4SuiteCase: Sendable, CustomTestStringConvertible {
    /// Path relative to the suite root, e.g. `normalize-path/get-slash`.
    let relativePath: String
    let directory: URL

    var name: String { directory.lastPathComponent }
    var testDescription: String { relativePath }

    /// The suite folder: `$ESTEIRA_TESTDATA/aws-sig-v4-test-suite` when set,
    /// else `<package root>/../shared/testdata/aws-sig-v4-test-suite`, the
    /// package root found from `testFile`, a file in `Tests/EsteiraAWSTests/`.
    static func suiteRoot(testFile: String) -> URL {
        let testdata: URL
        if let override = ProcessInfo.processInfo.environment["ESTEIRA_TESTDATA"], !override.isEmpty {
            testdata = URL(fileURLWithPath: override, isDirectory: true)
        } else {
            let packageRoot = URL(fileURLWithPath: testFile)
                .deletingLastPathComponent()  // EsteiraAWSTests/
                .deletingLastPathComponent()  // Tests/
                .deletingLastPathComponent()  // package root
            testdata = packageRoot.appendingPathComponent("../shared/testdata", isDirectory: true)
        }
        return testdata.appendingPathComponent("aws-sig-v4-test-suite", isDirectory: true).standardizedFileURL
    }

    /// Every case folder under the suite root, found by listing it (a folder is
    /// a case when it holds `<its name>.req`). Throws when the suite is missing
    /// or has no case, so that a misplaced checkout fails instead of passing
    /// vacuously.
    static func all(testFile: String = #filePath) throws -> [SigV4SuiteCase] {
        let root = suiteRoot(testFile: testFile)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SigV4SuiteError(
                "AWS SigV4 test suite not found at \(root.path); set ESTEIRA_TESTDATA to the testdata folder")
        }
        guard
            let walker = FileManager.default.enumerator(
                at: root, includingPropertiesForKeys: [.isDirectoryKey], options: [.skipsHiddenFiles])
        else {
            throw SigV4SuiteError("cannot list \(root.path)")
        }
        var cases: [SigV4SuiteCase] = []
        for case let url as URL in walker {
            guard (try? url.resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory == true else { continue }
            let request = url.appendingPathComponent(url.lastPathComponent + ".req")
            guard FileManager.default.fileExists(atPath: request.path) else { continue }
            let relative = url.standardizedFileURL.path.dropFirst(root.path.count + 1)
            cases.append(SigV4SuiteCase(relativePath: String(relative), directory: url.standardizedFileURL))
        }
        guard !cases.isEmpty else {
            throw SigV4SuiteError("no case folder (NAME/NAME.req) in \(root.path)")
        }
        return cases.sorted { $0.relativePath < $1.relativePath }
    }

    /// The text of `NAME.<fileExtension>`, exactly as stored (no trailing newline).
    func text(_ fileExtension: String) throws -> String {
        let url = directory.appendingPathComponent("\(name).\(fileExtension)")
        let data = try Data(contentsOf: url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw SigV4SuiteError("\(url.path) is not UTF-8")
        }
        return text
    }

    func request() throws -> SigV4SuiteRequest { try SigV4SuiteRequest(parsing: text("req")) }
    func signedRequest() throws -> SigV4SuiteRequest { try SigV4SuiteRequest(parsing: text("sreq")) }
}

/// A request as the suite writes it: request line, headers, blank line, body.
struct SigV4SuiteRequest {
    let method: String
    /// The path exactly as on the request line: the suite leaves spaces and
    /// UTF-8 unescaped there, so this is the wire path, not a logical one.
    let path: String
    /// Query items, percent-decoded.
    let query: [(String, String)]
    /// Headers in file order, names as written; a value folded over several
    /// lines keeps its line breaks (`value1\n  value2`) for the signer to
    /// canonicalise.
    let headers: [(String, String)]
    let body: [UInt8]

    init(parsing text: String) throws {
        // "\r\n" is one Character in Swift, so it is matched as a whole.
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }[...]
        guard let requestLine = lines.popFirst(),
            let firstSpace = requestLine.firstIndex(of: " "),
            let lastSpace = requestLine.lastIndex(of: " "), firstSpace < lastSpace
        else {
            throw SigV4SuiteError("malformed request line in:\n\(text)")
        }
        method = String(requestLine[..<firstSpace])
        // The target may contain spaces (get-space), so it runs to the last
        // space, before the HTTP version.
        let target = requestLine[requestLine.index(after: firstSpace)..<lastSpace]
        if let questionMark = target.firstIndex(of: "?") {
            path = String(target[..<questionMark])
            query = try target[target.index(after: questionMark)...]
                .split(separator: "&")
                .map { pair in
                    let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    return (try Self.percentDecoded(parts[0]), parts.count > 1 ? try Self.percentDecoded(parts[1]) : "")
                }
        } else {
            path = String(target)
            query = []
        }

        var headers: [(String, String)] = []
        while let line = lines.popFirst(), !line.isEmpty {
            if line.first == " " || line.first == "\t" {
                guard !headers.isEmpty else { throw SigV4SuiteError("continuation line before any header: \(line)") }
                headers[headers.count - 1].1 += "\n" + line
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { throw SigV4SuiteError("malformed header line: \(line)") }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
        self.headers = headers
        body = Array(lines.joined(separator: "\n").utf8)
    }

    /// Values of the header `name` (any case), trimmed.
    func values(of name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name }.map { $0.1.trimmingCharacters(in: .whitespaces) }
    }

    private static func percentDecoded(_ text: Substring) throws -> String {
        guard text.contains("%") else { return String(text) }
        guard let decoded = text.removingPercentEncoding else {
            throw SigV4SuiteError("bad percent-encoding in query: \(text)")
        }
        return decoded
    }
}

struct SigV4SuiteError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
