import ArgumentParser
import EsteiraPipeline
import Foundation

struct RoutesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Work with routes files.",
        subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a routes file; every problem names its line. Exit 1 when there is one.",
            discussion: "Example:\n  esteira routes check examples/routes.yaml")
        @Argument(help: "The routes file (default: ESTEIRA_ROUTES).") var file: String?
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            guard let path = file ?? env("ESTEIRA_ROUTES") else {
                throw ValidationError("name the routes file, or set ESTEIRA_ROUTES")
            }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw UserFacingError("cannot read \(path): check the path and that it is UTF-8 text")
            }
            let problems = RoutesLinter.check(yaml: text)
            if json {
                Output.json([
                    "file": path, "ok": problems.isEmpty,
                    "problems": problems.map { ["line": $0.line, "message": $0.message] },
                ])
            } else if problems.isEmpty {
                let count = (try? RouteTable.parse(yaml: text).routes.count) ?? 0
                print("\(path): ok, \(count) route(s)")
            } else {
                for p in problems { print("\(path):\(p.line): \(p.message)") }
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}
