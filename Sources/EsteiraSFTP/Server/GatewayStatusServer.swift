import EsteiraStatus
import NIOCore
import NIOPosix

/// `/metrics` (Prometheus) and `/healthz` for the gateway, on the status server the worker uses too.
public final class GatewayStatusServer: Sendable {
    public let port: Int
    private let server: StatusServer

    private init(server: StatusServer) {
        self.port = server.port
        self.server = server
    }

    public static func start(host: String = "0.0.0.0", port: Int, metrics: SFTPMetrics, gateway: @escaping @Sendable () -> Int,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> GatewayStatusServer {
        do {
            let server = try await StatusServer.start(host: host, port: port, group: group) { path in
                switch path {
                case "/metrics": (200, "text/plain; version=0.0.4", metrics.exposition())
                case "/healthz", "/readyz": (200, "text/plain", "ok sessions=\(gateway())\n")
                default: (404, "text/plain", "try /metrics or /healthz\n")
                }
            }
            return GatewayStatusServer(server: server)
        } catch let e as StatusServerError {
            throw SFTPGatewayError("\(e.description) (--http-port)")
        }
    }

    public func stop() async { await server.stop() }
}
