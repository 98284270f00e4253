public import ACME
import Basics
import Crypto
import Foundation
public import Kubernetes
public import Logging
public import Transport

/// HTTP-01 in a cluster (as cert-manager does it, without a solver pod): per challenge a Service
/// selecting this pod and an Ingress with an `Exact` path for the token, so the CA's request
/// reaches the job's own responder. In another namespace than the pod's, a Service cannot
/// select it: there the Service has no selector and an EndpointSlice points it at the pod's IP.
/// Self-checks the URL before the CA is told, and deletes what it made on success, failure and
/// cancellation (SIGTERM).
public struct IngressSolver: ChallengeSolver {
    public struct Pod: Sendable {
        public var name: String
        public var namespace: String
        /// The pod's labels (downward API), which the Service selects.
        public var labels: [String: String]
        /// The responder's container port.
        public var port: Int
        /// `POD_IP` (downward API): where an EndpointSlice in another namespace points.
        public var ip: String?

        public init(name: String, namespace: String, labels: [String: String], port: Int, ip: String? = nil) {
            self.name = name
            self.namespace = namespace
            self.labels = labels
            self.port = port
            self.ip = ip
        }
    }

    public static let solverLabel = "certctl.io/http01-solver"

    /// How the solver Ingress names its class.
    public enum IngressClass: Sendable, Equatable {
        /// `spec.ingressClassName` (an IngressClass object's name).
        case name(String)
        /// The legacy `kubernetes.io/ingress.class` annotation, for controllers that still read it.
        case legacyAnnotation(String)
        /// None: the cluster's default IngressClass serves it.
        case none

        /// cert-manager's rule: the issuer's solver (`ingressClassName`, else the legacy `class`),
        /// else the class of the certificate's own Ingress, named the way that Ingress names it.
        /// The Ingress's `acme.cert-manager.io/http01-ingress-*` annotations come first.
        public static func choose(solver: Issuer.HTTP01Solver?, desired: DesiredCertificate) -> IngressClass {
            if let name = desired.settings.http01IngressClassName { return .name(name) }
            if let legacy = desired.settings.http01IngressClass { return .legacyAnnotation(legacy) }
            if let name = solver?.ingressClassName { return .name(name) }
            if let legacy = solver?.ingressClass { return .legacyAnnotation(legacy) }
            guard let own = desired.ingressClass else { return .none }
            return desired.ingressClassIsLegacy ? .legacyAnnotation(own) : .name(own)
        }
    }

    public let client: KubernetesClient
    public let responder: HTTP01Responder
    public let pod: Pod
    /// The certificate's namespace, and the solver Ingress's class and Service type (from the
    /// issuer's solver, or the certificate's own Ingress).
    public let namespace: String
    public let ingressClass: IngressClass
    /// `ClusterIP` unless the issuer's solver asks for another (`serviceType: NodePort`).
    public let serviceType: String
    /// Self-check passes before telling the CA (0: skip, like cert-manager's waitInsteadOfSelfCheck).
    public let selfCheckPasses: Int
    /// Where the self-check connects instead of the host's address (`host:port`), for a probe.
    public var selfCheckAddress: String?
    /// `http01-edit-in-place`: the certificate's own Ingresses (in `namespace`), which get the
    /// challenge path instead of a solver Ingress; nil makes a solver Ingress.
    public var editInPlace: [String]?
    /// `http01.gatewayHTTPRoute`: an HTTPRoute attached to these parents instead of an Ingress
    /// (an empty list: the issuer named none and the certificate comes from no Gateway).
    public var route: (parents: [HTTPRoute.ParentReference], labels: [String: String])?
    public let transport: any HTTPTransport
    public let logger: Logger

    public init(
        client: KubernetesClient,
        responder: HTTP01Responder,
        pod: Pod,
        namespace: String,
        ingressClass: IngressClass,
        serviceType: String? = nil,
        selfCheckPasses: Int,
        transport: any HTTPTransport,
        logger: Logger
    ) {
        self.client = client
        self.responder = responder
        self.pod = pod
        self.namespace = namespace
        self.ingressClass = ingressClass
        self.serviceType = serviceType ?? "ClusterIP"
        self.selfCheckPasses = selfCheckPasses
        self.transport = transport
        self.logger = logger
    }

    /// The solver of `desired`'s HTTP-01 challenges as a run (and `check`'s probe) makes it: the
    /// issuer's solver settings and the Ingress's annotations (class, edit-in-place).
    public static func forCertificate(
        _ desired: DesiredCertificate, solver: Issuer.HTTP01Solver?, client: KubernetesClient,
        responder: HTTP01Responder, pod: Pod, selfCheckPasses: Int, transport: any HTTPTransport, logger: Logger
    ) -> IngressSolver {
        var made = IngressSolver(
            client: client, responder: responder, pod: pod, namespace: desired.namespace,
            ingressClass: .choose(solver: solver, desired: desired), serviceType: solver?.serviceType,
            selfCheckPasses: selfCheckPasses, transport: transport, logger: logger)
        if let route = solver?.gatewayHTTPRoute {
            made.route = (route.parentRefs.isEmpty ? Self.parents(of: desired) : route.parentRefs, route.labels)
        } else if desired.settings.editInPlace {
            made.editInPlace = desired.ingresses
        }
        return made
    }

    public var challengeType: String { "http-01" }

    static func objectName(_ token: String) -> String {
        let digest = SHA256.hash(data: Array(token.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
        return "certctl-http01-\(digest)"
    }

    public func present(identifier: ACMEIdentifier, token: String, keyAuthorization: String) async throws {
        responder.present(token: token, keyAuthorization: keyAuthorization)
        let name = Self.objectName(token)
        let path = HTTP01Responder.pathPrefix + token
        try await publishBackend(name)
        if let route {
            try await createReplacing(solverRoute(name, host: identifier.value, path: path, route: route))
        } else if let own = editInPlace {
            try await addPath(path, host: identifier.value, service: name, to: own)
        } else {
            try await createReplacing(solverIngress(name, host: identifier.value, path: path))
        }
        try await selfCheck(host: identifier.value, token: token, expected: keyAuthorization)
    }

    static let labels = [solverLabel: "true", "app.kubernetes.io/managed-by": "certctl"]

    /// The solver Service `name` reaching this pod's responder: selecting the pod in its own
    /// namespace, else with no selector and an EndpointSlice at the pod's IP.
    private func publishBackend(_ name: String) async throws {
        let local = namespace == pod.namespace
        guard local || pod.ip != nil else {
            throw CertctlError(
                .challenge,
                object: "Ingress \(namespace)",
                "HTTP-01 in namespace \(namespace) reaches certctl's pod (in \(pod.namespace)) through its IP, and POD_IP is not set; give the Job POD_IP from the downward API (status.podIP), as the chart does"
            )
        }
        let service = Service(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: Self.labels),
            spec: .init(
                selector: local ? pod.labels : nil, ports: [.init(name: "http", port: 80, targetPort: pod.port)],
                type: serviceType)
        )
        try await createReplacing(service)
        guard !local, let ip = pod.ip else { return }
        var sliceLabels = Self.labels
        sliceLabels[EndpointSlice.serviceNameLabel] = name
        sliceLabels[EndpointSlice.managedByLabel] = "certctl.io"
        let slice = EndpointSlice(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: sliceLabels),
            addressType: ip.contains(":") ? "IPv6" : "IPv4",
            endpoints: [.init(addresses: [ip])],
            ports: [.init(name: "http", port: pod.port)])
        try await createReplacing(slice)
    }

    /// The solver Ingress: `host`'s `Exact` challenge path to the Service `name`, of the class chosen.
    private func solverIngress(_ name: String, host: String, path: String) -> Ingress {
        var annotations: [String: String] = [:]
        var className: String?
        switch ingressClass {
        case .name(let name): className = name
        case .legacyAnnotation(let legacy): annotations[Discovery.ingressClass] = legacy
        case .none: break
        }
        let backend = Ingress.Backend(service: .init(name: name, port: .init(number: 80)))
        return Ingress(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: Self.labels, annotations: annotations),
            spec: .init(
                ingressClassName: className, tls: nil,
                rules: [.init(host: host, http: .init(paths: [.init(path: path, pathType: "Exact", backend: backend)]))]
            )
        )
    }

    /// The challenge path, added to the first of `ingresses` whose rules name `host` (else a
    /// rule of its own on the first): for controllers that give each Ingress its own address.
    /// A JSON patch with `test` operations, so a concurrent edit of that rule is refused, not undone.
    private func addPath(_ path: String, host: String, service: String, to ingresses: [String]) async throws {
        let entry: JSONValue = .object([
            "path": .string(path), "pathType": .string("Exact"),
            "backend": .object([
                "service": .object(["name": .string(service), "port": .object(["number": JSONValue(80)])])
            ]),
        ])
        var candidates: [Ingress] = []
        for name in ingresses {
            candidates.append(try await client.get(Ingress.self, namespace: namespace, name: name))
        }
        for ingress in candidates {
            guard let index = ingress.spec?.rules?.firstIndex(where: { $0.host == host && $0.http != nil }) else {
                continue
            }
            _ = try await client.jsonPatch(
                Ingress.self, namespace: namespace, name: ingress.metadata.name ?? "",
                operations: [
                    .object([
                        "op": .string("test"), "path": .string("/spec/rules/\(index)/host"), "value": .string(host),
                    ]),
                    .object([
                        "op": .string("add"), "path": .string("/spec/rules/\(index)/http/paths/0"), "value": entry,
                    ]),
                ])
            return
        }
        guard let first = candidates.first else { return }
        let rule: JSONValue = .object(["host": .string(host), "http": .object(["paths": .array([entry])])])
        let operations: [JSONValue] =
            first.spec?.rules == nil
            ? [.object(["op": .string("add"), "path": .string("/spec/rules"), "value": .array([rule])])]
            : [.object(["op": .string("add"), "path": .string("/spec/rules/-"), "value": rule])]
        _ = try await client.jsonPatch(
            Ingress.self, namespace: namespace, name: first.metadata.name ?? "", operations: operations)
    }

    /// Removes exactly the path `addPath` added (and the rule, when it added one), each removal
    /// tested first: nothing another writer put on the Ingress is touched.
    private static func removePath(
        _ path: String, service: String, from ingresses: [String], namespace: String, client: KubernetesClient
    ) async {
        for name in ingresses {
            guard let ingress = try? await client.get(Ingress.self, namespace: namespace, name: name),
                let rules = ingress.spec?.rules
            else { continue }
            for (ruleIndex, rule) in rules.enumerated() {
                guard let paths = rule.http?.paths,
                    let pathIndex = paths.firstIndex(where: { $0.path == path && $0.backend.service?.name == service })
                else { continue }
                let pointer = "/spec/rules/\(ruleIndex)/http/paths/\(pathIndex)/path"
                let whole = paths.count == 1
                let operations: [JSONValue] = [
                    .object(["op": .string("test"), "path": .string(pointer), "value": .string(path)]),
                    whole && rules.count == 1
                        ? .object(["op": .string("remove"), "path": .string("/spec/rules")])
                        : .object([
                            "op": .string("remove"),
                            "path": .string(
                                whole ? "/spec/rules/\(ruleIndex)" : "/spec/rules/\(ruleIndex)/http/paths/\(pathIndex)"),
                        ]),
                ]
                _ = try? await client.jsonPatch(Ingress.self, namespace: namespace, name: name, operations: operations)
                return
            }
        }
    }

    public func cleanUp(identifier: ACMEIdentifier, token: String) async {
        responder.remove(token: token)
        let name = Self.objectName(token)
        let (client, namespace, crossNamespace) = (self.client, self.namespace, namespace != pod.namespace)
        let (own, path, routed) = (editInPlace, HTTP01Responder.pathPrefix + token, route != nil)
        // In a task of its own: clean-up must happen also when the run was cancelled (SIGTERM),
        // and a cancelled task's requests would not even start.
        await Task {
            if routed {
                try? await client.delete(HTTPRoute.self, namespace: namespace, name: name)
            } else if let own {
                await Self.removePath(path, service: name, from: own, namespace: namespace, client: client)
            } else {
                try? await client.delete(Ingress.self, namespace: namespace, name: name)
            }
            try? await client.delete(Service.self, namespace: namespace, name: name)
            if crossNamespace {
                try? await client.delete(EndpointSlice.self, namespace: namespace, name: name)
            }
        }.value
    }

    func createReplacing<R: KubernetesResource>(_ object: R) async throws {
        do {
            _ = try await client.create(object)
        } catch let error as KubernetesError where error.isAlreadyExists {
            try await client.delete(R.self, namespace: object.metadata.namespace, name: object.metadata.name ?? "")
            _ = try await client.create(object)
        }
    }

    /// GETs the token through the ingress until `selfCheckPasses` consecutive answers are right.
    private func selfCheck(host: String, token: String, expected: String) async throws {
        guard selfCheckPasses > 0 else { return }
        let url = "http://\(host)\(HTTP01Responder.pathPrefix)\(token)"
        var passes = 0
        for _ in 0..<(selfCheckPasses * 6) {
            var request = HTTPRequest(url: url, timeout: .seconds(5))
            request.connectTo = selfCheckAddress
            let response = try? await transport.send(request)
            if response?.status == 200, response.map({ String(decoding: $0.body, as: UTF8.self) }) == expected {
                passes += 1
                if passes >= selfCheckPasses { return }
            } else {
                passes = 0
            }
            try await Task.sleep(for: .seconds(2))
        }
        throw CertctlError(
            .challenge, object: url,
            "the self-check never saw the key authorization through the ingress; check the ingress class and DNS of \(host)"
        )
    }

    /// Deletes solver objects a killed run left behind in `namespaces`.
    /// `routes`: HTTPRoutes too (an issuer has a gatewayHTTPRoute solver).
    public static func removeLeftovers(client: KubernetesClient, namespaces: [String], routes: Bool = false) async
        -> Int
    {
        var removed = 0
        for namespace in namespaces {
            removed += await remove(Ingress.self, client: client, namespace: namespace)
            if routes { removed += await remove(HTTPRoute.self, client: client, namespace: namespace) }
            removed += await remove(Service.self, client: client, namespace: namespace)
            removed += await remove(EndpointSlice.self, client: client, namespace: namespace)
        }
        return removed
    }

    private static func remove<R: KubernetesResource>(_ type: R.Type, client: KubernetesClient, namespace: String)
        async -> Int
    {
        var removed = 0
        let found = (try? await client.list(type, namespace: namespace, labelSelector: "\(solverLabel)=true")) ?? []
        for object in found {
            do {
                try await client.delete(type, namespace: namespace, name: object.metadata.name ?? "")
                removed += 1
            } catch {}
        }
        return removed
    }
}
