import Basics
public import Kubernetes

/// One certificate certctl should keep: a `spec.tls[]` entry of a managed Ingress.
public struct DesiredCertificate: Sendable, Equatable {
    public var namespace: String
    public var secretName: String
    /// The SANs, in the Ingress's order, de-duplicated.
    public var hosts: [String]
    public var issuer: String
    /// `ClusterIssuer` or `Issuer`, from the annotation that chose it.
    public var issuerKind: String
    /// The namespace of the `Issuer` that serves it (the asking object's own); nil for a
    /// cluster-wide issuer.
    public var issuerNamespace: String?
    /// The issuer that serves it, as the issuers are keyed.
    public var issuerKey: IssuerKey { IssuerKey(name: issuer, namespace: issuerNamespace) }
    /// The objects that ask for this certificate: Ingresses (usually one), Gateways,
    /// ListenerSets (README, "Gateways").
    public var sources: [Source]
    /// The names of the Ingresses of the certificate's namespace among ``sources``.
    public var ingresses: [String] {
        get { sources.filter { $0.kind == .ingress && $0.namespace == namespace }.map(\.name) }
        set {
            sources.removeAll { $0.kind == .ingress && $0.namespace == namespace }
            sources += newValue.map { Source(.ingress, namespace: namespace, name: $0) }
        }
    }
    /// The Ingress class (`spec.ingressClassName` or `kubernetes.io/ingress.class`).
    public var ingressClass: String?
    /// The class came from the legacy annotation, not `spec.ingressClassName`.
    public var ingressClassIsLegacy = false
    /// The labels of the (first) Ingress, which a solver's `selector.matchLabels` reads.
    public var labels: [String: String] = [:]
    /// What the Ingress's cert-manager annotations ask (key, renewal, solver class, ...).
    @Boxed public var settings = CertificateSettings()

    public var id: String { "\(namespace)/\(secretName)" }

    public init(
        namespace: String,
        secretName: String,
        hosts: [String],
        issuer: String,
        issuerKind: String,
        ingresses: [String],
        ingressClass: String?
    ) {
        self.namespace = namespace
        self.secretName = secretName
        self.hosts = hosts
        self.issuer = issuer
        self.issuerKind = issuerKind
        self.sources = ingresses.map { Source(.ingress, namespace: namespace, name: $0) }
        self.ingressClass = ingressClass
    }

    /// The objects as a column and a metric label show them: an Ingress of the certificate's
    /// namespace by its name (as always), others as `Gateway/web`, `ListenerSet/edge/extra`.
    public var objectNames: [String] {
        sources.map { source in
            if source.kind == .ingress, source.namespace == namespace { return source.name }
            let place = source.namespace == namespace ? source.name : "\(source.namespace)/\(source.name)"
            return "\(source.kind.rawValue)/\(place)"
        }
    }

    /// The kinds of the objects asking for it, each once, in the order of `sources`.
    public var objectKinds: [String] {
        var seen: Set<Source.Kind> = []
        return sources.compactMap { seen.insert($0.kind).inserted ? $0.kind.rawValue : nil }
    }

    /// "Ingress prod/a, Gateway prod/web", for messages.
    public var sourceList: String { sources.map(\.description).joined(separator: ", ") }

    /// An object that asks for a certificate.
    public struct Source: Hashable, Sendable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable {
            case ingress = "Ingress"
            case gateway = "Gateway"
            case listenerSet = "ListenerSet"
        }

        public var kind: Kind
        /// Its own namespace (a Gateway may name a Secret of another namespace).
        public var namespace: String
        public var name: String

        public init(_ kind: Kind, namespace: String, name: String) {
            self.kind = kind
            self.namespace = namespace
            self.name = name
        }

        public var description: String { "\(kind.rawValue) \(namespace)/\(name)" }
    }
}

/// Which Ingresses certctl manages and the certificates they need (the README's "certctl run", step 1).
public enum Discovery {
    /// Names one certificate may hold (Let's Encrypt's limit per order).
    public static let maximumNames = 100

    public static let tlsACME = "kubernetes.io/tls-acme"
    public static let clusterIssuer = "cert-manager.io/cluster-issuer"
    public static let namespacedIssuer = "cert-manager.io/issuer"
    public static let ingressClass = "kubernetes.io/ingress.class"
    public static let issuerKind = "cert-manager.io/issuer-kind"
    public static let issuerGroup = "cert-manager.io/issuer-group"

    public struct Result: Sendable {
        public var certificates: [DesiredCertificate]
        public var problems: [ObjectProblem]
        /// Ingresses with a managing annotation but no `spec.tls`: nothing to do, worth saying.
        public var withoutTLS: [String]
    }

    /// `defaultIssuer` serves `kubernetes.io/tls-acme: "true"`; `issuers` are the known ones.
    public static func certificates(
        for ingresses: [Ingress],
        issuers: Set<IssuerKey>,
        defaultIssuer: String?,
        wildcardIssuers: Set<IssuerKey> = [],
        gateways: GatewayObjects = .none
    ) -> Result {
        var collected = Collector()
        var withoutTLS: [String] = []
        for ingress in ingresses.sorted(by: {
            ($0.metadata.namespace ?? "", $0.metadata.name ?? "") < (
                $1.metadata.namespace ?? "", $1.metadata.name ?? ""
            )
        }) {
            let namespace = ingress.metadata.namespace ?? "default"
            let name = ingress.metadata.name ?? "?"
            let object = "Ingress \(namespace)/\(name)"
            let annotations = ingress.metadata.annotations ?? [:]
            let issuer: IssuerKey
            let kind: String
            switch Self.issuer(
                annotations: annotations, object: object, namespace: namespace, issuers: issuers,
                defaultIssuer: defaultIssuer)
            {
            case .unmanaged: continue
            case .refused(let problem):
                collected.problems.append(problem)
                continue
            case .chosen(let key, let named): (issuer, kind) = (key, named)
            }
            let entries = ingress.spec?.tls ?? []
            if entries.isEmpty {
                withoutTLS.append(object)
                continue
            }
            guard ObjectName.isDNSLabel(namespace) else {
                collected.problems.append(
                    ObjectProblem(
                        object: object,
                        reason: "metadata.namespace \"\(namespace)\" is not a namespace name (\(ObjectName.labelRule))",
                        kind: .invalidName, field: "metadata.namespace")
                )
                continue
            }
            for (index, entry) in entries.enumerated() {
                guard
                    let desired = certificate(
                        entry, index: index, of: ingress, issuer: (issuer, kind),
                        wildcard: wildcardIssuers.contains(issuer), into: &collected)
                else { continue }
                collected.add(desired, from: object, field: "spec.tls[\(index)].secretName")
            }
        }
        certificates(
            for: gateways, issuers: issuers, defaultIssuer: defaultIssuer, wildcardIssuers: wildcardIssuers,
            into: &collected)
        return Result(certificates: collected.certificates, problems: collected.problems, withoutTLS: withoutTLS)
    }

    /// The certificate of one `spec.tls[]` entry of a managed Ingress; nil (and the problem
    /// collected) when its Secret name, hosts or annotations are refused.
    private static func certificate(
        _ entry: Ingress.TLS, index: Int, of ingress: Ingress, issuer: (key: IssuerKey, kind: String), wildcard: Bool,
        into collected: inout Collector
    ) -> DesiredCertificate? {
        let namespace = ingress.metadata.namespace ?? "default"
        let name = ingress.metadata.name ?? "?"
        let object = "Ingress \(namespace)/\(name)"
        let annotations = ingress.metadata.annotations ?? [:]
        let field = "spec.tls[\(index)]"
        guard
            let secretName = collected.secretName(
                entry.secretName, object: object, namespace: namespace, field: "\(field).secretName"),
            let hosts = collected.hosts(
                entry.hosts ?? [], of: object, secret: "Secret \(namespace)/\(secretName)",
                namespace: namespace, field: field, allowWildcard: wildcard),
            let settings = collected.settings(
                annotations, hosts: hosts, object: object, secret: "Secret \(namespace)/\(secretName)",
                namespace: namespace)
        else { return nil }
        let ingressClass = ingress.spec?.ingressClassName ?? annotations[Self.ingressClass]
        var desired = DesiredCertificate(
            namespace: namespace, secretName: secretName, hosts: hosts, issuer: issuer.key.name,
            issuerKind: issuer.kind, ingresses: [name], ingressClass: ingressClass)
        desired.issuerNamespace = issuer.key.namespace
        desired.ingressClassIsLegacy = ingress.spec?.ingressClassName == nil && ingressClass != nil
        desired.labels = ingress.metadata.labels ?? [:]
        desired.settings = settings
        return desired
    }

    /// Which issuer an object's cert-manager annotations choose (as ingress-shim reads them).
    enum IssuerChoice {
        /// No managing annotation: not certctl's.
        case unmanaged
        case refused(ObjectProblem)
        /// The issuer and the kind its annotation named (`ClusterIssuer` or `Issuer`).
        case chosen(IssuerKey, kind: String)
    }

    /// Whether `annotations` ask for a certificate at all (an issuer named, or tls-acme).
    static func asksForCertificate(_ annotations: [String: String]) -> Bool {
        !(annotations[clusterIssuer] ?? "").isEmpty || !(annotations[namespacedIssuer] ?? "").isEmpty
            || annotations[tlsACME] == "true"
    }

    /// `cert-manager.io/cluster-issuer`, else `cert-manager.io/issuer` (with `issuer-kind` and
    /// `issuer-group`), else `kubernetes.io/tls-acme: "true"` with the default issuer. An
    /// `Issuer` is looked for in the object's own `namespace` alone, as cert-manager does.
    static func issuer(
        annotations: [String: String], object: String, namespace: String, issuers: Set<IssuerKey>,
        defaultIssuer: String?
    ) -> IssuerChoice {
        let issuer: String
        let kind: String
        if let named = annotations[clusterIssuer], !named.isEmpty {
            (issuer, kind) = (named, "ClusterIssuer")
        } else if let named = annotations[namespacedIssuer], !named.isEmpty {
            // ingress-shim: an Issuer in the object's namespace unless issuer-kind says otherwise.
            let asked = (annotations[issuerKind] ?? "Issuer", annotations[issuerGroup] ?? "cert-manager.io")
            guard ["Issuer", "ClusterIssuer"].contains(asked.0), ["cert-manager.io", ""].contains(asked.1) else {
                return .refused(
                    ObjectProblem(
                        object: object,
                        reason:
                            "names an issuer of kind \(Bounded.quoted(asked.0)) in group \(Bounded.quoted(asked.1)): only cert-manager.io's ACME Issuer and ClusterIssuer are served by certctl",
                        kind: .annotation, namespace: namespace,
                        field: "metadata.annotations[\(asked.0 == "Issuer" ? issuerGroup : issuerKind)]"))
            }
            (issuer, kind) = (named, asked.0)
        } else if annotations[tlsACME] == "true" {
            guard let defaultIssuer else {
                return .refused(
                    ObjectProblem(
                        object: object,
                        reason: "has \(tlsACME): \"true\" but no default issuer is set; pass --default-issuer NAME",
                        kind: .noDefaultIssuer, namespace: namespace, field: "metadata.annotations[\(tlsACME)]"))
            }
            (issuer, kind) = (defaultIssuer, "ClusterIssuer")
        } else {
            return .unmanaged
        }
        let key = IssuerKey(name: issuer, namespace: kind == "Issuer" ? namespace : nil)
        guard issuers.contains(key) else {
            let field = "metadata.annotations[\(kind == "Issuer" ? namespacedIssuer : clusterIssuer)]"
            return .refused(
                ObjectProblem(
                    object: object, reason: unknownIssuer(key, issuers: issuers), kind: .unknownIssuer,
                    namespace: namespace, field: field))
        }
        return .chosen(key, kind: kind)
    }

    /// Why `key` serves nothing here, naming what does exist: another namespace's `Issuer` (it
    /// serves its own namespace alone), or a ClusterIssuer of that name.
    static func unknownIssuer(_ key: IssuerKey, issuers: Set<IssuerKey>) -> String {
        let name = Bounded.quoted(key.name)
        guard let namespace = key.namespace else {
            let elsewhere = issuers.filter { $0.name == key.name }.sorted()
            if !elsewhere.isEmpty {
                return
                    "names the ClusterIssuer \(name), which is not defined; there is only the \(elsewhere.map(\.named).joined(separator: ", ")), which serves its own namespace alone: define the ClusterIssuer, or name an Issuer of this namespace with cert-manager.io/issuer"
            }
            let known = issuers.filter { $0.namespace == nil }.map(\.name).sorted()
            return
                "names the issuer \(name), which is not defined (known: \(known.joined(separator: ", ")))"
        }
        let others = issuers.filter { $0.name == key.name && $0.namespace != nil }.sorted()
        if !others.isEmpty {
            return
                "names the Issuer \(name), which namespace \(namespace) does not have; \(others.map(\.named).joined(separator: ", ")) serves only its own namespace's objects (as in cert-manager): create an Issuer here, or use a ClusterIssuer with cert-manager.io/cluster-issuer"
        }
        if issuers.contains(.cluster(key.name)) {
            return
                "names the Issuer \(name), which namespace \(namespace) does not have; \(name) is a ClusterIssuer: name it with cert-manager.io/cluster-issuer"
        }
        let known = issuers.filter { $0.namespace == nil || $0.namespace == namespace }.map(\.named).sorted()
        return
            "names the Issuer \(name), which namespace \(namespace) does not have (known here: \(known.joined(separator: ", ")))"
    }
}
