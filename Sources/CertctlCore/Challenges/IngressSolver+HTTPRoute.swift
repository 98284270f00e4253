public import Kubernetes

extension IngressSolver {
    /// The Gateways and ListenerSets a certificate comes from, as an HTTPRoute's parents (what
    /// cert-manager attaches a `gatewayHTTPRoute: {}` solver's route to).
    public static func parents(of desired: DesiredCertificate) -> [HTTPRoute.ParentReference] {
        desired.sources.compactMap { source in
            guard source.kind != .ingress else { return nil }
            return HTTPRoute.ParentReference(
                group: GatewayAPI.group, kind: source.kind.rawValue, name: source.name,
                namespace: source.namespace == desired.namespace ? nil : source.namespace)
        }
    }

    /// The solver HTTPRoute: `host`'s `Exact` challenge path to the Service `name`, attached to
    /// the route's parents.
    func solverRoute(
        _ name: String, host: String, path: String,
        route: (parents: [HTTPRoute.ParentReference], labels: [String: String])
    ) throws -> HTTPRoute {
        guard !route.parents.isEmpty else {
            throw CertctlError(
                .challenge, object: "Secret \(namespace)",
                "the issuer's http01.gatewayHTTPRoute names no parentRefs and the certificate for \(host) comes from no Gateway or ListenerSet; name the Gateway in parentRefs"
            )
        }
        let labels = route.labels.merging(Self.labels) { $1 }
        return HTTPRoute(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: labels), parents: route.parents,
            hostname: host, path: path, service: name)
    }
}
