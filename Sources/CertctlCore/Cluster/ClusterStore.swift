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

/// Something wrong with one object; the others go on.
public struct ObjectProblem: Sendable, Equatable, CustomStringConvertible {
    /// `Ingress prod/binder`, `ingress/binder.yaml:12`, `Secret prod/kubelego-tls-binder`.
    public var object: String
    public var reason: String

    public init(object: String, reason: String) {
        self.object = object
        self.reason = reason
    }

    public var description: String { "\(object): \(reason)" }
}

/// The cluster seam: a real API server, or a directory of manifests and a state directory.
/// Both behave the same: what works against one works against the other.
public protocol ClusterStore: Sendable {
    /// Shown in tables (the kubeconfig context, `local`).
    var name: String { get }

    /// Every Ingress in scope, and the objects that could not be read.
    func ingresses(in scope: NamespaceScope) async throws -> (items: [Ingress], problems: [ObjectProblem])

    /// Every `kubernetes.io/tls` Secret in scope (one paginated list, not one request per object).
    func tlsSecrets(in scope: NamespaceScope) async throws -> (items: [Secret], problems: [ObjectProblem])

    /// One Secret of any type, nil when it does not exist.
    func secret(namespace: String, name: String) async throws -> Secret?

    /// Creates the Secret; fails with `AlreadyExists` when someone else did first.
    func create(_ secret: Secret) async throws -> Secret

    /// Changes only the keys the patch names (labels, annotations, data) of Secret
    /// `namespace/name`, keeping everything else on it; fails with `Conflict` when the patch's
    /// `resourceVersion` is stale.
    func patch(_ patch: SecretPatch, namespace: String, name: String) async throws -> Secret

    /// certctl's record for a certificate whose Secret does not exist yet (a failed first
    /// issuance, its back-off), as annotations; nil when there is none. In a cluster it is kept
    /// in the annotations of a ConfigMap `certctl-pending-<secret>` (annotation keys such as
    /// `certctl.io/failure-count` are not valid ConfigMap data keys).
    func pendingRecord(namespace: String, secretName: String) async throws -> [String: String]?

    /// Stores that record, or removes it (nil) once the Secret exists.
    func savePendingRecord(_ annotations: [String: String]?, namespace: String, secretName: String) async throws
}
