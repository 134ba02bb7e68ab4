import Foundation

/// `~/.aws/config` and `~/.aws/credentials` (or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE),
/// merged per profile as the SDKs merge them: a key in the credentials file wins.
public struct SharedConfigFiles: Sendable {
    /// Profile name → lower-cased key → value.
    public var profiles: [String: [String: String]]
    /// The files that were read, for error messages.
    public var paths: [String]

    public init(profiles: [String: [String: String]], paths: [String] = []) {
        self.profiles = profiles
        self.paths = paths
    }

    /// Reads both files; a missing file is simply empty.
    public static func load(_ env: [String: String]) -> SharedConfigFiles {
        let home = env["HOME"] ?? ""
        let configPath = env["AWS_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.aws/config"
        let credentialsPath =
            env["AWS_SHARED_CREDENTIALS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "\(home)/.aws/credentials"
        var profiles: [String: [String: String]] = [:]
        if let text = try? String(contentsOfFile: configPath, encoding: .utf8) {
            profiles.merge(parse(text, isConfigFile: true)) { old, new in old.merging(new) { $1 } }
        }
        if let text = try? String(contentsOfFile: credentialsPath, encoding: .utf8) {
            profiles.merge(parse(text, isConfigFile: false)) { old, new in old.merging(new) { $1 } }
        }
        return SharedConfigFiles(profiles: profiles, paths: [configPath, credentialsPath])
    }

    /// The INI dialect of these files: `[default]`; `[profile name]` in the config file but `[name]`
    /// in the credentials file; `key = value`; `#` and `;` comments; indented lines continue a nested
    /// setting (`s3 =` …) and are skipped, as are other section kinds (`[sso-session …]`, `[services …]`).
    public static func parse(_ text: String, isConfigFile: Bool) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = stripComment(String(rawLine))
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            if line.first == " " || line.first == "\t" { continue }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]") else {
                    current = nil
                    continue
                }
                let name = trimmed.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                if name == "default" {
                    current = "default"
                } else if isConfigFile {
                    let parts = name.split(separator: " ", maxSplits: 1)
                    current =
                        parts.count == 2 && parts[0] == "profile"
                        ? parts[1].trimmingCharacters(in: .whitespaces) : nil
                } else {
                    current = name
                }
                if let current, out[current] == nil { out[current] = [:] }
                continue
            }
            guard let profile = current, let eq = trimmed.firstIndex(of: "=") else { continue }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            out[profile, default: [:]][key] = value
        }
        return out
    }

    /// A comment starts a line, or follows whitespace (so `#` inside a value such as a secret stays).
    private static func stripComment(_ line: String) -> String {
        let t = line.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("#") || t.hasPrefix(";") { return "" }
        var previous: Character = "x"
        for i in line.indices {
            let c = line[i]
            if (c == "#" || c == ";") && (previous == " " || previous == "\t") { return String(line[..<i]) }
            previous = c
        }
        return line
    }
}
