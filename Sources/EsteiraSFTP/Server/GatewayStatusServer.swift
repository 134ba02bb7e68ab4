import EsteiraStatus
import NIOCore
import NIOPosix

/// `/metrics` (Prometheus) and the health endpoints for the gateway, on the status server the worker uses
/// too: `/healthz` and `/readyz` answer 503 while `health` says the gateway cannot serve (the bucket is
/// unreachable), `/livez` only says the process answers.
public final class GatewayStatusServer: Sendable {
    public let port: Int
    private let server: StatusServer

    private init(server: StatusServer) {
        self.port = server.port
        self.server = server
    }

    public static func start(
        host: String = "0.0.0.0", port: Int, metrics: SFTPMetrics, gateway: @escaping @Sendable () -> Int,
        health: @escaping @Sendable () -> (healthy: Bool, detail: String) = { (true, "") },
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> GatewayStatusServer {
        do {
            let server = try await StatusServer.start(host: host, port: port, group: group) { path in
                switch path {
                case "/metrics":
                    return (200, "text/plain; version=0.0.4", metrics.exposition())
                case "/healthz", "/readyz":
                    let (healthy, detail) = health()
                    return healthy
                        ? (200, "text/plain", "ok sessions=\(gateway())\n")
                        : (503, "text/plain", "unhealthy: \(detail)\n")
                case "/livez":
                    return (200, "text/plain", "ok\n")
                default:
                    return (404, "text/plain", "try /metrics, /healthz or /livez\n")
                }
            }
            return GatewayStatusServer(server: server)
        } catch let e as StatusServerError {
            throw SFTPGatewayError("\(e.description) (--http-port)")
        }
    }

    public func stop() async { await server.stop() }
}
