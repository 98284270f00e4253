/// `v1` Namespace: read for its labels alone (a Gateway's `allowedListeners` selector).
public struct Namespace: KubernetesResource, Equatable {
    public static let apiVersion = "v1"
    public static let kind = "Namespace"
    public static let plural = "namespaces"

    public var apiVersion: String? = Namespace.apiVersion
    public var kind: String? = Namespace.kind
    public var metadata: ObjectMeta

    public init(metadata: ObjectMeta) { self.metadata = metadata }
}
