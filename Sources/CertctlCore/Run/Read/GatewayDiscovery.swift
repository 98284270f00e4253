import Basics
public import Kubernetes

/// The certificates Gateways and ListenerSets ask for, by cert-manager's gateway-shim rules
/// (README, "Gateways"), with the same issuer annotations, names, settings and merging by
/// Secret as Ingresses (``Discovery/Collector``).
public struct GatewayObjects: Sendable, Equatable {
    public var gateways: [Gateway]
    public var listenerSets: [ListenerSet]
    public var referenceGrants: [ReferenceGrant]
    /// False when the cluster does not serve the Gateway API (its group answers 404).
    public var served: Bool
    /// The labels of the namespaces a Gateway's `allowedListeners` selector is asked about
    /// (those certctl could read); a namespace missing here is not selected.
    public var namespaceLabels: [String: [String: String]]

    public init(
        gateways: [Gateway] = [], listenerSets: [ListenerSet] = [], referenceGrants: [ReferenceGrant] = [],
        served: Bool = true, namespaceLabels: [String: [String: String]] = [:]
    ) {
        self.gateways = gateways
        self.listenerSets = listenerSets
        self.referenceGrants = referenceGrants
        self.served = served
        self.namespaceLabels = namespaceLabels
    }

    /// The namespaces whose labels decide whether a ListenerSet may attach: those of ListenerSets
    /// whose Gateway allows them by `Selector`.
    public var namespacesToLabel: Set<String> {
        let selecting = Set(
            gateways.filter { $0.spec?.allowedListeners?.namespaces?.from == "Selector" }.map {
                "\($0.metadata.namespace ?? "default")/\($0.metadata.name ?? "")"
            })
        return Set(
            listenerSets.compactMap { set -> String? in
                guard let parent = set.spec?.parentRef else { return nil }
                let home = set.metadata.namespace ?? "default"
                return selecting.contains("\(parent.namespace ?? home)/\(parent.name)") ? home : nil
            })
    }

    public static let none = GatewayObjects(served: false)
}

extension Discovery {
    /// Adds the certificates of `objects` to `collected`.
    static func certificates(
        for objects: GatewayObjects, issuers: Set<IssuerKey>, defaultIssuer: String?, wildcardIssuers: Set<IssuerKey>,
        into collected: inout Collector
    ) {
        for owner in owners(of: objects, into: &collected) {
            let namespace = owner.metadata.namespace ?? "default"
            let source = DesiredCertificate.Source(owner.kind, namespace: namespace, name: owner.metadata.name ?? "?")
            let annotations = owner.metadata.annotations ?? [:]
            guard
                case .chosen(let issuer, let kind) = chosen(
                    annotations, source: source, issuers: issuers, defaultIssuer: defaultIssuer, into: &collected)
            else { continue }
            let secrets = listenerSecrets(
                owner.listeners, of: source, grants: objects.referenceGrants, into: &collected)
            for (secret, (hosts, field)) in secrets.sorted(by: { $0.key < $1.key }) {
                let namespaceOfSecret = secret.namespace
                // A namespaced Issuer writes into its own namespace alone: another namespace's
                // Secret (through a ReferenceGrant) takes a cluster-wide issuer, or a tenant's
                // Issuer would re-key and overwrite a Secret it does not own.
                if let home = issuer.namespace, home != namespaceOfSecret {
                    collected.problems.append(
                        ObjectProblem(
                            object: "\(source)",
                            reason:
                                "names Secret \(namespaceOfSecret)/\(secret.name) of another namespace, and its issuer is \(issuer.named), which serves namespace \(home) alone; nothing is ordered for it: name a ClusterIssuer (cert-manager.io/cluster-issuer), or a Secret of namespace \(home)",
                            kind: .unknownIssuer, namespace: namespace, field: field))
                    continue
                }
                guard
                    let secretName = collected.secretName(
                        secret.name, object: "\(source)", namespace: namespace, field: field),
                    let checked = collected.hosts(
                        hosts, of: "\(source)", secret: "Secret \(secret.namespace)/\(secret.name)",
                        namespace: namespaceOfSecret,
                        field: field, allowWildcard: wildcardIssuers.contains(issuer)),
                    let settings = collected.settings(
                        annotations, hosts: checked, object: "\(source)",
                        secret: "Secret \(secret.namespace)/\(secret.name)",
                        namespace: namespaceOfSecret)
                else { continue }
                var desired = DesiredCertificate(
                    namespace: namespaceOfSecret, secretName: secretName, hosts: checked, issuer: issuer.name,
                    issuerKind: kind, ingresses: [], ingressClass: nil)
                desired.issuerNamespace = issuer.namespace
                desired.sources = [source]
                desired.labels = owner.metadata.labels ?? [:]
                desired.settings = settings
                collected.add(desired, from: "\(source)", field: field)
            }
        }
    }

    /// An object whose listeners ask for certificates: a Gateway, or a ListenerSet with the
    /// annotations it inherits from its Gateway.
    typealias Owner = (kind: DesiredCertificate.Source.Kind, metadata: ObjectMeta, listeners: [GatewayAPI.Listener])

    /// The Gateways, then the ListenerSets their Gateways accept (a refused one is a problem).
    static func owners(of objects: GatewayObjects, into collected: inout Collector) -> [Owner] {
        let gatewaysByName = Dictionary(
            objects.gateways.map { ("\($0.metadata.namespace ?? "default")/\($0.metadata.name ?? "")", $0) }
        ) { first, _ in first }
        var owners: [Owner] =
            objects.gateways.sorted { key($0.metadata) < key($1.metadata) }.map {
                (.gateway, $0.metadata, $0.spec?.listeners ?? [])
            }
        for set in objects.listenerSets.sorted(by: { key($0.metadata) < key($1.metadata) }) {
            // cert-manager's listenerset shim: a ListenerSet whose Gateway is not there asks for
            // nothing; it takes the Gateway's issuer when it names none, and the Gateway's
            // issuer-kind and issuer-group always.
            guard let parent = set.spec?.parentRef, (parent.kind ?? "Gateway") == "Gateway",
                let gateway = gatewaysByName[
                    "\(parent.namespace ?? set.metadata.namespace ?? "default")/\(parent.name)"]
            else { continue }
            var metadata = set.metadata
            metadata.annotations = inherited(set.metadata.annotations ?? [:], from: gateway.metadata.annotations ?? [:])
            // Only a ListenerSet that would ask for a certificate is certctl's to refuse.
            guard asksForCertificate(metadata.annotations ?? [:]) else { continue }
            if let refusal = refusal(of: set, by: gateway, namespaceLabels: objects.namespaceLabels) {
                collected.problems.append(refusal)
                continue
            }
            owners.append((.listenerSet, metadata, set.spec?.listeners ?? []))
        }
        return owners
    }

    /// A Secret a listener names.
    struct SecretReference: Hashable, Comparable {
        var namespace: String
        var name: String

        static func < (lhs: Self, rhs: Self) -> Bool { (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name) }
    }

    private static func key(_ metadata: ObjectMeta) -> String {
        "\(metadata.namespace ?? "")/\(metadata.name ?? "")"
    }

    /// The issuer an object's annotations choose; a refusal goes to `collected`.
    private static func chosen(
        _ annotations: [String: String], source: DesiredCertificate.Source, issuers: Set<IssuerKey>,
        defaultIssuer: String?, into collected: inout Collector
    ) -> IssuerChoice {
        let choice = issuer(
            annotations: annotations, object: "\(source)", namespace: source.namespace, issuers: issuers,
            defaultIssuer: defaultIssuer)
        if case .refused(let problem) = choice { collected.problems.append(problem) }
        return choice
    }

    /// A ListenerSet's annotations with what it takes from its Gateway.
    public static func inherited(_ own: [String: String], from gateway: [String: String]) -> [String: String] {
        var annotations = own
        if own[clusterIssuer] == nil, own[namespacedIssuer] == nil {
            annotations[clusterIssuer] = gateway[clusterIssuer]
            annotations[namespacedIssuer] = gateway[namespacedIssuer]
        }
        if let kind = gateway[issuerKind] { annotations[issuerKind] = kind }
        if let group = gateway[issuerGroup] { annotations[issuerGroup] = group }
        return annotations
    }

    /// The Secrets (`namespace/name`) the counted listeners name, each with its hostnames and
    /// the field of the first listener naming it. A listener counts when it has a hostname,
    /// protocol HTTPS or TLS, TLS mode Terminate and certificateRefs; one that is HTTPS or TLS
    /// with a hostname and no usable certificateRefs is a problem.
    static func listenerSecrets(
        _ listeners: [GatewayAPI.Listener], of source: DesiredCertificate.Source, grants: [ReferenceGrant],
        into collected: inout Collector
    ) -> [SecretReference: (hosts: [String], field: String)] {
        var secrets: [SecretReference: (hosts: [String], field: String)] = [:]
        for (index, listener) in listeners.enumerated() {
            let field = "spec.listeners[\(index)]"
            guard ["HTTPS", "TLS"].contains(listener.protocol), let hostname = listener.hostname, !hostname.isEmpty,
                (listener.tls?.mode ?? "Terminate") == "Terminate"
            else { continue }
            let refs = listener.tls?.certificateRefs ?? []
            guard !refs.isEmpty else {
                collected.problems.append(
                    ObjectProblem(
                        object: "\(source)",
                        reason:
                            "listener \(listener.name) serves \(hostname) over \(listener.protocol) but names no Secret (tls.certificateRefs); name the Secret to keep its certificate in",
                        kind: .invalidName, namespace: source.namespace, field: "\(field).tls.certificateRefs"))
                continue
            }
            for (refIndex, ref) in refs.enumerated() {
                let refField = "\(field).tls.certificateRefs[\(refIndex)]"
                guard (ref.group ?? "").isEmpty || ref.group == "core", (ref.kind ?? "Secret") == "Secret" else {
                    collected.problems.append(
                        ObjectProblem(
                            object: "\(source)",
                            reason:
                                "listener \(listener.name) names a \(ref.kind ?? "Secret") of group \(ref.group ?? "\"\"") as its certificate; certctl keeps certificates in Secrets only",
                            kind: .invalidName, namespace: source.namespace, field: refField))
                    continue
                }
                let namespace = ref.namespace ?? source.namespace
                if namespace != source.namespace,
                    !grants.contains(where: {
                        $0.metadata.namespace == namespace
                            && $0.allows(source.kind.rawValue, from: source.namespace, toSecret: ref.name)
                    })
                {
                    collected.problems.append(
                        ObjectProblem(
                            object: "\(source)",
                            reason:
                                "listener \(listener.name) names Secret \(namespace)/\(ref.name), and no ReferenceGrant in namespace \(namespace) lets a \(source.kind.rawValue) of namespace \(source.namespace) refer to it; add one (from: group \(GatewayAPI.group), kind \(source.kind.rawValue), namespace \(source.namespace); to: group \"\", kind Secret)",
                            kind: .invalidName, namespace: source.namespace, field: "\(refField).namespace"))
                    continue
                }
                let id = SecretReference(namespace: namespace, name: ref.name)
                var entry = secrets[id] ?? ([], refField)
                if !entry.hosts.contains(hostname) { entry.hosts.append(hostname) }
                secrets[id] = entry
            }
        }
        return secrets
    }
}

extension Discovery {
    /// Why `set` may not attach to `gateway`, by the Gateway's `spec.allowedListeners` as the
    /// Gateway API defines it: `None` (the default, also when the field is absent) allows no
    /// ListenerSet, `Same` those of its namespace, `All` any, `Selector` those of namespaces
    /// whose labels match; nil when it may.
    static func refusal(
        of set: ListenerSet, by gateway: Gateway, namespaceLabels: [String: [String: String]]
    ) -> ObjectProblem? {
        let home = set.metadata.namespace ?? "default"
        let gatewayNamespace = gateway.metadata.namespace ?? "default"
        let named = "Gateway \(gatewayNamespace)/\(gateway.metadata.name ?? "?")"
        let rule = gateway.spec?.allowedListeners?.namespaces
        let from = rule?.from ?? "None"
        let reason: String
        switch from {
        case "All": return nil
        case "Same":
            if home == gatewayNamespace { return nil }
            reason =
                "\(named) allows ListenerSets of its own namespace only (spec.allowedListeners.namespaces.from: Same), so nothing is ordered for this one: move it to namespace \(gatewayNamespace), or have the Gateway allow it"
        case "Selector":
            guard let labels = namespaceLabels[home] else {
                reason =
                    "\(named) allows ListenerSets by a namespace selector, and certctl could not read namespace \(home)'s labels, so nothing is ordered for it: grant certctl get of namespaces, or have the Gateway allow it with from: Same or All"
                break
            }
            if rule?.selector?.matches(labels) == true { return nil }
            reason =
                "\(named) allows ListenerSets of the namespaces its selector matches (spec.allowedListeners.namespaces.selector), and namespace \(home) does not match, so nothing is ordered for it"
        default:
            reason =
                "\(named) allows no ListenerSet (spec.allowedListeners.namespaces.from: \(Bounded.quoted(from))\(rule == nil ? ", the default" : "")), so nothing is ordered for this one: set it to Same, All or Selector on the Gateway to allow it"
        }
        return ObjectProblem(
            object: "ListenerSet \(home)/\(set.metadata.name ?? "?")", reason: reason, kind: .notAllowed,
            namespace: home, field: "spec.parentRef")
    }
}
