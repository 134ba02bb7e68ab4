import NIOCore
import NIOSSH

/// First handler of an SSH session channel: answers the channel requests (only the `sftp`
/// subsystem is served: no shell, exec or terminal), then turns the channel's bytes into whole SFTP
/// packets for the session and its replies back into channel data.
final class SFTPSubsystemHandler: ChannelDuplexHandler {
    typealias InboundIn = SSHChannelData
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = SSHChannelData

    /// Admission when the client asks for the subsystem: nil to start, or the reason to refuse,
    /// which the client prints (it is sent on the channel's stderr).
    private let admit: () -> String?
    private var started = false
    /// Set once the channel is being ended; later requests are ignored.
    private var closing = false
    private var pending: ByteBuffer?

    init(admit: @escaping () -> String?) {
        self.admit = admit
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if closing,
            event is SSHChannelRequestEvent.SubsystemRequest || event is SSHChannelRequestEvent.ExecRequest
                || event is SSHChannelRequestEvent.ShellRequest
        {
            return
        }
        switch event {
        case let request as SSHChannelRequestEvent.SubsystemRequest:
            guard request.subsystem == "sftp", !started else {
                refuse(
                    context, wantReply: request.wantReply,
                    message: "this server offers only the sftp subsystem, not '\(request.subsystem)'\r\n",
                    close: !started)
                return
            }
            if let reason = admit() {
                endWithMessage(context, wantReply: request.wantReply, message: reason + "\r\n")
                return
            }
            started = true
            if request.wantReply { context.triggerUserOutboundEvent(ChannelSuccessEvent(), promise: nil) }
        case let request as SSHChannelRequestEvent.ExecRequest:
            endWithMessage(
                context, wantReply: request.wantReply,
                message: "this server offers SFTP only; connect with `sftp` instead of running commands\r\n")
        case let request as SSHChannelRequestEvent.ShellRequest:
            endWithMessage(
                context, wantReply: request.wantReply,
                message: "this server offers SFTP only; connect with `sftp` instead of `ssh`\r\n")
        case let request as SSHChannelRequestEvent.PseudoTerminalRequest:
            if request.wantReply { context.triggerUserOutboundEvent(ChannelFailureEvent(), promise: nil) }
        case let request as SSHChannelRequestEvent.EnvironmentRequest:
            if request.wantReply { context.triggerUserOutboundEvent(ChannelFailureEvent(), promise: nil) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Accepts the request, then ends the connection with the reason on stderr. OpenSSH treats a
    /// refused subsystem as fatal and may exit on a refused exec before it prints what the server
    /// said; an accepted request always gets its stderr printed.
    private func endWithMessage(_ context: ChannelHandlerContext, wantReply: Bool, message: String) {
        closing = true
        if wantReply { context.triggerUserOutboundEvent(ChannelSuccessEvent(), promise: nil) }
        writeThenCloseConnection(context, message: message, failure: false)
    }

    private func refuse(_ context: ChannelHandlerContext, wantReply: Bool, message: String, close: Bool) {
        if close {
            closing = true
            writeThenCloseConnection(context, message: message, failure: wantReply)
            return
        }
        var text = context.channel.allocator.buffer(capacity: message.utf8.count)
        text.writeString(message)
        context.writeAndFlush(wrapOutboundOut(SSHChannelData(type: .stdErr, data: .byteBuffer(text))), promise: nil)
        if wantReply { context.triggerUserOutboundEvent(ChannelFailureEvent(), promise: nil) }
    }

    /// Writes `message` on stderr and, once it has gone out, closes the whole SSH connection. Closing
    /// only the channel can leave it waiting forever for the client's CHANNEL_CLOSE when the client
    /// drops the connection at the same moment (seen with OpenSSH), and the connection is of no
    /// further use anyway.
    private func writeThenCloseConnection(_ context: ChannelHandlerContext, message: String, failure: Bool) {
        let channel = context.channel
        var text = channel.allocator.buffer(capacity: message.utf8.count)
        text.writeString(message)
        context.writeAndFlush(wrapOutboundOut(SSHChannelData(type: .stdErr, data: .byteBuffer(text)))).whenComplete {
            _ in
            if failure { channel.triggerUserOutboundEvent(ChannelFailureEvent(), promise: nil) }
            (channel.parent ?? channel).close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        // Bytes before the subsystem started, or on stderr, have no meaning here.
        guard started, message.type == .channel, case .byteBuffer(var bytes) = message.data else { return }
        if pending == nil {
            pending = bytes
        } else {
            pending!.writeBuffer(&bytes)
        }
        do {
            while pending != nil, let frame = try SFTPCodec.nextFrame(&pending!) {
                context.fireChannelRead(wrapInboundOut(frame))
            }
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        if pending?.readableBytes == 0 {
            pending = nil
        } else {
            pending?.discardReadBytes()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(
            wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(unwrapOutboundIn(data)))), promise: promise
        )
    }
}
