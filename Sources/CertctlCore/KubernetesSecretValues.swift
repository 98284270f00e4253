public import Kubernetes

/// Secret values (EAB MAC keys, SMTP passwords) read from Secrets in certctl's namespace, or a
/// namespaced `Issuer`'s own.
public struct KubernetesSecretValues: SecretValueSource {
    public let client: KubernetesClient
    public let namespace: String

    public init(client: KubernetesClient, namespace: String) {
        self.client = client
        self.namespace = namespace
    }

    public func value(of reference: Issuer.SecretKeyReference) async throws -> [UInt8] {
        // A namespaced Issuer's references name its own namespace; no other is read for it.
        let namespace = reference.namespace ?? namespace
        let secret = try await client.get(Secret.self, namespace: namespace, name: reference.name)
        guard let value = secret.data?[reference.key] else {
            throw CertctlError(
                .invalidIssuer, object: "Secret \(namespace)/\(reference.name)", "has no key \"\(reference.key)\"")
        }
        return Array(value)
    }
}
