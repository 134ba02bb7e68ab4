import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// `/metrics` (Prometheus) and the health endpoints for the gateway, on NIO like the gateway itself:
/// `/healthz` and `/readyz` answer 503 while `health` says the gateway cannot serve (the bucket is
/// unreachable), `/livez` only says the process answers.
public final class GatewayStatusServer: Sendable {
    public let port: Int
    private let channel: any Channel

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    public static func start(host: String = "0.0.0.0", port: Int, metrics: SFTPMetrics, gateway: @escaping @Sendable () -> Int,
                             health: @escaping @Sendable () -> (healthy: Bool, detail: String) = { (true, "") },
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> GatewayStatusServer {
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(StatusHandler(metrics: metrics, sessions: gateway, health: health))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw SFTPGatewayError("cannot serve /metrics on \(host):\(port): \(error) (choose another with --http-port)")
        }
        return GatewayStatusServer(port: channel.localAddress?.port ?? port, channel: channel)
    }

    public func stop() async { try? await channel.close() }
}

private final class StatusHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let metrics: SFTPMetrics
    let sessions: @Sendable () -> Int
    let health: @Sendable () -> (healthy: Bool, detail: String)

    init(metrics: SFTPMetrics, sessions: @escaping @Sendable () -> Int,
         health: @escaping @Sendable () -> (healthy: Bool, detail: String)) {
        self.metrics = metrics
        self.sessions = sessions
        self.health = health
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let (status, type, body): (HTTPResponseStatus, String, String)
        switch head.uri.split(separator: "?").first.map(String.init) ?? "" {
        case "/metrics": (status, type, body) = (.ok, "text/plain; version=0.0.4", metrics.exposition())
        case "/healthz", "/readyz":
            let (healthy, detail) = health()
            (status, type, body) = healthy
                ? (.ok, "text/plain", "ok sessions=\(sessions())\n")
                : (.serviceUnavailable, "text/plain", "unhealthy: \(detail)\n")
        case "/livez": (status, type, body) = (.ok, "text/plain", "ok\n")
        default: (status, type, body) = (.notFound, "text/plain", "try /metrics or /healthz\n")
        }
        var headers = HTTPHeaders([("content-type", type), ("content-length", String(body.utf8.count)), ("connection", "close")])
        headers.add(name: "cache-control", value: "no-store")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
