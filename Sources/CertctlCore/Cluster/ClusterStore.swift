public import Kubernetes

/// Which namespaces a command looks at.
public enum NamespaceScope: Sendable, Equatable {
    case all
    case only([String])

    func contains(_ namespace: String) -> Bool {
        switch self {
        case .all: true
        case .only(let namespaces): namespaces.contains(namespace)
        }
    }
}

/// Something wrong with one object; the others go on. Shown by `discover`, `run` and `status`
/// (text, `-o json`, the page) and counted by the `certctl_problems` metric (README "Metrics").
public struct ObjectProblem: Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, as the `kind` label of `certctl_problems` and `kind` in `-o json`.
    public enum Kind: String, Sendable, CaseIterable {
        /// A manifest, Ingress or Secret that cannot be read or decoded.
        case unreadable
        /// The annotation names an issuer that is not defined.
        case unknownIssuer = "unknown_issuer"
        /// `kubernetes.io/tls-acme: "true"` with no default issuer.
        case noDefaultIssuer = "no_default_issuer"
        /// A namespace or secretName that is not a valid object name, or none.
        case invalidName = "invalid_name"
        /// A host that is not a valid DNS name (upper case, a wildcard without DNS-01, ...).
        case invalidHost = "invalid_host"
        /// No hosts, or more than one certificate holds.
        case hostCount = "host_count"
        /// Two Ingresses name one Secret for different hosts or issuers.
        case conflict
        /// A cert-manager annotation with a value certctl cannot honour.
        case annotation
        /// A ListenerSet its Gateway does not allow to attach (`spec.allowedListeners`).
        case notAllowed = "not_allowed"
        /// A Secret certctl made (its `app.kubernetes.io/managed-by` label) that no Ingress,
        /// Gateway or ListenerSet in scope names any more: `certctl prune` removes it.
        case orphaned
    }

    /// `Ingress prod/binder`, `ingress/binder.yaml:12`, `Secret prod/kubelego-tls-binder`.
    public var object: String
    public var reason: String
    public var kind: Kind
    /// The object's namespace, when known (a file that cannot be parsed has none).
    public var namespace: String?
    /// The field at fault, like `spec.tls[0].hosts[1]`, when one is.
    public var field: String?

    public init(
        object: String, reason: String, kind: Kind = .unreadable, namespace: String? = nil, field: String? = nil
    ) {
        self.object = object
        self.reason = reason
        self.kind = kind
        self.namespace = namespace
        self.field = field
    }

    public var description: String { "\(object): \(reason)" }
}

/// The cluster seam, read only: what a run's stages other than the store stage are given, so
/// that a write from them does not compile.
public protocol ClusterReader: Sendable {
    /// Shown in tables (the kubeconfig context, `local`).
    var name: String { get }

    /// Every Ingress in scope, and the objects that could not be read. As discovery reads
    /// them: a rule's `http` paths may be left out (``Ingress/rulesWithoutPaths``), so none of
    /// them is ever written back.
    func ingresses(in scope: NamespaceScope) async throws -> (items: [Ingress], problems: [ObjectProblem])

    /// What `keeping` makes of every `kubernetes.io/tls` Secret in scope (nil: nothing), read
    /// one page of the list at a time (one paginated list, not one request per object): a
    /// Secret's data is freed as soon as its page is done, so thousands of them are never held.
    /// `keeping` may run on several Secrets at once (a page is shared among the cores).
    func tlsSecrets<T: Sendable>(
        in scope: NamespaceScope, keeping: @Sendable (Secret) throws -> T?
    ) async throws -> (items: [T], problems: [ObjectProblem])

    /// One Secret of any type, nil when it does not exist.
    func secret(namespace: String, name: String) async throws -> Secret?

    /// certctl's record for a certificate whose Secret does not exist yet (a failed first
    /// issuance, its back-off), as annotations; nil when there is none. In a cluster it is kept
    /// in the annotations of a ConfigMap `certctl-pending-<secret>` (annotation keys such as
    /// `certctl.io/failure-count` are not valid ConfigMap data keys).
    func pendingRecord(namespace: String, secretName: String) async throws -> [String: String]?

    /// The Gateway API's objects in scope (``GatewayObjects/none`` where it is not served), and
    /// notes on what could not be read (a Role without them).
    func gatewayObjects(in scope: NamespaceScope) async throws -> (objects: GatewayObjects, notes: [String])

    /// Everything that asks for certificates: Ingresses and the Gateway API's objects.
    func certificateSources(in scope: NamespaceScope) async throws -> CertificateSources
}

/// What a read of the cluster found that asks for certificates.
public struct CertificateSources: Sendable {
    public var ingresses: [Ingress]
    public var gateways: GatewayObjects
    public var problems: [ObjectProblem]
    /// What could not be read, said in the run's warnings (not a problem of an object).
    public var notes: [String]

    public init(ingresses: [Ingress], gateways: GatewayObjects, problems: [ObjectProblem], notes: [String] = []) {
        self.ingresses = ingresses
        self.gateways = gateways
        self.problems = problems
        self.notes = notes
    }
}

extension CertificateSources {
    /// Every Secret (`namespace/name`) an object in scope names for TLS, whether or not it asks
    /// certctl for a certificate (an Ingress without the annotation still serves the Secret).
    public var namedSecrets: Set<String> {
        var named: Set<String> = []
        for ingress in ingresses {
            let namespace = ingress.metadata.namespace ?? "default"
            for tls in ingress.spec?.tls ?? [] { if let name = tls.secretName { named.insert("\(namespace)/\(name)") } }
        }
        let listeners =
            gateways.gateways.map { ($0.metadata.namespace ?? "default", $0.spec?.listeners ?? []) }
            + gateways.listenerSets.map { ($0.metadata.namespace ?? "default", $0.spec?.listeners ?? []) }
        for (namespace, list) in listeners {
            for listener in list {
                for reference in listener.tls?.certificateRefs ?? [] {
                    named.insert("\(reference.namespace ?? namespace)/\(reference.name)")
                }
            }
        }
        return named
    }
}

extension ClusterReader {
    public func gatewayObjects(in scope: NamespaceScope) async throws -> (objects: GatewayObjects, notes: [String]) {
        (.none, [])
    }

    public func certificateSources(in scope: NamespaceScope) async throws -> CertificateSources {
        let (ingresses, problems) = try await ingresses(in: scope)
        let (gateways, notes) = try await gatewayObjects(in: scope)
        return CertificateSources(ingresses: ingresses, gateways: gateways, problems: problems, notes: notes)
    }
}

/// The cluster seam: a real API server, or a directory of manifests and a state directory.
/// Both behave the same: what works against one works against the other.
public protocol ClusterStore: ClusterReader {

    /// Creates the Secret; fails with `AlreadyExists` when someone else did first.
    func create(_ secret: Secret) async throws -> Secret

    /// Changes only the keys the patch names (labels, annotations, data) of Secret
    /// `namespace/name`, keeping everything else on it; fails with `Conflict` when the patch's
    /// `resourceVersion` is stale.
    func patch(_ patch: SecretPatch, namespace: String, name: String) async throws -> Secret

    /// Stores the pending record, or removes it (nil) once the Secret exists.
    func savePendingRecord(_ annotations: [String: String]?, namespace: String, secretName: String) async throws

    /// Deletes `secret` as it was read (`certctl prune --delete`): refused with `Conflict` when it
    /// changed since, or is another object of the same name (its `uid` and `resourceVersion` are
    /// the preconditions); one already gone is done.
    func deleteSecret(_ secret: Secret) async throws
}

extension ClusterReader {
    /// Every `kubernetes.io/tls` Secret in scope, whole.
    public func tlsSecrets(in scope: NamespaceScope) async throws -> (items: [Secret], problems: [ObjectProblem]) {
        try await tlsSecrets(in: scope) { $0 }
    }
}
