public import Certificates
import Foundation
public import Kubernetes

/// Writes certificates into Secrets in the format cert-manager and kube-lego users have, with
/// optimistic concurrency: on a conflict it re-reads and re-applies, never overwrites blindly.
public enum SecretWriter {
    public static let managedByLabel = "app.kubernetes.io/managed-by"
    static let maximumAttempts = 5

    /// The Secret for a new certificate, keeping what others put on `existing` (labels, annotations).
    public static func makeSecret(
        for desired: DesiredCertificate,
        chain: CertificateChain,
        key: PrivateKey,
        record: RenewalRecord,
        existing: Secret?
    ) throws -> Secret {
        var metadata = existing?.metadata ?? ObjectMeta(name: desired.secretName, namespace: desired.namespace)
        var labels = metadata.labels ?? [:]
        labels[managedByLabel] = "certctl"
        metadata.labels = labels
        var annotations = metadata.annotations ?? [:]
        let summary = CertificateSummary(chain.leaf)
        annotations["cert-manager.io/alt-names"] = summary.dnsNames.joined(separator: ",")
        annotations["cert-manager.io/ip-sans"] =
            summary.ipAddresses.isEmpty ? nil : summary.ipAddresses.joined(separator: ",")
        annotations["cert-manager.io/common-name"] = summary.subjectCommonName ?? desired.hosts.first
        annotations["cert-manager.io/issuer-name"] = desired.issuer
        annotations["cert-manager.io/issuer-kind"] = desired.issuerKind
        annotations["cert-manager.io/issuer-group"] = "cert-manager.io"
        record.apply(to: &annotations)
        metadata.annotations = annotations
        var data = existing?.data ?? [:]
        data["tls.crt"] = Data(try chain.pemRepresentation().utf8)
        data["tls.key"] = Data(try key.pemRepresentation().utf8)
        // An empty ca.crt makes some ingress controllers (traefik) serve their default certificate.
        if let ca = data["ca.crt"], ca.isEmpty { data["ca.crt"] = nil }
        return Secret(metadata: metadata, type: Secret.tlsType, data: data)
    }

    /// Stores a new certificate: creates the Secret, or updates the one read, re-reading after a
    /// conflict. Refuses to replace a Secret of another type.
    @discardableResult
    public static func store(
        _ desired: DesiredCertificate,
        chain: CertificateChain,
        key: PrivateKey,
        record: RenewalRecord,
        in store: any ClusterStore
    ) async throws -> Secret {
        try await retryingConflicts(desired, in: store) { existing in
            if let existing, existing.type != Secret.tlsType {
                throw CertctlError(
                    .issuance,
                    object: "Secret \(desired.id)",
                    "is of type \(existing.type ?? "Opaque"), not \(Secret.tlsType); it was left alone: delete it or choose another secretName"
                )
            }
            return try makeSecret(for: desired, chain: chain, key: key, record: record, existing: existing)
        }
    }

    /// Stores only certctl's record on an existing Secret (a failure, a back-off), leaving its
    /// certificate untouched. Returns nil when there is no Secret to record on.
    @discardableResult
    public static func storeRecord(_ record: RenewalRecord, for desired: DesiredCertificate, in store: any ClusterStore)
        async throws -> Secret?
    {
        guard try await store.secret(namespace: desired.namespace, name: desired.secretName) != nil else { return nil }
        return try await retryingConflicts(desired, in: store) { existing in
            guard var secret = existing else {
                throw CertctlError(
                    .io, object: "Secret \(desired.id)", "disappeared while certctl was recording its state")
            }
            var annotations = secret.metadata.annotations ?? [:]
            record.apply(to: &annotations)
            secret.metadata.annotations = annotations
            return secret
        }
    }

    /// Read, change, write; on 409 read again and re-apply the change.
    private static func retryingConflicts(
        _ desired: DesiredCertificate,
        in store: any ClusterStore,
        change: (Secret?) throws -> Secret
    ) async throws -> Secret {
        var attempt = 0
        while true {
            attempt += 1
            let existing = try await store.secret(namespace: desired.namespace, name: desired.secretName)
            let secret = try change(existing)
            do {
                return existing == nil ? try await store.create(secret) : try await store.update(secret)
            } catch let error as KubernetesError
                where (error.isConflict || error.isAlreadyExists) && attempt < maximumAttempts
            {
                continue
            }
        }
    }
}
