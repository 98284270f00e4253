public import Logging
import Synchronization
public import Transport

/// Serves `/.well-known/acme-challenge/<token>` (RFC 8555 §8.3) from the tokens it is given.
public final class HTTP01Responder: Sendable {
    public static let pathPrefix = "/.well-known/acme-challenge/"

    private let tokens: TokenStore
    private let server: HTTPServer

    public var port: Int { server.port }
    public var host: String { server.host }

    private init(tokens: TokenStore, server: HTTPServer) {
        self.tokens = tokens
        self.server = server
    }

    /// Shared between the responder and its request handler.
    private final class TokenStore: Sendable {
        let values = Mutex<[String: String]>([:])
    }

    /// Starts listening on `host:port` (port 0 picks a free one). A CA's request is a bodiless
    /// GET: `limits` keep what any other client can make it hold small.
    public static func start(
        host: String, port: Int, logger: Logger,
        limits: HTTPServer.Limits = .init(maximumBody: 4096, requestTimeout: .seconds(10), maximumConnections: 128)
    ) async throws -> HTTP01Responder {
        let tokens = TokenStore()
        let server = try await HTTPServer.start(host: host, port: port, limits: limits) { request in
            guard request.method == "GET" || request.method == "HEAD",
                request.path.hasPrefix(pathPrefix)
            else {
                return ServerResponse(status: 404, contentType: "text/plain", text: "not found\n")
            }
            let token = String(request.path.dropFirst(pathPrefix.count))
            guard let keyAuthorization = tokens.values.withLock({ $0[token] }) else {
                logger.debug("HTTP-01 request for an unknown token", metadata: ["path": "\(request.path)"])
                return ServerResponse(status: 404, contentType: "text/plain", text: "unknown token\n")
            }
            logger.debug("HTTP-01 request answered", metadata: ["path": "\(request.path)"])
            return ServerResponse(status: 200, contentType: "text/plain", text: keyAuthorization)
        }
        return HTTP01Responder(tokens: tokens, server: server)
    }

    public func present(token: String, keyAuthorization: String) {
        tokens.values.withLock { $0[token] = keyAuthorization }
    }

    public func remove(token: String) {
        tokens.values.withLock { _ = $0.removeValue(forKey: token) }
    }

    public func stop() async {
        await server.stop()
    }
}
