import Certificates
import Foundation
import Kubernetes

/// Writes certificates into Secrets in the format cert-manager and kube-lego users have. A new
/// Secret is created; an existing one is changed by a merge patch of exactly the keys certctl
/// owns, with a `resourceVersion` precondition: nothing someone else put on it is removed, and a
/// conflict re-reads and re-applies instead of overwriting blindly.
enum SecretWriter {
    static let managedByLabel = "app.kubernetes.io/managed-by"
    static let maximumAttempts = 5

    /// What one attempt writes.
    enum Write {
        case create(Secret)
        case patch(SecretPatch)
    }

    /// The Secret for a certificate whose Secret does not exist yet.
    static func makeSecret(
        for desired: DesiredCertificate,
        chain: CertificateChain,
        key: PrivateKey,
        record: RenewalRecord
    ) throws -> Secret {
        let metadata = ObjectMeta(
            name: desired.secretName,
            namespace: desired.namespace,
            labels: [managedByLabel: "certctl"],
            annotations: annotations(for: desired, chain: chain, record: record, existing: [:])
        )
        return Secret(
            metadata: metadata, type: Secret.tlsType,
            data: [
                "tls.crt": Data(try chain.pemRepresentation().utf8), "tls.key": try keyData(key, for: desired),
            ]
        )
    }

    /// `tls.key` in the encoding the Ingress asks (`cert-manager.io/private-key-encoding`).
    static func keyData(_ key: PrivateKey, for desired: DesiredCertificate) throws -> Data {
        switch desired.settings.keyEncoding {
        case .pkcs1: Data(try key.pkcs1PEMRepresentation().utf8)
        case .pkcs8: Data(try key.pkcs8PEMRepresentation().utf8)
        }
    }

    /// cert-manager's annotations and certctl's record, over what `existing` has.
    static func annotations(
        for desired: DesiredCertificate, chain: CertificateChain, record: RenewalRecord, existing: [String: String]
    ) -> [String: String] {
        var annotations = existing
        let summary = CertificateSummary(chain.leaf)
        annotations["cert-manager.io/alt-names"] = summary.dnsNames.joined(separator: ",")
        annotations["cert-manager.io/ip-sans"] =
            summary.ipAddresses.isEmpty ? nil : summary.ipAddresses.joined(separator: ",")
        annotations["cert-manager.io/common-name"] = summary.subjectCommonName ?? desired.hosts.first
        annotations["cert-manager.io/issuer-name"] = desired.issuer
        annotations["cert-manager.io/issuer-kind"] = desired.issuerKind
        annotations["cert-manager.io/issuer-group"] = "cert-manager.io"
        record.apply(to: &annotations)
        return annotations
    }

    /// The change that puts a new certificate into `existing`: its two keys, cert-manager's
    /// annotations, certctl's record and label; an empty `ca.crt` is removed (it makes some
    /// ingress controllers, traefik among them, serve their default certificate).
    static func certificatePatch(
        for desired: DesiredCertificate,
        chain: CertificateChain,
        key: PrivateKey,
        record: RenewalRecord,
        existing: Secret
    ) throws -> SecretPatch {
        var patch = SecretPatch(resourceVersion: existing.metadata.resourceVersion)
        if existing.metadata.labels?[managedByLabel] != "certctl" { patch.labels[managedByLabel] = "certctl" }
        let old = existing.metadata.annotations ?? [:]
        patch.annotations = SecretPatch.delta(
            from: old, to: annotations(for: desired, chain: chain, record: record, existing: old))
        patch.data["tls.crt"] = Data(try chain.pemRepresentation().utf8)
        patch.data["tls.key"] = try keyData(key, for: desired)
        if let ca = existing.data?["ca.crt"], ca.isEmpty { patch.data["ca.crt"] = .some(nil) }
        return patch
    }

    /// Stores a new certificate: creates the Secret, or patches the one read, re-reading after a
    /// conflict. Refuses a Secret of another type, an immutable one and one being deleted: each
    /// is reported with what to do, never fought with.
    @discardableResult
    static func store(
        _ desired: DesiredCertificate,
        chain: CertificateChain,
        key: PrivateKey,
        record: RenewalRecord,
        in store: any ClusterStore
    ) async throws -> Secret {
        try await retryingConflicts(desired, in: store) { existing in
            guard let existing else {
                return .create(try makeSecret(for: desired, chain: chain, key: key, record: record))
            }
            try checkWritable(existing, desired)
            return .patch(
                try certificatePatch(for: desired, chain: chain, key: key, record: record, existing: existing))
        }
    }

    static func checkWritable(_ existing: Secret, _ desired: DesiredCertificate) throws {
        if let block = SecretBlock(existing) {
            throw CertctlError(.secretBlocked, object: "Secret \(desired.id)", block.message)
        }
    }

    /// What a record is made from, which a write of it expects to find: a record never lands
    /// over one another run wrote since (a stale failure over a fresh certificate's record).
    struct RecordBasis: Sendable {
        /// The Secret's record as read (nil: there was no Secret then).
        var expected: RenewalRecord?

        /// The Secret's record as read (nil: there was no Secret then).
        static func read(_ record: RenewalRecord?) -> RecordBasis {
            RecordBasis(expected: record)
        }

        /// The record `entry` was read with.
        init(_ entry: Inventory.Entry) {
            expected = entry.current?.record
        }

        private init(expected: RenewalRecord?) {
            self.expected = expected
        }

        func check(_ existing: Secret?, _ desired: DesiredCertificate) throws {
            let found = existing.map { RenewalRecord(annotations: $0.metadata.annotations ?? [:]) }
            guard found != expected else { return }
            throw CertctlError(
                .superseded, object: "Secret \(desired.id)",
                "was \(expected == nil ? "created" : "recorded") by another run since this one read it; that record is kept"
            )
        }
    }

    /// Stores only certctl's record on an existing Secret (a failure, a back-off), leaving its
    /// certificate untouched, when the Secret still holds the record of `basis`. Returns nil
    /// when there is no Secret to record on.
    @discardableResult
    static func storeRecord(
        _ record: RenewalRecord, for desired: DesiredCertificate, over basis: RecordBasis, in store: any ClusterStore
    ) async throws -> Secret? {
        guard let found = try await store.secret(namespace: desired.namespace, name: desired.secretName) else {
            return nil
        }
        try basis.check(found, desired)
        return try await retryingConflicts(desired, in: store) { existing in
            guard let existing else {
                throw CertctlError(
                    .io, object: "Secret \(desired.id)", "disappeared while certctl was recording its state")
            }
            // Checked again after a conflict: the write that made it may have been another run's record.
            try basis.check(existing, desired)
            let old = existing.metadata.annotations ?? [:]
            var new = old
            record.apply(to: &new)
            var patch = SecretPatch(resourceVersion: existing.metadata.resourceVersion)
            patch.annotations = SecretPatch.delta(from: old, to: new)
            return .patch(patch)
        }
    }

    /// Stores the record on the Secret, or, while there is none, as the pending record; returns
    /// the Secret as stored, nil when the record went to the pending record.
    @discardableResult
    static func storeRecordOrPending(
        _ record: RenewalRecord, for desired: DesiredCertificate, over basis: RecordBasis, in store: any ClusterStore
    ) async throws -> Secret? {
        if let stored = try await storeRecord(record, for: desired, over: basis, in: store) { return stored }
        var annotations: [String: String] = [:]
        record.apply(to: &annotations)
        try await store.savePendingRecord(annotations, namespace: desired.namespace, secretName: desired.secretName)
        return nil
    }

    /// Read, change, write; on 409 read again and re-apply the change.
    private static func retryingConflicts(
        _ desired: DesiredCertificate,
        in store: any ClusterStore,
        change: (Secret?) throws -> Write
    ) async throws -> Secret {
        var attempt = 0
        while true {
            attempt += 1
            let existing = try await store.secret(namespace: desired.namespace, name: desired.secretName)
            do {
                switch try change(existing) {
                case .create(let secret):
                    return try await store.create(secret)
                case .patch(let patch):
                    guard let existing else { continue }
                    if patch.isEmpty { return existing }
                    return try await store.patch(patch, namespace: desired.namespace, name: desired.secretName)
                }
            } catch let error as KubernetesError
                where (error.isConflict || error.isAlreadyExists || error.isNotFound) && attempt < maximumAttempts
            {
                continue
            }
        }
    }
}
