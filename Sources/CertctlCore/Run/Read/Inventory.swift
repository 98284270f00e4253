import Basics
import Certificates
import Kubernetes

/// Desired certificates paired with the Secrets that hold them now.
public struct Inventory: Sendable {
    public struct Entry: Sendable {
        @Boxed public var desired: DesiredCertificate
        /// nil when the Secret does not exist.
        @BoxedIfPresent public var current: CurrentCertificate?
        /// certctl's record while the Secret does not exist (a failed first issuance).
        @BoxedIfPresent public var pending: RenewalRecord?

        public init(desired: DesiredCertificate, current: CurrentCertificate?, pending: RenewalRecord? = nil) {
            self.desired = desired
            self.current = current
            self.pending = pending
        }

        /// The record that rules this certificate: the Secret's, else the pending one.
        public var record: RenewalRecord { current?.record ?? pending ?? RenewalRecord() }

        /// This certificate as `store` has it now: its Secret, else its pending record, read
        /// again (under the run's lock: another run may have stored it since the first read).
        public func readAgain(from store: any ClusterReader) async throws -> Entry {
            let current = try await store.secret(namespace: desired.namespace, name: desired.secretName).map(
                CurrentCertificate.init)
            var pending: RenewalRecord?
            if current == nil,
                let annotations = try await store.pendingRecord(
                    namespace: desired.namespace, secretName: desired.secretName)
            {
                pending = RenewalRecord(annotations: annotations)
            }
            return Entry(desired: desired, current: current, pending: pending)
        }

        /// The issuer of the certificate the Secret holds (asked about its renewal window and its
        /// revocation): its own, or the fallback that the record says issued it, found by key
        /// (the record's issuer and cert-manager's `issuer-kind`) whether or not the chain still
        /// names it. nil when that issuer is not defined.
        public func currentIssuer(in issuers: [IssuerKey: Issuer]) -> Issuer? {
            issuers[fallbackIssuerKey ?? desired.issuerKey]
        }

        /// The key of the fallback issuer that issued the certificate the Secret holds, standing
        /// in for its own; nil when its own did, or the record is another certificate's (the
        /// Secret replaced by hand), as the plan and `status` read it.
        public var fallbackIssuerKey: IssuerKey? {
            guard let current, current.record.standsIn(for: desired.issuerKey),
                current.record.serial == current.summary?.serialHex
            else { return nil }
            return RenewalRecord.issuerKey(of: current.secret, in: desired.namespace)
        }
    }

    public var cluster: String
    public var entries: [Entry]
    public var problems: [ObjectProblem]
    public var withoutTLS: [String]
    /// What could not be read beside the objects (``CertificateSources/notes``).
    public var notes: [String] = []
    /// Whether the cluster serves the Gateway API.
    public var servesGatewayAPI = false

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
        from store: any ClusterReader, scope: NamespaceScope, issuers: [IssuerKey: Issuer], defaultIssuer: String?
    ) async throws -> Inventory {
        try await load(
            from: store, scope: scope, issuers: Set(issuers.keys), defaultIssuer: defaultIssuer,
            wildcardIssuers: Set(issuers.values.filter(\.solvesDNS01).map(\.key)))
    }

    public static func load(
        from store: any ClusterReader,
        scope: NamespaceScope,
        issuers: Set<IssuerKey>,
        defaultIssuer: String?,
        wildcardIssuers: Set<IssuerKey> = []
    ) async throws -> Inventory {
        let sources = try await Discovered(store.certificateSources(in: scope)) {
            Discovery.certificates(
                for: $0.ingresses, issuers: issuers, defaultIssuer: defaultIssuer, wildcardIssuers: wildcardIssuers,
                gateways: $0.gateways)
        }
        let discovered = sources.discovered
        // Each Secret is summarized as its page of the list arrives, only when an Ingress wants
        // it: the bytes of thousands of Secrets are never held at once.
        let wanted = Set(discovered.certificates.map(\.id))
        let named = sources.namedSecrets
        let (kept, secretProblems) = try await store.tlsSecrets(in: scope) { secret -> Kept? in
            let id = Self.id(of: secret)
            if wanted.contains(id) { return .wanted(CurrentCertificate(secret: secret)) }
            let madeByCertctl = secret.metadata.labels?[SecretWriter.managedByLabel] == "certctl"
            // A Secret cert-manager's Certificate names is cert-manager's to remove (certctl never writes that annotation).
            let certManagers = secret.metadata.annotations?[Self.certManagerCertificate] != nil
            return madeByCertctl && !certManagers && !named.contains(id) ? .orphan(id) : nil
        }
        var byName: [String: CurrentCertificate] = [:]
        byName.reserveCapacity(kept.count)
        var orphans: [ObjectProblem] = []
        for item in kept {
            switch item {
            case .wanted(let current): byName[current.name] = current
            case .orphan(let id): orphans.append(Self.orphan(id))
            }
        }
        var entries: [Entry] = []
        entries.reserveCapacity(discovered.certificates.count)
        for desired in discovered.certificates {
            if let current = byName.removeValue(forKey: desired.id) {
                entries.append(Entry(desired: desired, current: current))
            } else {
                // Not in the list (missing, or of another type): read alone, with its pending record.
                entries.append(try await Entry(desired: desired, current: nil).readAgain(from: store))
            }
        }
        var inventory = Inventory(
            cluster: store.name,
            entries: entries,
            problems: sources.problems + discovered.problems + secretProblems
                + orphans.sorted { $0.object < $1.object },
            withoutTLS: discovered.withoutTLS
        )
        inventory.notes = sources.notes
        inventory.servesGatewayAPI = sources.servesGatewayAPI
        return inventory
    }

    /// What the run keeps of the objects it read: the decoded Ingresses and Gateways are let go
    /// before the Secrets are read, so the two lists' objects are never held at once (at 10,000
    /// certificates that was 7 MB of the run's peak).
    private struct Discovered {
        var discovered: Discovery.Result
        var namedSecrets: Set<String>
        var problems: [ObjectProblem]
        var notes: [String]
        var servesGatewayAPI: Bool

        init(_ sources: consuming CertificateSources, discover: (CertificateSources) -> Discovery.Result) {
            discovered = discover(sources)
            namedSecrets = sources.namedSecrets
            problems = sources.problems
            notes = sources.notes
            servesGatewayAPI = sources.gateways.served
        }
    }

    /// The entries a command's SECRET argument names: `NAMESPACE/NAME`, or `NAME` when only one
    /// namespace in scope has a certificate of that name (several: refused, naming them, so
    /// that `revoke tls -A` never picks one at random). Empty when none.
    public func entries(named argument: String) throws -> [Entry] {
        if argument.contains("/") { return entries.filter { $0.desired.id == argument } }
        let found = entries.filter { $0.desired.secretName == argument }
        let namespaces = Set(found.map(\.desired.namespace)).sorted()
        guard namespaces.count <= 1 else {
            throw CertctlError(
                .invalidArgument, object: "Secret \(Bounded.quoted(argument))",
                "names certificates in \(namespaces.count) namespaces (\(namespaces.joined(separator: ", "))): write NAMESPACE/NAME, or pass one -n"
            )
        }
        return found
    }

    /// What the read keeps of a Secret: the current certificate of a wanted one, or the name of
    /// one certctl made that nothing names any more.
    private enum Kept: Sendable {
        case wanted(CurrentCertificate)
        case orphan(String)
    }

    /// The annotation cert-manager puts on the Secret of each of its Certificates.
    static let certManagerCertificate = "cert-manager.io/certificate-name"

    static func orphan(_ id: String) -> ObjectProblem {
        ObjectProblem(
            object: "Secret \(id)",
            reason:
                "certctl made it (app.kubernetes.io/managed-by: certctl) and no Ingress or Gateway in scope names it any more; certctl prune lists such Secrets, certctl prune --delete removes them",
            kind: .orphaned, namespace: String(id.split(separator: "/").first ?? ""))
    }

    private static func id(of secret: Secret) -> String {
        "\(secret.metadata.namespace ?? "default")/\(secret.metadata.name ?? "")"
    }
}
