import ACME
import Foundation
public import Kubernetes

/// ACME accounts in the cluster, where cert-manager keeps them: the Secret named by
/// `privateKeySecretRef`, key `tls.key`, in certctl's namespace (a namespaced `Issuer`'s in its
/// own namespace). The account URL rides along in
/// an annotation, so a run makes no account request once it is known; `next.key` holds the key
/// a rollover is moving the account to, until the CA confirmed.
public struct SecretAccountStore: AccountStore {
    public let client: KubernetesClient
    public let namespace: String
    static let urlAnnotation = "certctl.io/account-url"
    static let serverAnnotation = "certctl.io/account-server"
    static let nextKey = "next.key"

    public init(client: KubernetesClient, namespace: String) {
        self.client = client
        self.namespace = namespace
    }

    /// Where `issuer`'s account lives: its own namespace for an `Issuer`, certctl's otherwise.
    func place(_ issuer: Issuer) -> String { issuer.namespace ?? namespace }

    public func load(for issuer: Issuer) async throws -> StoredAccount? {
        let namespace = place(issuer)
        let secret: Secret
        do {
            secret = try await client.get(Secret.self, namespace: namespace, name: issuer.accountKeySecret)
        } catch let error as KubernetesError where error.isNotFound {
            return nil
        }
        guard let pem = secret.data?["tls.key"] else {
            throw CertctlError(
                .io, object: "Secret \(namespace)/\(issuer.accountKeySecret)",
                "has no tls.key; delete it to register a new account")
        }
        let key: AccountKey
        do {
            key = try AccountKey(pem: String(decoding: pem, as: UTF8.self))
        } catch {
            throw CertctlError(
                .io, object: "Secret \(namespace)/\(issuer.accountKeySecret)",
                "holds an unreadable account key (\(error)); restore it or delete the Secret")
        }
        let annotations = secret.metadata.annotations ?? [:]
        let next = secret.data?[Self.nextKey].flatMap { try? AccountKey(pem: String(decoding: $0, as: UTF8.self)) }
        return StoredAccount(
            key: key, url: annotations[Self.urlAnnotation], server: annotations[Self.serverAnnotation] ?? issuer.server,
            nextKey: next)
    }

    public func save(_ account: StoredAccount, for issuer: Issuer) async throws {
        let namespace = place(issuer)
        var annotations = [Self.serverAnnotation: account.server]
        annotations[Self.urlAnnotation] = account.url
        let data: [String: Data?] = [
            "tls.key": Data(account.key.pemRepresentation.utf8),
            Self.nextKey: account.nextKey.map { Data($0.pemRepresentation.utf8) },
        ]
        do {
            // Only the key and certctl's two annotations change; the rest of the Secret stays
            // (the orders in flight among it, which concurrent orders change: a 409 reads again).
            var attempt = 0
            while true {
                attempt += 1
                let secret = try await client.get(Secret.self, namespace: namespace, name: issuer.accountKeySecret)
                var patch = SecretPatch(resourceVersion: secret.metadata.resourceVersion)
                patch.data = data
                patch.annotations = annotations.mapValues { .some($0) }
                do {
                    _ = try await client.mergePatch(
                        Secret.self, namespace: namespace, name: issuer.accountKeySecret, patch: patch.mergePatch)
                    return
                } catch let error as KubernetesError where error.isConflict && attempt < SecretWriter.maximumAttempts {
                    continue
                }
            }
        } catch let error as KubernetesError where error.isNotFound {
            let secret = Secret(
                metadata: ObjectMeta(
                    name: issuer.accountKeySecret,
                    namespace: namespace,
                    labels: ["app.kubernetes.io/managed-by": "certctl"],
                    annotations: annotations
                ),
                type: "Opaque",
                data: data.compactMapValues { $0 }
            )
            _ = try await client.create(secret)
        }
    }
}
