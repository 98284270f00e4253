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
    /// The Ingresses that name this Secret (usually one).
    public var ingresses: [String]
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
        self.ingresses = ingresses
        self.ingressClass = ingressClass
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

    /// `defaultIssuer` serves `kubernetes.io/tls-acme: "true"`; `issuers` are the known names.
    public static func certificates(
        for ingresses: [Ingress],
        issuers: Set<String>,
        defaultIssuer: String?,
        wildcardIssuers: Set<String> = []
    ) -> Result {
        var problems: [ObjectProblem] = []
        var withoutTLS: [String] = []
        var bySecret: [String: DesiredCertificate] = [:]
        var conflicting = Set<String>()
        var order: [String] = []

        for ingress in ingresses.sorted(by: {
            ($0.metadata.namespace ?? "", $0.metadata.name ?? "") < (
                $1.metadata.namespace ?? "", $1.metadata.name ?? ""
            )
        }) {
            let namespace = ingress.metadata.namespace ?? "default"
            let name = ingress.metadata.name ?? "?"
            let object = "Ingress \(namespace)/\(name)"
            let annotations = ingress.metadata.annotations ?? [:]
            let issuer: String
            let kind: String
            if let named = annotations[clusterIssuer], !named.isEmpty {
                (issuer, kind) = (named, "ClusterIssuer")
            } else if let named = annotations[namespacedIssuer], !named.isEmpty {
                // ingress-shim: an Issuer in the Ingress's namespace unless issuer-kind says otherwise.
                let named = (annotations[issuerKind] ?? "Issuer", annotations[issuerGroup] ?? "cert-manager.io")
                guard ["Issuer", "ClusterIssuer"].contains(named.0), ["cert-manager.io", ""].contains(named.1) else {
                    problems.append(
                        ObjectProblem(
                            object: object,
                            reason:
                                "names an issuer of kind \(named.0) in group \(named.1.isEmpty ? "\"\"" : named.1): only cert-manager.io's ACME Issuer and ClusterIssuer are served by certctl",
                            kind: .annotation, namespace: namespace,
                            field: "metadata.annotations[\(named.0 == "Issuer" ? issuerGroup : issuerKind)]"))
                    continue
                }
                (issuer, kind) = (annotations[namespacedIssuer] ?? "", named.0)
            } else if annotations[tlsACME] == "true" {
                guard let defaultIssuer else {
                    problems.append(
                        ObjectProblem(
                            object: object,
                            reason: "has \(tlsACME): \"true\" but no default issuer is set; pass --default-issuer NAME",
                            kind: .noDefaultIssuer, namespace: namespace, field: "metadata.annotations[\(tlsACME)]")
                    )
                    continue
                }
                (issuer, kind) = (defaultIssuer, "ClusterIssuer")
            } else {
                continue  // not managed by certctl
            }
            guard issuers.contains(issuer) else {
                problems.append(
                    ObjectProblem(
                        object: object,
                        reason:
                            "names the issuer \"\(issuer)\", which is not defined (known: \(issuers.sorted().joined(separator: ", ")))",
                        kind: .unknownIssuer, namespace: namespace,
                        field: "metadata.annotations[\(kind == "Issuer" ? namespacedIssuer : clusterIssuer)]"
                    ))
                continue
            }
            let entries = ingress.spec?.tls ?? []
            if entries.isEmpty {
                withoutTLS.append(object)
                continue
            }
            guard ObjectName.isDNSLabel(namespace) else {
                problems.append(
                    ObjectProblem(
                        object: object,
                        reason: "metadata.namespace \"\(namespace)\" is not a namespace name (\(ObjectName.labelRule))",
                        kind: .invalidName, field: "metadata.namespace")
                )
                continue
            }
            let ingressClass = ingress.spec?.ingressClassName ?? annotations[Self.ingressClass]
            let ingressClassIsLegacy = ingress.spec?.ingressClassName == nil && ingressClass != nil
            for (index, entry) in entries.enumerated() {
                guard let secretName = entry.secretName, !secretName.isEmpty else {
                    problems.append(
                        ObjectProblem(
                            object: object,
                            reason: "spec.tls[\(index)] has no secretName; name the Secret to keep the certificate in",
                            kind: .invalidName, namespace: namespace, field: "spec.tls[\(index)].secretName"))
                    continue
                }
                guard ObjectName.isDNSSubdomain(secretName) else {
                    problems.append(
                        ObjectProblem(
                            object: object,
                            reason:
                                "spec.tls[\(index)].secretName \"\(secretName)\" is not a Secret name (\(ObjectName.subdomainRule)); rename it",
                            kind: .invalidName, namespace: namespace, field: "spec.tls[\(index)].secretName"
                        ))
                    continue
                }
                let secretObject = "Secret \(namespace)/\(secretName)"
                var hosts: [String] = []
                var invalid = false
                for (hostIndex, host) in (entry.hosts ?? []).enumerated() {
                    do {
                        // A wildcard only where the issuer has a DNS-01 solver to validate it.
                        let valid = try Hostname.validate(
                            host, allowWildcard: wildcardIssuers.contains(issuer),
                            object: "\(object) spec.tls[\(index)]")
                        if !hosts.contains(valid) { hosts.append(valid) }
                    } catch let error as CertctlError {
                        problems.append(
                            ObjectProblem(
                                object: secretObject, reason: error.description, kind: .invalidHost,
                                namespace: namespace, field: "spec.tls[\(index)].hosts[\(hostIndex)]"))
                        invalid = true
                    } catch {
                        invalid = true
                    }
                }
                if invalid { continue }
                guard !hosts.isEmpty else {
                    problems.append(
                        ObjectProblem(
                            object: secretObject, reason: "\(object) spec.tls[\(index)] lists no hosts",
                            kind: .hostCount,
                            namespace: namespace, field: "spec.tls[\(index)].hosts"))
                    continue
                }
                guard hosts.count <= Self.maximumNames else {
                    problems.append(
                        ObjectProblem(
                            object: secretObject,
                            reason:
                                "\(object) spec.tls[\(index)] lists \(hosts.count) hosts; a certificate holds at most \(Self.maximumNames) (Let's Encrypt's limit): split them over several secretNames",
                            kind: .hostCount, namespace: namespace, field: "spec.tls[\(index)].hosts"
                        ))
                    continue
                }
                let settings: CertificateSettings
                switch CertificateSettings.read(annotations, hosts: hosts) {
                case .success(let read): settings = read
                case .failure(let refused):
                    problems.append(
                        ObjectProblem(
                            object: secretObject, reason: "\(object) \(refused.annotation): \(refused.message)",
                            kind: .annotation, namespace: namespace,
                            field: "metadata.annotations[\(refused.annotation)]"))
                    continue
                }
                let key = "\(namespace)/\(secretName)"
                if var existing = bySecret[key] {
                    if Set(existing.hosts) != Set(hosts) || existing.issuer != issuer || existing.settings != settings {
                        conflicting.insert(key)
                        problems.append(
                            ObjectProblem(
                                object: secretObject,
                                reason:
                                    "is named by \(existing.ingresses.joined(separator: ", ")) for \(existing.hosts.joined(separator: ", ")) and by \(object) for \(hosts.joined(separator: ", ")); give each its own secretName or the same hosts",
                                kind: .conflict, namespace: namespace, field: "spec.tls[\(index)].secretName"
                            ))
                    } else if !existing.ingresses.contains(name) {
                        existing.ingresses.append(name)
                        bySecret[key] = existing
                    }
                    continue
                }
                order.append(key)
                bySecret[key] = DesiredCertificate(
                    namespace: namespace,
                    secretName: secretName,
                    hosts: hosts,
                    issuer: issuer,
                    issuerKind: kind,
                    ingresses: [name],
                    ingressClass: ingressClass
                )
                bySecret[key]?.ingressClassIsLegacy = ingressClassIsLegacy
                bySecret[key]?.labels = ingress.metadata.labels ?? [:]
                bySecret[key]?.settings = settings
            }
        }
        let certificates = order.filter { !conflicting.contains($0) }.compactMap { bySecret[$0] }
        return Result(certificates: certificates, problems: problems, withoutTLS: withoutTLS)
    }
}
