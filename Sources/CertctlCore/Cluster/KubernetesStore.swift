public import Kubernetes

/// The cluster seam over the API server.
public struct KubernetesStore: ClusterStore {
    public let client: KubernetesClient

    public init(client: KubernetesClient) {
        self.client = client
    }

    public var name: String { client.connection.name }

    public func ingresses(in scope: NamespaceScope) async throws -> (items: [Ingress], problems: [ObjectProblem]) {
        (try await list(Ingress.self, scope: scope, fieldSelector: nil), [])
    }

    public func tlsSecrets(in scope: NamespaceScope) async throws -> (items: [Secret], problems: [ObjectProblem]) {
        (try await list(Secret.self, scope: scope, fieldSelector: "type=\(Secret.tlsType)"), [])
    }

    private func list<R: KubernetesResource>(_ type: R.Type, scope: NamespaceScope, fieldSelector: String?) async throws
        -> [R]
    {
        switch scope {
        case .all:
            return try await client.list(type, namespace: nil, fieldSelector: fieldSelector)
        case .only(let namespaces):
            var items: [R] = []
            for namespace in namespaces {
                items += try await client.list(type, namespace: namespace, fieldSelector: fieldSelector)
            }
            return items
        }
    }

    public func secret(namespace: String, name: String) async throws -> Secret? {
        do {
            return try await client.get(Secret.self, namespace: namespace, name: name)
        } catch let error as KubernetesError where error.isNotFound {
            return nil
        }
    }

    public func create(_ secret: Secret) async throws -> Secret {
        try await client.create(secret)
    }

    public func update(_ secret: Secret) async throws -> Secret {
        try await client.update(secret)
    }
}
