import ACME
import Certificates
public import Foundation
import Kubernetes
public import Logging
public import Transport

extension Inventory {
    /// The Secrets (`namespace/name`) certctl made that nothing in scope names any more.
    public var orphans: [String] {
        problems.filter { $0.kind == .orphaned }.map { String($0.object.dropFirst("Secret ".count)) }
    }
}

/// `certctl prune --delete [--revoke]` (README "What nobody asks for any more"): each orphaned
/// Secret, read again, deleted only while it still carries certctl's label; with `revoke` its
/// certificate is revoked first (reason cessationOfOperation), and a Secret whose certificate
/// cannot be revoked is kept. Run under the run's lock.
public struct Pruner: Sendable {
    public let store: any ClusterStore
    public let place: AccountPlace
    public let issuers: [IssuerKey: Issuer]
    public let transport: any HTTPTransport
    public let logger: Logger

    public init(
        store: any ClusterStore, place: AccountPlace, issuers: [IssuerKey: Issuer], transport: any HTTPTransport,
        logger: Logger
    ) {
        self.store = store
        self.place = place
        self.issuers = issuers
        self.transport = transport
        self.logger = logger
    }

    /// What became of one orphan.
    public enum Outcome: Sendable, Equatable {
        case deleted(revoked: Bool)
        /// Kept, and why (not certctl's any more, not revocable).
        case kept(String)
    }

    public func prune(_ id: String, revoke: Bool, now: Date = Date()) async -> Outcome {
        let parts = id.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return .kept("not a namespace/name") }
        do {
            guard let secret = try await store.secret(namespace: parts[0], name: parts[1]) else {
                return .deleted(revoked: false)
            }
            guard secret.metadata.labels?[SecretWriter.managedByLabel] == "certctl" else {
                return .kept("it no longer carries app.kubernetes.io/managed-by: certctl; certctl leaves it alone")
            }
            var revoked = false
            let current = CurrentCertificate(secret: secret)
            if revoke, current.summary != nil, !current.keyMatches {
                // A copy of someone else's certificate (a label is easy to write): revoking it
                // would take down the Secret that holds its key.
                return .kept(
                    "its tls.key does not belong to its certificate; certctl revokes only a certificate whose key the Secret holds: delete it without --revoke"
                )
            }
            if revoke, let summary = current.summary, summary.notAfter > now {
                let record = RenewalRecord(annotations: secret.metadata.annotations ?? [:])
                // An Issuer's certificate lives in the Issuer's namespace (README, "Issuers").
                let kind = secret.metadata.annotations?["cert-manager.io/issuer-kind"]
                let key = record.issuer.map { IssuerKey(name: $0, namespace: kind == "Issuer" ? parts[0] : nil) }
                guard let key, let issuer = issuers[key] else {
                    return .kept(
                        "its certificate cannot be revoked: the issuer that made it (\(record.issuer ?? "not recorded")) is not defined; delete it without --revoke, or define the issuer"
                    )
                }
                let revoker = Revoker(
                    reader: store, accounts: place.accounts, secrets: place.secrets, transport: transport,
                    logger: logger, requestTimeout: .seconds(30))
                _ = try await revoker.revoke(
                    secret, id: id, serial: nil, issuer: issuer, reason: .cessationOfOperation)
                revoked = true
            }
            try await store.deleteSecret(namespace: parts[0], name: parts[1])
            return .deleted(revoked: revoked)
        } catch {
            return .kept("\(error)")
        }
    }
}
