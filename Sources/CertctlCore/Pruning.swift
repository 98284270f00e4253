import ACME
import Basics
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

    /// What this read could not see, so that no Secret can be proven unused from it: a list
    /// certctl may not read (its notes: Gateways it may not list), an object it could not read
    /// or decode (a manifest that does not parse, an Ingress). Empty when the read is whole.
    public var blindSpots: [String] {
        notes
            + problems.filter { $0.kind == .unreadable && !$0.object.hasPrefix("Secret ") }.map {
                "\($0.object): \($0.reason)"
            }
    }

    /// The wanted Secret holding each serial (lowercase hex): a certificate still served.
    public var servedSerials: [String: String] {
        var serials: [String: String] = [:]
        for entry in entries {
            if let serial = entry.current?.summary?.serialHex { serials[serial] = entry.desired.id }
        }
        return serials
    }
}

/// `certctl prune --delete [--revoke]` (README "What nobody asks for any more"): each orphaned
/// Secret, read again, deleted only when it is proven unused: it still carries certctl's
/// label, cert-manager's Certificate does not name it, and no Gateway or ListenerSet of another
/// namespace uses it through a ReferenceGrant of its own; deleted as read (its `uid` and
/// `resourceVersion` the preconditions). With `revoke` its certificate is revoked first (reason
/// cessationOfOperation), only when the Secret holds its key and no wanted Secret serves the
/// same serial; a Secret whose certificate cannot be revoked is kept. Run under the run's lock,
/// from an inventory read under it whose ``Inventory/blindSpots`` are none.
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

    /// One orphan of `inventory` (read under the lock); `held` throws once the lock is lost,
    /// asked before the CA is.
    public func prune(
        _ id: String, revoke: Bool, in inventory: Inventory, held: () throws -> Void = {}, now: Date = Date()
    ) async -> Outcome {
        let parts = id.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return .kept("not a namespace/name") }
        do {
            guard let secret = try await store.secret(namespace: parts[0], name: parts[1]) else {
                return .deleted(revoked: false)
            }
            guard secret.metadata.labels?[SecretWriter.managedByLabel] == "certctl" else {
                return .kept("it no longer carries app.kubernetes.io/managed-by: certctl; certctl leaves it alone")
            }
            if let certificate = secret.metadata.annotations?[Inventory.certManagerCertificate] {
                return .kept(
                    "cert-manager's Certificate \(Bounded.quoted(certificate)) names it (cert-manager.io/certificate-name); cert-manager removes it with that Certificate"
                )
            }
            if let user = try await grantedUse(namespace: parts[0], name: parts[1]) { return .kept(user) }
            var revoked = false
            let current = CurrentCertificate(secret: secret)
            if revoke, let summary = current.summary, summary.notAfter > now {
                if !current.keyMatches {
                    // A copy of someone else's certificate (a label is easy to write): revoking it
                    // would take down the Secret that holds its key.
                    return .kept(
                        "its tls.key does not belong to its certificate; certctl revokes only a certificate whose key the Secret holds: delete it without --revoke"
                    )
                }
                if let holder = inventory.servedSerials[summary.serialHex], holder != id {
                    return .kept(
                        "its certificate (serial \(summary.serialHex)) is also in Secret \(holder), which is in use: revoking it would take that one down; delete this one without --revoke"
                    )
                }
                // Beyond the command's scope too: a copy in another namespace may be served.
                if let holder = try await otherHolder(of: summary.serialHex, besides: id) {
                    return .kept(
                        "its certificate (serial \(summary.serialHex)) is also in \(holder): revoking it could take that one down; delete this one without --revoke"
                    )
                }
                let record = RenewalRecord(annotations: secret.metadata.annotations ?? [:])
                guard let key = RenewalRecord.issuerKey(of: secret, in: parts[0]), let issuer = issuers[key] else {
                    return .kept(
                        "its certificate cannot be revoked: the issuer that made it (\(record.issuer ?? "not recorded")) is not defined; delete it without --revoke, or define the issuer"
                    )
                }
                try held()
                let revoker = Revoker(
                    reader: store, accounts: place.accounts, secrets: place.secrets, transport: transport,
                    logger: logger, requestTimeout: .seconds(30))
                _ = try await revoker.revoke(
                    secret, id: id, serial: nil, issuer: issuer, reason: .cessationOfOperation)
                revoked = true
            }
            do {
                try await store.deleteSecret(secret)
            } catch {
                let why =
                    (error as? KubernetesError)?.isConflict == true
                    ? "it changed since it was read (or is another Secret of that name now)"
                    : "it was not deleted: \(error)"
                guard revoked else { return .kept("\(why): run certctl prune again") }
                // Revoked and still there: said on it, so that no run serves it as it is.
                let recorded = await recordRevoked(secret, serial: current.summary?.serialHex ?? "", now: now)
                return .kept(
                    "its certificate was revoked, but \(why)\(recorded ? "; the revocation is recorded on it, so a run that manages it replaces it" : ", and the revocation could not be recorded on it"): delete it by hand"
                )
            }
            return .deleted(revoked: revoked)
        } catch {
            return .kept("\(error)")
        }
    }

    /// Another TLS Secret anywhere in the cluster holding the certificate `serial`; nil when none.
    /// A list it may not make is an error: the revocation is not proven harmless.
    func otherHolder(of serial: String, besides id: String) async throws -> String? {
        let (holders, _) = try await store.tlsSecrets(in: .all) { secret -> String? in
            let name = "\(secret.metadata.namespace ?? "default")/\(secret.metadata.name ?? "")"
            guard name != id, let crt = secret.data?["tls.crt"],
                let chain = try? CertificateChain(pemBytes: crt, issuers: .shared),
                CertificateSummary(chain.leaf).serialHex == serial
            else { return nil }
            return "Secret \(name)"
        }
        return holders.first
    }

    /// certctl's record of a revocation on `secret`, best effort; whether it was written.
    private func recordRevoked(_ secret: Secret, serial: String, now: Date) async -> Bool {
        let old = secret.metadata.annotations ?? [:]
        var new = old
        RecordPolicy.revoked(
            RenewalRecord(annotations: old), serial: serial, reason: .cessationOfOperation, now: now
        ).apply(to: &new)
        var patch = SecretPatch(resourceVersion: nil)
        patch.annotations = SecretPatch.delta(from: old, to: new)
        do {
            _ = try await store.patch(
                patch, namespace: secret.metadata.namespace ?? "default", name: secret.metadata.name ?? "")
            return true
        } catch {
            return false
        }
    }

    /// Who uses Secret `namespace/name` from another namespace, through a ReferenceGrant of its
    /// namespace that lets Gateways or ListenerSets there name it (perhaps outside the command's
    /// scope): the reason to keep it, also when those cannot be read; nil when nobody does.
    func grantedUse(namespace: String, name: String) async throws -> String? {
        let (here, notes) = try await store.gatewayObjects(in: .only([namespace]))
        if let note = notes.first { return "certctl cannot tell whether a Gateway uses it: \(note)" }
        for grant in here.referenceGrants {
            let grantName = "ReferenceGrant \(namespace)/\(grant.metadata.name ?? "")"
            guard
                grant.spec?.to.contains(where: { $0.group.isEmpty && $0.kind == "Secret" && ($0.name ?? name) == name })
                    == true
            else { continue }
            for from in grant.spec?.from ?? []
            where from.group == GatewayAPI.group && ["Gateway", "ListenerSet"].contains(from.kind) {
                let (there, notes) = try await store.gatewayObjects(in: .only([from.namespace]))
                if let note = notes.first {
                    return
                        "\(grantName) lets \(from.kind)s of namespace \(from.namespace) use it, and certctl cannot read them: \(note)"
                }
                let listeners =
                    there.gateways.map { ("Gateway", $0.metadata.name ?? "", $0.spec?.listeners ?? []) }
                    + there.listenerSets.map { ("ListenerSet", $0.metadata.name ?? "", $0.spec?.listeners ?? []) }
                for (kind, owner, list) in listeners where kind == from.kind {
                    let names = list.flatMap { $0.tls?.certificateRefs ?? [] }.contains {
                        ($0.namespace ?? from.namespace) == namespace && $0.name == name
                            && ($0.kind ?? "Secret") == "Secret" && ($0.group ?? "").isEmpty
                    }
                    if names { return "\(kind) \(from.namespace)/\(owner) uses it through \(grantName)" }
                }
            }
        }
        return nil
    }
}
