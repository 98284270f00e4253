public import Basics
public import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A server that could not listen: the address, and the system's `errno` when it gave one.
public struct ListenError: ReportedError {
    public enum Code: String, Sendable {
        /// Another socket is bound there (`EADDRINUSE`).
        case addressInUse
        /// This machine has no such address (`EADDRNOTAVAIL`).
        case addressUnavailable
        case other
    }

    public var host: String
    public var port: Int
    public var errno: Int32?
    public var reason: String

    public var code: Code {
        switch errno {
        case EADDRINUSE: .addressInUse
        case EADDRNOTAVAIL: .addressUnavailable
        default: .other
        }
    }
    public var object: String? { "\(host):\(port)" }
    public var addressInUse: Bool { code == .addressInUse }
    public var addressUnavailable: Bool { code == .addressUnavailable }
    public var isConfigurationError: Bool { code != .other }
}

/// A request as the small built-in server sees it: the whole body collected.
public struct ServerRequest: Sendable {
    public var method: String
    /// The request target: path and query.
    public var uri: String
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Who the peer proved to be at the TLS layer (client certificate), when the server asks.
    public var peerIdentity: String?

    public init(method: String, uri: String, headers: HTTPHeaders, body: [UInt8], peerIdentity: String? = nil) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.peerIdentity = peerIdentity
    }

    public var path: String { String(uri.split(separator: "?", maxSplits: 1).first ?? "") }

    /// Decoded query parameters (`a=1&b=2`).
    public var query: [String: String] {
        guard let mark = uri.firstIndex(of: "?") else { return [:] }
        var result: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let key = String(parts[0]).removingPercentEncodingLenient
            result[key] = parts.count > 1 ? String(parts[1]).removingPercentEncodingLenient : ""
        }
        return result
    }
}

public struct ServerResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Fault injection for tests: the connection is dropped instead of answered.
    public var cut: Cut?

    public enum Cut: Sendable {
        /// Closed before any byte of the response (the peer sees an empty reply).
        case beforeResponse
        /// Closed after the head and half the body (the peer sees a short read).
        case midBody
    }

    /// A dropped connection, for fault-injecting test servers.
    public static func cut(_ cut: Cut, of response: ServerResponse = ServerResponse(status: 200)) -> ServerResponse {
        var response = response
        response.cut = cut
        return response
    }

    public init(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int, contentType: String, text: String) {
        self.init(status: status, headers: ["Content-Type": contentType], body: Array(text.utf8))
    }
}

/// A small async HTTP/1.1 server on SwiftNIO: the HTTP-01 responder, the exporter, and the
/// in-process servers of the tests all run on it.
public final class HTTPServer: Sendable {
    public typealias Handler = @Sendable (ServerRequest) async -> ServerResponse

    /// What one client may make the server hold. The HTTP-01 responder and the exporter listen
    /// on `0.0.0.0` in the cluster: a request line and headers are bounded by NIO's parser
    /// (80 KB, else 400), a body by `maximumBody` (else 413), a request that is not complete
    /// within `requestTimeout` (a slow client) and an idle kept-alive connection are closed, and
    /// connections beyond `maximumConnections` are closed as they arrive.
    public struct Limits: Sendable {
        public var maximumBody: Int
        public var requestTimeout: Duration
        public var maximumConnections: Int

        public init(maximumBody: Int = 1 << 20, requestTimeout: Duration = .seconds(10), maximumConnections: Int = 256)
        {
            self.maximumBody = maximumBody
            self.requestTimeout = requestTimeout
            self.maximumConnections = maximumConnections
        }
    }

    private let channel: any Channel
    private let connections: Connections
    /// The port actually bound (useful with port 0).
    public let port: Int
    public let host: String

    private init(channel: any Channel, connections: Connections, host: String, port: Int) {
        self.channel = channel
        self.connections = connections
        self.host = host
        self.port = port
    }

    /// Open connections, closed on `stop` so that no kept-alive client reaches a stopped server.
    private final class Connections: Sendable {
        private let open = Mutex<[ObjectIdentifier: any Channel]>([:])

        /// Tracks `channel`; false when `limit` connections are open already.
        func add(_ channel: any Channel, limit: Int) -> Bool {
            let id = ObjectIdentifier(channel)
            let admitted = open.withLock { open in
                guard open.count < limit else { return false }
                open[id] = channel
                return true
            }
            guard admitted else { return false }
            channel.closeFuture.whenComplete { [weak self] _ in
                _ = self?.open.withLock { $0.removeValue(forKey: id) }
            }
            return true
        }

        func closeAll() async {
            let channels = open.withLock { Array($0.values) }
            for channel in channels {
                try? await channel.close()
            }
        }
    }

    /// Binds `host:port` and serves `handler`. `configure` may add handlers in front (TLS).
    public static func start(
        host: String,
        port: Int,
        configure: (@Sendable (any Channel) -> EventLoopFuture<Void>)? = nil,
        peerIdentity: (@Sendable (any Channel) -> String?)? = nil,
        limits: Limits = Limits(),
        handler: @escaping Handler
    ) async throws -> HTTPServer {
        let connections = Connections()
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard connections.add(channel, limit: limits.maximumConnections) else {
                    return channel.close()
                }
                let front = configure?(channel) ?? channel.eventLoop.makeSucceededVoidFuture()
                return front.flatMapThrowing {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                    try pipeline.addHandler(
                        RequestHandler(handler: handler, peerIdentity: peerIdentity, limits: limits))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch let error as IOError {
            throw ListenError(host: host, port: port, errno: error.errnoCode, reason: "\(error)")
        } catch {
            throw ListenError(host: host, port: port, errno: nil, reason: "\(error)")
        }
        let bound = channel.localAddress?.port ?? port
        return HTTPServer(channel: channel, connections: connections, host: host, port: bound)
    }

    public func stop() async {
        try? await channel.close()
        await connections.closeAll()
    }
}

private final class RequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: HTTPServer.Handler
    private let peerIdentity: (@Sendable (any Channel) -> String?)?
    private let limits: HTTPServer.Limits
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// Set once the body is over the limit: the rest of the request is dropped, 413 answered.
    private var refused = false
    /// Closes the connection when a request does not complete in time (or it idles).
    private var deadline: Scheduled<Void>?

    init(
        handler: @escaping HTTPServer.Handler, peerIdentity: (@Sendable (any Channel) -> String?)?,
        limits: HTTPServer.Limits
    ) {
        self.handler = handler
        self.peerIdentity = peerIdentity
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        armDeadline(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    private func armDeadline(context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        let nanoseconds = Int64(clamping: Bounded.int(Bounded.seconds(limits.requestTimeout) * 1e9))
        deadline = context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.removeAll(keepingCapacity: true)
            refused = false
        case .body(var buffer):
            guard !refused else { return }
            guard body.count + buffer.readableBytes <= limits.maximumBody else {
                refused = true
                body = []
                return
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            self.head = nil
            // The request is in: the handler's time is not the client's to bound.
            deadline?.cancel()
            if refused {
                let answer = ServerResponse(
                    status: 413, contentType: "text/plain",
                    text: "request body over \(limits.maximumBody) bytes\n")
                write(answer, version: head.version, keepAlive: false, head: false, context: context)
                return
            }
            var headers = HTTPHeaders()
            for (name, value) in head.headers {
                headers.add(name, value)
            }
            let request = ServerRequest(
                method: head.method.rawValue,
                uri: head.uri,
                headers: headers,
                body: body,
                peerIdentity: peerIdentity?(context.channel)
            )
            let keepAlive = head.isKeepAlive
            let version = head.version
            let promise = context.eventLoop.makePromise(of: ServerResponse.self)
            let handler = self.handler
            promise.completeWithTask { await handler(request) }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                let (this, context) = bound.value
                this.write(
                    response, version: version, keepAlive: keepAlive, head: request.method == "HEAD", context: context)
            }
        }
    }

    private func write(
        _ response: ServerResponse,
        version: HTTPVersion,
        keepAlive: Bool,
        head: Bool,
        context: ChannelHandlerContext
    ) {
        if response.cut == .beforeResponse {
            context.close(promise: nil)
            return
        }
        var headers = NIOHTTP1.HTTPHeaders()
        for field in response.headers.fields {
            headers.add(name: field.name, value: field.value)
        }
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.count))
        headers.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let responseHead = HTTPResponseHead(
            version: version,
            status: HTTPResponseStatus(statusCode: response.status),
            headers: headers
        )
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if response.cut == .midBody {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count / 2)
            buffer.writeBytes(response.body.prefix(response.body.count / 2))
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer)))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        if !head && !response.body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        } else {
            armDeadline(context: context)  // an idle kept-alive connection ends too
        }
    }
}

extension String {
    /// Percent-decoding that keeps malformed input as it is instead of failing.
    var removingPercentEncodingLenient: String {
        var bytes: [UInt8] = []
        var iterator = Array(utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
