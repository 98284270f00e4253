import Kubernetes

/// Desired certificates paired with the Secrets that hold them now.
public struct Inventory: Sendable {
    public struct Entry: Sendable {
        public var desired: DesiredCertificate
        /// nil when the Secret does not exist.
        public var current: CurrentCertificate?
        /// certctl's record while the Secret does not exist (a failed first issuance).
        public var pending: RenewalRecord?

        public init(desired: DesiredCertificate, current: CurrentCertificate?, pending: RenewalRecord? = nil) {
            self.desired = desired
            self.current = current
            self.pending = pending
        }

        /// The record that rules this certificate: the Secret's, else the pending one.
        public var record: RenewalRecord { current?.record ?? pending ?? RenewalRecord() }
    }

    public var cluster: String
    public var entries: [Entry]
    public var problems: [ObjectProblem]
    public var withoutTLS: [String]

    public init(cluster: String, entries: [Entry], problems: [ObjectProblem] = [], withoutTLS: [String] = []) {
        self.cluster = cluster
        self.entries = entries
        self.problems = problems
        self.withoutTLS = withoutTLS
    }

    /// Reads Ingresses and TLS Secrets with one list each, then fetches only the Secrets that
    /// the list did not have (missing, or of another type).
    /// The inventory for `issuers` by name; wildcard hosts pass where the issuer has a DNS-01 solver.
    public static func load(
        from store: any ClusterStore, scope: NamespaceScope, issuers: [String: Issuer], defaultIssuer: String?
    ) async throws -> Inventory {
        try await load(
            from: store, scope: scope, issuers: Set(issuers.keys), defaultIssuer: defaultIssuer,
            wildcardIssuers: Set(issuers.values.filter(\.solvesDNS01).map(\.name)))
    }

    public static func load(
        from store: any ClusterStore,
        scope: NamespaceScope,
        issuers: Set<String>,
        defaultIssuer: String?,
        wildcardIssuers: Set<String> = []
    ) async throws -> Inventory {
        let (ingresses, ingressProblems) = try await store.ingresses(in: scope)
        let discovered = Discovery.certificates(
            for: ingresses, issuers: issuers, defaultIssuer: defaultIssuer, wildcardIssuers: wildcardIssuers)
        var (secrets, secretProblems) = try await store.tlsSecrets(in: scope)
        var byName: [String: Secret] = [:]
        for secret in secrets {
            byName["\(secret.metadata.namespace ?? "default")/\(secret.metadata.name ?? "")"] = secret
        }
        secrets = []
        var entries: [Entry] = []
        entries.reserveCapacity(discovered.certificates.count)
        for desired in discovered.certificates {
            // Taken out as it is read: each Secret's bytes are freed once its summary is made.
            var secret = byName.removeValue(forKey: desired.id)
            if secret == nil {
                secret = try await store.secret(namespace: desired.namespace, name: desired.secretName)
            }
            var pending: RenewalRecord?
            if secret == nil,
                let annotations = try await store.pendingRecord(
                    namespace: desired.namespace, secretName: desired.secretName)
            {
                pending = RenewalRecord(annotations: annotations)
            }
            entries.append(Entry(desired: desired, current: secret.map(CurrentCertificate.init), pending: pending))
        }
        return Inventory(
            cluster: store.name,
            entries: entries,
            problems: ingressProblems + discovered.problems + secretProblems,
            withoutTLS: discovered.withoutTLS
        )
    }
}
