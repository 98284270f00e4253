public import ACME
public import Kubernetes
public import Logging
public import Transport

/// HTTP-01, set up in one place for `certctl run`, `renew --now`, `issue` and `check`'s probe:
/// where the responder listens, and how a challenge reaches it (README, "HTTP-01").
public struct HTTP01Setup: Sendable {
    /// How the CA's request reaches the responder.
    public enum Route: Sendable {
        /// Directly: the CA connects to `listen` (a local run, `certctl issue`, a cluster run
        /// outside a pod).
        case direct
        /// In a pod: per challenge a solver Service and Ingress in the certificate's namespace
        /// (``IngressSolver``), self-checked `selfCheckPasses` times before the CA is told.
        case cluster(client: KubernetesClient, pod: IngressSolver.Pod, selfCheckPasses: Int)
    }

    public var listen: ListenAddress
    public var route: Route
    /// Where a self-check connects instead of each host's address (`host:port`), for a probe.
    public var selfCheckAddress: String?
    public var transport: any HTTPTransport
    public var logger: Logger

    public init(
        listen: ListenAddress, route: Route, selfCheckAddress: String? = nil, transport: any HTTPTransport,
        logger: Logger
    ) {
        self.listen = listen
        self.route = route
        self.selfCheckAddress = selfCheckAddress
        self.transport = transport
        self.logger = logger
    }

    /// Starts the responder; an address that cannot be listened on is the operator's to change.
    public func start() async throws -> HTTP01Session {
        do {
            let responder = try await HTTP01Responder.start(host: listen.host, port: listen.port, logger: logger)
            return HTTP01Session(setup: self, responder: responder)
        } catch let error as ListenError {
            let reason =
                if error.addressInUse {
                    "another program listens there"
                } else if error.addressUnavailable {
                    "this machine has no such address"
                } else {
                    "cannot listen there (\(error.reason))"
                }
            throw CertctlError(
                .invalidArgument, object: "--http01-listen \(listen)",
                "\(reason); choose a free address where the CA can connect")
        }
    }
}

/// A started responder and the solvers that publish challenges on it.
public struct HTTP01Session: Sendable {
    public let setup: HTTP01Setup
    public let responder: HTTP01Responder

    /// The HTTP-01 solver of `desired`'s names, with the issuer's solver settings (`settings`:
    /// its class, Service type); `desired` nil (`certctl issue`) answers on the responder alone.
    public func solver(for desired: DesiredCertificate?, settings: Issuer.HTTP01Solver?) -> any ChallengeSolver {
        guard case .cluster(let client, let pod, let passes) = setup.route, let desired else {
            return ResponderSolver(responder: responder)
        }
        var solver = IngressSolver.forCertificate(
            desired, solver: settings, client: client, responder: responder, pod: pod, selfCheckPasses: passes,
            transport: setup.transport, logger: setup.logger)
        solver.selfCheckAddress = setup.selfCheckAddress
        return solver
    }

    /// Removes the solver objects a killed run left in `namespaces` (and the pod's own);
    /// HTTPRoutes too where `routes` (an issuer solves through them).
    public func removeLeftovers(in namespaces: Set<String>, routes: Bool = false) async {
        guard case .cluster(let client, let pod, _) = setup.route else { return }
        let removed = await IngressSolver.removeLeftovers(
            client: client, namespaces: namespaces.union([pod.namespace]).sorted(), routes: routes)
        if removed > 0 {
            setup.logger.notice("removed HTTP-01 objects a previous run left", metadata: ["count": "\(removed)"])
        }
    }

    public func stop() async { await responder.stop() }

    /// Runs `body` with the session, stopping it afterwards, also when `body` throws.
    public static func with<T: Sendable>(_ setup: HTTP01Setup, _ body: (HTTP01Session) async throws -> T)
        async throws -> T
    {
        let session = try await setup.start()
        do {
            let value = try await body(session)
            await session.stop()
            return value
        } catch {
            await session.stop()
            throw error
        }
    }
}
