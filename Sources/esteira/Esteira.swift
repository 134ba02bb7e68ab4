import ArgumentParser
import EsteiraAWS
import Foundation

@main
struct Esteira: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "esteira",
        abstract: "Loads CSV files landing in S3 into MySQL, exactly once per file version.",
        discussion: """
            AWS settings come from the standard variables (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
            AWS_SESSION_TOKEN, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>). For the local stack: \
            `make services-up && source .local/env`.
            """,
        subcommands: [
            SetupCommand.self, WorkerCommand.self, DLQCommand.self, JobsCommand.self, RoutesCommand.self,
            InferCommand.self, LoadCommand.self,
            ReloadCommand.self, UnloadCommand.self, BackfillCommand.self, ReconcileCommand.self, SFTPCommand.self,
        ])

    /// Ignores SIGPIPE for the whole process first: a peer that closes early (a probe, a scraper, an SFTP
    /// client) must cost one failed write, never the process.
    static func main() async {
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
            // Every request is over by now: close the pooled connections and end the `esteira-http` thread.
            await HTTPTransport.shutdownSharedIfStarted()
        } catch {
            await HTTPTransport.shutdownSharedIfStarted()
            exit(withError: error)
        }
    }
}
