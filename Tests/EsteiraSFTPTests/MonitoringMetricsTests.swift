import Foundation
import Testing

/// The chart's alerts and dashboard name only `esteira_sftp_*` metrics a running gateway really serves.
@Suite("Monitoring: the chart's SFTP metric names exist")
struct SFTPMonitoringMetricsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("every esteira_sftp_* metric of the alert rules and the dashboard is exported after a login and a failed one")
    func chartNamesAreExported() async throws {
        var wanted: Set<String> = []
        for file in ["helm/esteira/files/alerts.yaml", "helm/esteira/files/dashboard.json"] {
            let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: /esteira_sftp_[a-z0-9_]+/) { wanted.insert(String(match.output)) }
        }
        #expect(wanted.contains("esteira_sftp_auth_failures_total"))
        try await GatewayHarness.with { h in
            try await h.sftp(["ls"], password: h.password).expectSuccess()
            let refused = try await h.sftp(["ls"], user: "acme", password: "wrong")
            #expect(refused.status != 0)
            var exported: Set<String> = []
            for line in h.metrics.exposition().split(separator: "\n") where !line.hasPrefix("#") {
                if let end = line.firstIndex(where: { $0 == "{" || $0 == " " }) {
                    exported.insert(String(line[..<end]))
                }
            }
            #expect(
                wanted.subtracting(exported).isEmpty,
                "named by the chart but not exported: \(wanted.subtracting(exported).sorted())\n\(h.metrics.exposition())"
            )
        }
    }
}
