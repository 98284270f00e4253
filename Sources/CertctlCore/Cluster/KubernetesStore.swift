import Basics
public import Kubernetes
import Transport

/// The cluster seam over the API server.
public struct KubernetesStore: ClusterStore {
    public let client: KubernetesClient

    public init(client: KubernetesClient) {
        self.client = client
    }

    public var name: String { client.connection.name }

    public func ingresses(in scope: NamespaceScope) async throws -> (items: [Ingress], problems: [ObjectProblem]) {
        (
            try await list(Ingress.self, scope: scope, fieldSelector: nil, decoding: [Ingress.rulesWithoutPaths: true]),
            []
        )
    }

    /// Gateways, ListenerSets and ReferenceGrants in scope, when the cluster serves the Gateway
    /// API (one discovery request says; a cluster without it costs nothing more). A kind certctl
    /// may not list (a Role without `certctl.gatewayAPI`) is a note naming what to grant.
    public func gatewayObjects(in scope: NamespaceScope) async throws -> (objects: GatewayObjects, notes: [String]) {
        guard try await client.serves(group: GatewayAPI.group) else { return (.none, []) }
        var notes: [String] = []
        func listed<R: KubernetesResource>(_ type: R.Type) async throws -> [R] {
            do {
                return try await list(type, scope: scope, fieldSelector: nil)
            } catch let error as KubernetesError where error.isForbidden {
                if notes.isEmpty {
                    notes.append(
                        "certctl may not list \(R.plural) of \(GatewayAPI.group), so Gateways' certificates are not managed: grant list of gateways, listenersets and referencegrants (the chart's certctl.gatewayAPI: true)"
                    )
                }
                return []
            } catch let error as KubernetesError where error.isNotFound {
                // An older Gateway API without this kind (ListenerSet before v1.5). Without
                // ReferenceGrant at v1 (older ones serve it at v1beta1 only) certctl cannot tell
                // which Secrets other namespaces' Gateways may use: said, so that prune refuses.
                if R.self == ReferenceGrant.self {
                    notes.append(
                        "the cluster serves no ReferenceGrant at \(GatewayAPI.group)/v1 (an older Gateway API serves it at v1beta1 only): certctl cannot tell which Secrets Gateways of other namespaces may use"
                    )
                }
                return []
            }
        }
        var objects = GatewayObjects(
            gateways: try await listed(Gateway.self), listenerSets: try await listed(ListenerSet.self),
            referenceGrants: try await listed(ReferenceGrant.self))
        // Labels only where a Gateway allows ListenerSets by a namespace selector; one it may not
        // read is left out (not selected), said by the ListenerSet's problem.
        for namespace in objects.namespacesToLabel.sorted() {
            do {
                let object = try await client.get(Namespace.self, namespace: nil, name: namespace)
                objects.namespaceLabels[namespace] = object.metadata.labels ?? [:]
            } catch let error as KubernetesError where error.isForbidden || error.isNotFound {
                continue
            }
        }
        return (objects, notes)
    }

    public func tlsSecrets<T: Sendable>(
        in scope: NamespaceScope, keeping: @Sendable (Secret) throws -> T?
    ) async throws -> (items: [T], problems: [ObjectProblem]) {
        let namespaces: [String?]
        switch scope {
        case .all: namespaces = [nil]
        case .only(let only): namespaces = only.map { $0 }
        }
        var kept: [T] = []
        for namespace in namespaces {
            let mark = kept.count
            try await client.forEachPage(Secret.self, namespace: namespace, fieldSelector: "type=\(Secret.tlsType)") {
                page, fromStart in
                if fromStart { kept.removeSubrange(mark...) }  // a restarted list (410 Expired)
                kept += try await concurrentCompactMap(page, keeping)
            }
        }
        return (kept, [])
    }

    private func list<R: KubernetesResource>(
        _ type: R.Type, scope: NamespaceScope, fieldSelector: String?,
        decoding userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) async throws -> [R] {
        switch scope {
        case .all:
            return try await client.list(type, namespace: nil, fieldSelector: fieldSelector, decoding: userInfo)
        case .only(let namespaces):
            var items: [R] = []
            for namespace in namespaces {
                items += try await client.list(
                    type, namespace: namespace, fieldSelector: fieldSelector, decoding: userInfo)
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

    public func deleteSecret(_ secret: Secret) async throws {
        do {
            try await client.delete(
                Secret.self, namespace: secret.metadata.namespace, name: secret.metadata.name ?? "",
                preconditions: .init(uid: secret.metadata.uid, resourceVersion: secret.metadata.resourceVersion))
        } catch let error as KubernetesError where error.isNotFound {}
    }

    public func patch(_ patch: SecretPatch, namespace: String, name: String) async throws -> Secret {
        try await client.mergePatch(Secret.self, namespace: namespace, name: name, patch: patch.mergePatch)
    }

    /// A ConfigMap `certctl-pending-<secret>` beside where the Secret will be; for a Secret name
    /// over 237 characters, cut with a hash (a ConfigMap's name has at most 253).
    static func pendingName(_ secretName: String) -> String { ObjectName.bounded("certctl-pending-", secretName) }

    public func pendingRecord(namespace: String, secretName: String) async throws -> [String: String]? {
        do {
            return try await client.get(ConfigMap.self, namespace: namespace, name: Self.pendingName(secretName))
                .metadata.annotations ?? [:]
        } catch let error as KubernetesError where error.isNotFound {
            return nil
        }
    }

    public func savePendingRecord(_ annotations: [String: String]?, namespace: String, secretName: String) async throws
    {
        let name = Self.pendingName(secretName)
        guard let annotations else {
            do {
                try await client.delete(ConfigMap.self, namespace: namespace, name: name)
            } catch let error as KubernetesError where error.isNotFound {}
            return
        }
        let map = ConfigMap(
            metadata: ObjectMeta(
                name: name, namespace: namespace, labels: [SecretWriter.managedByLabel: "certctl"],
                annotations: annotations),
            data: nil
        )
        var attempt = 0
        while true {
            attempt += 1
            do {
                _ = try await client.create(map)
                return
            } catch let error as KubernetesError where error.isAlreadyExists {
                // Written by an earlier run: change the record's keys, keep the rest.
                let existing = try await client.get(ConfigMap.self, namespace: namespace, name: name)
                let delta = SecretPatch.delta(
                    from: (existing.metadata.annotations ?? [:]).filter { $0.key.hasPrefix(RenewalRecord.prefix) },
                    to: annotations)
                let patch: JSONValue = .object([
                    "metadata": .object([
                        "resourceVersion": .string(existing.metadata.resourceVersion ?? ""),
                        "annotations": .object(delta.mapValues { $0.map(JSONValue.string) ?? .null }),
                    ])
                ])
                do {
                    _ = try await client.mergePatch(ConfigMap.self, namespace: namespace, name: name, patch: patch)
                    return
                } catch let error as KubernetesError
                    where (error.isConflict || error.isNotFound) && attempt < SecretWriter.maximumAttempts
                {
                    continue
                }
            }
        }
    }
}
