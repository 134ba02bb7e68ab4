import EsteiraAWS

/// Runs `body` with a transport of its own and shuts it down afterwards, whatever `body` did, so a test
/// leaves no `esteira-http` thread behind.
public func withTransport<T>(
    _ options: HTTPTransportOptions = .init(),
    _ body: (HTTPTransport) async throws -> T
) async throws -> T {
    let transport = HTTPTransport(options: options)
    do {
        let result = try await body(transport)
        await transport.shutdown()
        return result
    } catch {
        await transport.shutdown()
        throw error
    }
}
