import EsteiraSync
import NIOCore
import NIOHTTP1
import NIOPosix

/// `/healthz`, `/readyz` and `/metrics` over HTTP/1.1 on NIO, shared by the worker and the SFTP gateway.
///
/// Every connection is served by the event loop, so no client can hold a thread: one that sends a byte
/// every few seconds (a slow loris) is cut when its request deadline passes, whatever it sends, and
/// connections past `maxConnections` are closed at once. Each connection gets one answer, then closes.
public final class StatusServer: Sendable {
    /// What a path answers: HTTP status, content type and body. Runs on an event loop: keep it quick.
    public typealias Handler = @Sendable (_ path: String) -> (status: Int, contentType: String, body: String)

    public struct Limits: Sendable {
        /// From connect to the end of the answer; a request not complete by then is dropped.
        public var requestDeadline: Duration
        /// Open connections at once; more are closed as they arrive.
        public var maxConnections: Int

        public init(requestDeadline: Duration = .seconds(5), maxConnections: Int = 64) {
            self.requestDeadline = requestDeadline
            self.maxConnections = maxConnections
        }
    }

    /// The port actually bound (useful when 0 asked for any free port).
    public let port: Int
    private let channel: any Channel
    private let open: Locked<Int>

    private init(port: Int, channel: any Channel, open: Locked<Int>) {
        self.port = port
        self.channel = channel
        self.open = open
    }

    /// Connections admitted and not closed yet.
    public var openConnections: Int { open.withLock { $0 } }

    public static func start(
        host: String = "0.0.0.0", port: Int, limits: Limits = Limits(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        handler: @escaping Handler
    ) async throws -> StatusServer {
        let open = Locked(0)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(ChannelOptions.backlog, value: 64)
                .childChannelInitializer { channel in
                    let admitted = open.withLock { n -> Bool in
                        guard n < limits.maxConnections else { return false }
                        n += 1
                        return true
                    }
                    guard admitted else { return channel.close() }
                    channel.closeFuture.whenComplete { _ in open.withLock { $0 -= 1 } }
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(
                            StatusHandler(handler: handler, deadline: TimeAmount(limits.requestDeadline)))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw StatusServerError(
                description: "cannot serve /healthz and /metrics on \(host):\(port): \(error) (choose another port)")
        }
        return StatusServer(port: channel.localAddress?.port ?? port, channel: channel, open: open)
    }

    public func stop() async { try? await channel.close() }
}

public struct StatusServerError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Answers the first request head and closes; the deadline closes a connection that never gets that far.
private final class StatusHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let handler: StatusServer.Handler
    let deadline: TimeAmount
    private var timer: Scheduled<Void>?
    private var answered = false

    init(handler: @escaping StatusServer.Handler, deadline: TimeAmount) {
        self.handler = handler
        self.deadline = deadline
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data), !answered else { return }
        answered = true
        let (status, type, body): (Int, String, String)
        if head.method == .GET || head.method == .HEAD {
            (status, type, body) = handler(head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/")
        } else {
            (status, type, body) = (405, "text/plain", "only GET is served here\n")
        }
        var headers = HTTPHeaders([
            ("content-type", type), ("content-length", String(body.utf8.count)),
            ("connection", "close"), ("cache-control", "no-store"),
        ])
        if status == 405 { headers.add(name: "allow", value: "GET, HEAD") }
        let responseHead = HTTPResponseHead(
            version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if head.method != .HEAD {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
