import Certificates
import Foundation
import Synchronization
public import Transport

/// An HTTPS reverse proxy in front of an ACME server (Pebble) that injects the faults a CA and the
/// network between produce: dropped connections before and after the server acted, responses cut
/// mid-body, 500, 503 and 429 `rateLimited` with Retry-After, and answers slower than the
/// client's timeout. Faults are drawn from a seeded generator, so a failing run can be replayed.
///
/// It forwards the client's `Host`, so the server writes every URL (directory, `Location`,
/// `Link`, order and authorization URLs) for the proxy and the client never goes around it; the
/// JWS `url` a client signs therefore matches what the server checks.
public final class FaultProxy: Sendable {
    public enum Fault: String, Sendable, CaseIterable {
        /// Connection closed before the request reached the server.
        case dropBeforeServer = "drop before server"
        /// The server acted; the connection closed before the answer.
        case dropAfterServer = "drop after server"
        /// The server acted; the answer stopped halfway.
        case cutMidResponse = "cut mid-response"
        case internalError = "500"
        case unavailable = "503 Retry-After"
        case rateLimited = "429 rateLimited"
        /// The server acted; the answer comes after the client gave up.
        case slow = "slow past timeout"
    }

    public struct Plan: Sendable {
        /// Share of requests that get a fault (0...1).
        public var rate: Double
        /// The faults drawn from, equally likely.
        public var faults: [Fault]
        /// How long a `slow` answer waits (longer than the client's timeout).
        public var slowDelay: Duration
        public var seed: UInt64

        public init(
            rate: Double, faults: [Fault] = Fault.allCases, slowDelay: Duration = .seconds(3), seed: UInt64
        ) {
            self.rate = rate
            self.faults = faults
            self.slowDelay = slowDelay
            self.seed = seed
        }
    }

    public struct Statistics: Sendable {
        public var requests = 0
        /// `POST` to the new-order endpoint that reached the server.
        public var ordersAttempted = 0
        public var faults: [Fault: Int] = [:]
        public var faultsInjected: Int { faults.values.reduce(0, +) }
    }

    private struct State {
        var plan: Plan
        var random: SplitMix64
        var statistics = Statistics()
    }

    /// Watching what passes: `request` before it is forwarded (and before any fault), `response`
    /// with what the server answered, before the client gets it (a test can act in between).
    public struct Observer: Sendable {
        public var request: @Sendable (ServerRequest) async -> Void
        public var response: @Sendable (ServerRequest, ServerResponse) async -> Void

        public init(
            request: @escaping @Sendable (ServerRequest) async -> Void = { _ in },
            response: @escaping @Sendable (ServerRequest, ServerResponse) async -> Void = { _, _ in }
        ) {
            self.request = request
            self.response = response
        }
    }

    private final class Shared: Sendable {
        let state: Mutex<State>
        init(_ state: State) { self.state = Mutex(state) }
    }

    private let server: HTTPServer
    private let shared: Shared
    public let url: String
    /// PEM of the CA that signed the proxy's certificate: the client's `caBundle`.
    public let caBundle: [UInt8]

    /// Starts on a free loopback port in front of `upstream` (`https://localhost:14000`), whose
    /// TLS is verified with `upstreamTLS`; `newOrderPath` is the server's new-order path.
    public static func start(
        upstream: String, upstreamTLS: TLSOptions, plan: Plan, newOrderPath: String = "/order-plz",
        observer: Observer? = nil
    ) async throws -> FaultProxy {
        let authority = try TestCertificateAuthority(name: "certctl fault proxy CA")
        let key = try PrivateKey(generating: .ecdsaP256)
        let now = Date()
        let leaf = try authority.issuePEM(
            for: key, names: ["127.0.0.1", "localhost"], notBefore: now.addingTimeInterval(-3600),
            notAfter: now.addingTimeInterval(86_400))
        let shared = Shared(State(plan: plan, random: SplitMix64(seed: plan.seed)))
        let transport = CurlTransport(userAgent: "certctl-fault-proxy")
        let port = freeLoopbackPort()
        let server = try await TLSTestServer.start(
            certificateChainPEM: leaf, keyPEM: try key.pemRepresentation(), port: port,
            handler: { request in
                await observer?.request(request)
                let fault = shared.state.withLock { state -> Fault? in
                    state.statistics.requests += 1
                    guard state.random.nextDouble() < state.plan.rate, !state.plan.faults.isEmpty else { return nil }
                    // Every kind once, in the plan's order, then at random: a short soak covers them all.
                    let injected = state.statistics.faults.values.reduce(0, +)
                    let fault =
                        injected < state.plan.faults.count
                        ? state.plan.faults[injected]
                        : state.plan.faults[
                            Int(clamping: state.random.next() % UInt64(clamping: state.plan.faults.count))]
                    state.statistics.faults[fault, default: 0] += 1
                    return fault
                }
                switch fault {
                case .dropBeforeServer: return .cut(.beforeResponse)
                case .internalError: return problem(500, "serverInternal", "injected fault", retryAfter: nil)
                case .unavailable: return problem(503, "serverInternal", "injected: unavailable", retryAfter: 1)
                case .rateLimited: return problem(429, "rateLimited", "injected: too many requests", retryAfter: 1)
                default: break
                }
                if request.method == "POST", request.path == newOrderPath {
                    shared.state.withLock { $0.statistics.ordersAttempted += 1 }
                }
                let response = await forward(request, to: upstream, tls: upstreamTLS, via: transport, port: port)
                await observer?.response(request, response)
                switch fault {
                case .dropAfterServer: return .cut(.beforeResponse, of: response)
                case .cutMidResponse: return .cut(.midBody, of: response)
                case .slow:
                    try? await Task.sleep(for: shared.state.withLock { $0.plan.slowDelay })
                    return response
                default: return response
                }
            }
        )
        return FaultProxy(
            server: server, shared: shared, url: "https://127.0.0.1:\(port)", caBundle: Array(authority.pem.utf8))
    }

    private init(server: HTTPServer, shared: Shared, url: String, caBundle: [UInt8]) {
        self.server = server
        self.shared = shared
        self.url = url
        self.caBundle = caBundle
    }

    public var statistics: Statistics { shared.state.withLock { $0.statistics } }

    /// Changes the fault rate (0 lets everything through).
    public func setRate(_ rate: Double) {
        shared.state.withLock { $0.plan.rate = rate }
    }

    public func stop() async {
        await server.stop()
    }

    private static func forward(
        _ request: ServerRequest, to upstream: String, tls: TLSOptions, via transport: CurlTransport, port: Int
    ) async -> ServerResponse {
        var headers = HTTPHeaders()
        for field in request.headers.fields
        where !["host", "connection", "content-length", "transfer-encoding"].contains(field.name.lowercased()) {
            headers.add(field.name, field.value)
        }
        headers.set("Host", "127.0.0.1:\(port)")
        let method = HTTPRequest.Method(rawValue: request.method) ?? .get
        do {
            let response = try await transport.send(
                HTTPRequest(
                    method: method, url: upstream + request.uri, headers: headers,
                    body: method == .get || method == .head ? nil : request.body, tls: tls))
            var answer = HTTPHeaders()
            for field in response.headers.fields
            where !["connection", "content-length", "transfer-encoding"].contains(field.name.lowercased()) {
                answer.add(field.name, field.value)
            }
            return ServerResponse(status: response.status, headers: answer, body: response.body)
        } catch {
            return problem(502, "serverInternal", "proxy: upstream failed: \(error)", retryAfter: nil)
        }
    }

    private static func problem(_ status: Int, _ type: String, _ detail: String, retryAfter: Int?) -> ServerResponse {
        var headers: HTTPHeaders = ["Content-Type": "application/problem+json"]
        if let retryAfter { headers.set("Retry-After", String(retryAfter)) }
        let body = #"{"type":"urn:ietf:params:acme:error:\#(type)","detail":"\#(detail)","status":\#(status)}"#
        return ServerResponse(status: status, headers: headers, body: Array(body.utf8))
    }
}

/// A small seeded generator (SplitMix64): the same seed, the same faults.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
