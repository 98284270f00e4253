public import CertctlCore
import Foundation
public import Kubernetes

extension ClusterStore {
    /// For tests that change a Secret as someone else would: writes `secret`'s labels,
    /// annotations and data over the stored ones (keys it lacks are removed) as one patch, with
    /// its resourceVersion as the precondition.
    @discardableResult
    public func update(_ secret: Secret) async throws -> Secret {
        let namespace = secret.metadata.namespace ?? "default"
        let name = secret.metadata.name ?? ""
        let stored = try await self.secret(namespace: namespace, name: name)
        var patch = SecretPatch(resourceVersion: secret.metadata.resourceVersion)
        patch.labels = SecretPatch.delta(from: stored?.metadata.labels ?? [:], to: secret.metadata.labels ?? [:])
        patch.annotations = SecretPatch.delta(
            from: stored?.metadata.annotations ?? [:], to: secret.metadata.annotations ?? [:])
        var data: [String: Data?] = [:]
        for (key, value) in secret.data ?? [:] where stored?.data?[key] != value { data[key] = .some(value) }
        for key in (stored?.data ?? [:]).keys where secret.data?[key] == nil { data[key] = .some(nil) }
        patch.data = data
        return try await self.patch(patch, namespace: namespace, name: name)
    }
}
