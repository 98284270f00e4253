import ACME
import Certificates
import Foundation
import Kubernetes
import Logging

/// The store stage: the one place a run writes a certificate, its record (or, before the
/// Secret exists, its pending record), the failure that holds the next attempt back, and the
/// orders kept beside the accounts. It
/// takes what ``Issuance`` returned and returns what it wrote: the certificate's report, and its
/// entry as it is now (the report stage reads nothing again).
struct CertificateStorage: Sendable {
    var store: any ClusterStore
    var orders: (any OrderStore)?
    var issuers: [IssuerKey: Issuer]
    var warnings: RunWarnings
    var logger: Logger
    var now: @Sendable () -> Date

    func store(_ entry: Inventory.Entry, _ action: PlannedAction, _ result: IssuanceResult) async
        -> (CertificateReport, Inventory.Entry)
    {
        switch result {
        case .deferred:
            return (CertificateReport(entry, action, .deferred), entry)
        case .limited(let deferral):
            var held = action
            held.kind = .limited(deferral)
            var report = CertificateReport(entry, held, .deferred)
            report.nextAttempt = deferral.until
            return (report, entry)
        case .failed(let failure):
            if failure.voidsKeptOrder, let issuer = failure.issuer.flatMap({ issuers[IssuerKey(parsing: $0)] }) {
                await forget(entry.desired.id, issuer: issuer)
            }
            return await recordFailure(entry, action, failure)
        case .issued(let value):
            do {
                return try await storeIssued(entry, action, value)
            } catch let error as KubernetesError where error.code == .writeRefused {
                // The lock was lost: the kept order stays for the next run, which stores it.
                logger.notice("not stored", metadata: ["secret": "\(entry.desired.id)", "error": "\(error)"])
                return (CertificateReport(entry, action, .deferred), entry)
            } catch {
                // Not stored: a kept order stays, so that the next run stores its certificate.
                return await recordFailure(entry, action, CertificateFailure(error))
            }
        }
    }

    /// The Secret with the new certificate and its record; the pending record and the kept
    /// order, void now, removed.
    private func storeIssued(_ entry: Inventory.Entry, _ action: PlannedAction, _ value: IssuedValue) async throws
        -> (CertificateReport, Inventory.Entry)
    {
        let desired = entry.desired
        let issued = value.certificate
        let summary = CertificateSummary(issued.chain.leaf)
        var generator = SystemRandomNumberGenerator()
        var record = RecordPolicy.afterIssuance(
            previous: entry.record, issuer: value.issuer.name, account: value.account, profile: issued.profile,
            orderURL: issued.orderURL, serial: summary.serialHex, notBefore: summary.notBefore,
            notAfter: summary.notAfter, renewalInfo: value.renewalInfo,
            fallback: value.fallback.map { ($0.from, $0.reason) }, now: now(), random: &generator)
        // A first renewalInfo fetch that failed is asked again at the next run.
        if value.renewalInfoFailed { record.ariNextCheck = now() }
        record.dnsPersistUntil = value.persistUntil
        // cert-manager's annotations name the issuer that issued it (a fallback's, then).
        var issuedBy = desired
        issuedBy.issuer = value.issuer.name
        issuedBy.issuerKind = value.issuer.namespace == nil ? "ClusterIssuer" : "Issuer"
        let secret = try await SecretWriter.store(
            issuedBy, chain: issued.chain, key: value.key, record: record, in: store)
        if entry.pending != nil {
            do {
                try await store.savePendingRecord(nil, namespace: desired.namespace, secretName: desired.secretName)
            } catch {
                warnings.add(
                    "pending-delete", "cannot remove the pending record of \(desired.id) (it is void now): \(error)",
                    metadata: ["secret": "\(desired.id)"])
            }
        }
        if value.keptOrder { await forget(desired.id, issuer: value.issuer) }
        logger.notice(
            "issued",
            metadata: [
                "secret": "\(desired.id)", "reason": "\(action.reason.rawValue)", "serial": "\(summary.serialHex)",
                "notAfter": "\(RenewalRecord.format(summary.notAfter))",
            ])
        var report = CertificateReport(
            desired: desired, action: action, outcome: .issued, summary: summary, nextAttempt: nil, failureCount: 0)
        report.fallbackIssuer = value.fallback == nil ? nil : value.issuer.name
        return (report, Inventory.Entry(desired: desired, current: CurrentCertificate(secret: secret)))
    }

    /// `record` on the entry's Secret, or its pending record while there is none; the entry as
    /// stored.
    private func storeRecord(_ record: RenewalRecord, of entry: Inventory.Entry) async throws -> Inventory.Entry {
        var stored = entry
        if let secret = try await SecretWriter.storeRecordOrPending(
            record, for: entry.desired, over: .init(entry), in: store)
        {
            stored.current = CurrentCertificate(secret: secret)
        } else {
            stored.pending = record
        }
        return stored
    }

    /// Records a failure on the Secret (never touching its certificate) with its back-off.
    func recordFailure(_ entry: Inventory.Entry, _ action: PlannedAction, _ failure: CertificateFailure) async
        -> (CertificateReport, Inventory.Entry)
    {
        let time = now()
        let record = RecordPolicy.afterFailure(
            entry.record, kind: failure.kind, message: failure.message, retryAfter: failure.retryAfter,
            issuer: failure.issuer, now: time)
        // The back-off holds only if it is stored: a run never claims a next attempt it did not keep.
        var stored: Date? = record.nextAttempt ?? time
        var now = entry
        do {
            now = try await storeRecord(record, of: entry)
        } catch {
            stored = nil
            warnings.add(
                "record", "cannot store the failure record of \(entry.desired.id), so no back-off holds: \(error)",
                metadata: ["secret": "\(entry.desired.id)"])
        }
        logger.error(
            "renewal failed",
            metadata: [
                "secret": "\(entry.desired.id)", "error": "\(failure.message)", "kind": "\(failure.kind.rawValue)",
                "nextAttempt": "\(stored.map(RenewalRecord.format) ?? "not stored: the next run tries again")",
            ]
        )
        let report = CertificateReport(
            desired: entry.desired, action: action,
            outcome: .failed(failure, stillValid: entry.current?.isValid(at: time) ?? false),
            summary: entry.current?.isUsable == true ? entry.current?.summary : nil, nextAttempt: stored,
            failureCount: record.failureCount)
        return (report, now)
    }
}

/// What the issue stage may write, through the store stage: the order kept beside the account
/// before it is finalized, and a kept order found void.
protocol KeptOrderWriter: Sendable {
    /// False when orders are not kept at all (nothing to keep them in).
    var keepsOrders: Bool { get }
    func keep(_ order: OrderInFlight, for issuer: Issuer) async throws
    func forget(_ certificate: String, issuer: Issuer) async
}

extension CertificateStorage: KeptOrderWriter {
    var keepsOrders: Bool { orders != nil }

    func keep(_ order: OrderInFlight, for issuer: Issuer) async throws {
        try await orders?.save(order, for: issuer)
    }

    /// Forgets the kept order of `certificate`; a failure is a warning (the next run finds the
    /// certificate stored and forgets it then).
    func forget(_ certificate: String, issuer: Issuer) async {
        guard let orders else { return }
        do {
            try await orders.remove(certificate: certificate, for: issuer)
        } catch {
            warnings.add(
                "order-in-flight", "cannot remove the kept order of \(certificate) (it is void now): \(error)",
                metadata: ["secret": "\(certificate)"])
        }
    }
}

extension CertificateStorage {
    /// Stores the records the ARI re-checks made; returns the entries as stored, by index. A
    /// record that cannot be stored is a warning: the next run asks again.
    func store(_ answers: [Int: RenewalInfoCheck.Answer]) async -> [Int: Inventory.Entry] {
        var stored: [Int: Inventory.Entry] = [:]
        for (index, answer) in answers.sorted(by: { $0.key < $1.key }) {
            var entry = answer.entry
            do {
                if let secret = try await SecretWriter.storeRecord(
                    answer.record, for: entry.desired, over: .init(entry), in: store)
                {
                    entry.current = CurrentCertificate(secret: secret)
                    stored[index] = entry
                }
            } catch {
                warnings.add(
                    "renewal-info-store", "cannot store the renewal window; the next run asks again: \(error)",
                    metadata: ["secret": "\(entry.desired.id)"])
            }
        }
        return stored
    }
}

extension CertificateStorage {
    /// `certctl renew`'s mark on one certificate: a renewal asked for and a failure's back-off
    /// cleared (not a rate limit's hold, which is the CA's word). A certificate with neither a
    /// Secret nor a record is due anyway and gets none.
    func mark(_ entry: Inventory.Entry, at time: Date, revoked: (serial: String, reason: RevocationReason)? = nil)
        async -> (RenewalMark, Inventory.Entry)
    {
        var (record, cleared, held) = RecordPolicy.renewalRequested(entry.record, now: time)
        if let revoked {
            record = RecordPolicy.revoked(entry.record, serial: revoked.serial, reason: revoked.reason, now: time)
        }
        var mark = RenewalMark(
            certificate: entry.desired.id, hasSecret: entry.current != nil, stored: false, clearedBackOff: cleared,
            failureCount: record.failureCount, rateLimitedUntil: held)
        guard entry.current != nil || entry.pending != nil else { return (mark, entry) }
        var now = entry
        do {
            now = try await storeRecord(record, of: entry)
            mark.stored = true
        } catch {
            mark.notStored = "\(error)"
        }
        return (mark, now)
    }
}

extension CertificateStorage {
    /// `certctl revoke`'s request, recorded on the Secret before the CA is asked: a failure to
    /// record it is the command's failure, and the CA is not asked.
    func askRevocation(_ entry: Inventory.Entry, serial: String, reason: RevocationReason) async throws
        -> Inventory.Entry
    {
        do {
            return try await storeRecord(
                RecordPolicy.revocationAsked(entry.record, serial: serial, reason: reason), of: entry)
        } catch {
            throw CertctlError(
                .io, object: "Secret \(entry.desired.id)",
                "not revoked: the request could not be recorded on it first, so nothing was asked of the CA (\(error)); run certctl revoke again once it can be written"
            )
        }
    }
}

extension CertificateStorage {
    /// Keeps what the report stage announced on each certificate's record, made from the
    /// entry given (as read, or as the store stage returned it).
    func storeNotified(_ records: [(Inventory.Entry, RenewalRecord)]) async {
        for (entry, record) in records {
            do {
                try await SecretWriter.storeRecordOrPending(record, for: entry.desired, over: .init(entry), in: store)
            } catch {
                logger.error(
                    "cannot record the notification",
                    metadata: ["secret": "\(entry.desired.id)", "error": "\(error)"])
            }
        }
    }
}

extension CertificateReport {
    /// The report of a certificate as it was read: not issued now (waiting, deferred, blocked).
    init(_ entry: Inventory.Entry, _ action: PlannedAction, _ outcome: Outcome) {
        self.init(
            desired: entry.desired, action: action, outcome: outcome,
            summary: entry.current?.isUsable == true ? entry.current?.summary : nil,
            nextAttempt: entry.record.nextAttempt, failureCount: entry.record.failureCount)
    }
}
