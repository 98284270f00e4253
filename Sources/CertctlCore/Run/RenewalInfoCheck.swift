import ACME
import Certificates
import Foundation
import Logging
import Transport

/// ARI re-checks (RFC 9773 §4.2): which certificates to ask the CA about, and the asking. It
/// reads the cluster (each Secret again, under the run's lock) and returns the records the
/// answers make; ``CertificateStorage`` stores them.
///
/// A valid certificate that is not due is checked when its record's next check has come, and
/// when the record is not this certificate's at all: a Secret adopted from cert-manager or
/// kube-lego (or replaced by hand). Otherwise those never learnt of an early-renewal window the
/// CA opens during an incident or a mass revocation. A certificate whose first renewalInfo
/// fetch failed is recorded with its next check due (see ``CertificateRun``'s issuance).
struct RenewalInfoCheck: Sendable {
    var reader: any ClusterReader
    var transport: any HTTPTransport
    var logger: Logger
    var warnings: RunWarnings
    var observer: @Sendable (ACMERequestRecord) -> Void
    var requestTimeout: Duration

    /// The certificate ID and issuer to ask renewalInfo about, when `entry` is valid, not due
    /// (`action` waits), and its record is another certificate's (adopted) or its next check has
    /// come. Never after expiry. A CA without ARI leaves a record of this certificate with no
    /// next check: nothing to ask.
    static func target(_ entry: Inventory.Entry, action: PlannedAction, issuers: [IssuerKey: Issuer], now: Date)
        -> (certificateID: String, issuer: Issuer)?
    {
        guard let issuer = candidate(entry, action: action, issuers: issuers, now: now),
            let certificateID = entry.current?.summary?.ariCertificateID
        else { return nil }
        return (certificateID, issuer)
    }

    /// The issuer to ask when `entry` is a target, without making its certificate ID (two
    /// base64url encodings): ten thousand adopted Secrets of a CA that is down, or offers no
    /// ARI, cost no encoding at all. A certificate without an authority key identifier has no ID:
    /// never a candidate.
    static func candidate(_ entry: Inventory.Entry, action: PlannedAction, issuers: [IssuerKey: Issuer], now: Date)
        -> Issuer?
    {
        guard case .wait = action.kind, let current = entry.current, current.isValid(at: now),
            let summary = current.summary, summary.authorityKeyIdentifier != nil,
            let issuer = issuers[entry.desired.issuerKey]
        else { return nil }
        let record = current.record
        if record.serial == summary.serialHex, (record.ariNextCheck ?? .distantFuture) > now { return nil }
        return issuer
    }

    /// A client that asks renewalInfo (unauthenticated, so a throwaway key) and does not retry a
    /// CA it cannot reach: the next check of that CA's certificates is put off instead.
    private func client(for issuer: Issuer) throws -> ACMEClient {
        ACMEClient(
            configuration: .init(
                directoryURL: issuer.server, tls: issuer.tls, requestTimeout: requestTimeout, transportRetries: 0),
            accountKey: try AccountKey(generating: .ecdsaP256), transport: transport, logger: logger,
            observer: observer)
    }

    /// A record to store: the entry as read again, and its record after the CA's answer.
    struct Answer: Sendable {
        var entry: Inventory.Entry
        var record: RenewalRecord
    }

    /// Asks for the window of every entry that is a ``target(_:action:issuers:now:)``, each read
    /// again first (under the lock, another run may have renewed it): a moved window gets a new
    /// renewal time, recorded with the next check; a CA without ARI leaves the record this
    /// certificate's with no next check; a failed fetch is asked again after
    /// ``RecordPolicy/renewalInfoRecheck``, and a CA that cannot be reached is not asked again
    /// in this run (its other certificates are put off alike). Returns the entries as read again
    /// and the records to store, by the entry's index, and which entries were read again.
    /// `planned`: each entry's action as planned from the read (an entry read again is planned
    /// anew by `plan`).
    func refresh(
        _ entries: [Inventory.Entry],
        planned: [PlannedAction],
        issuers: [IssuerKey: Issuer],
        plan: (Inventory.Entry) -> PlannedAction,
        now time: Date
    ) async -> (entries: [Inventory.Entry], answers: [Int: Answer], reread: Set<Int>) {
        var refreshed = entries
        var reread: Set<Int> = []
        var answers: [Int: Answer] = [:]
        var clients: [IssuerKey: ACMEClient] = [:]
        var unreachable: Set<IssuerKey> = []
        // Issuers whose CA offers no ARI: their certificates are not read again, asked or
        // written (an adopted Secret of such a CA costs the run one directory request, no write).
        var withoutARI: Set<IssuerKey> = []
        for (index, read) in entries.enumerated() {
            guard let issuer = Self.candidate(read, action: planned[index], issuers: issuers, now: time) else {
                continue
            }
            if clients[issuer.key] == nil, !unreachable.contains(issuer.key), !withoutARI.contains(issuer.key) {
                do {
                    let client = try client(for: issuer)
                    if try await client.directory().renewalInfo == nil { withoutARI.insert(issuer.key) }
                    clients[issuer.key] = client
                } catch {
                    unreachable.insert(issuer.key)
                    warnings.add(
                        "renewal-info \(issuer.key)",
                        "cannot read the directory of issuer \(issuer.key) to check renewal windows; its certificates are asked at the next run: \(error)"
                    )
                }
            }
            guard !withoutARI.contains(issuer.key), !unreachable.contains(issuer.key),
                let secret = try? await reader.secret(namespace: read.desired.namespace, name: read.desired.secretName)
            else { continue }
            var entry = read
            entry.current = CurrentCertificate(secret: secret)
            refreshed[index] = entry
            reread.insert(index)
            guard let current = entry.current, let summary = current.summary,
                let (certificateID, issuer) = Self.target(entry, action: plan(entry), issuers: issuers, now: time)
            else { continue }
            var record = RecordPolicy.afterRenewalInfoFailure(current.record, serial: summary.serialHex, now: time)
            if !unreachable.contains(issuer.key), let client = clients[issuer.key] {
                do {
                    record = try await ask(client, certificateID, current.record, summary: summary, entry, now: time)
                } catch {
                    if let error = error as? ACMEError, [.transport, .timeout].contains(error.code) {
                        unreachable.insert(issuer.key)
                    }
                    warnings.add(
                        "renewal-info \(issuer.key)",
                        "renewalInfo of issuer \(issuer.key) failed; asked again in 6 h, keeping the renewal time: \(error)",
                        metadata: ["secret": "\(entry.desired.id)"])
                }
            }
            answers[index] = Answer(entry: entry, record: record)
        }
        return (refreshed, answers, reread)
    }

    /// One renewalInfo answer as the record it makes.
    private func ask(
        _ client: ACMEClient, _ certificateID: String, _ record: RenewalRecord, summary: CertificateSummary,
        _ entry: Inventory.Entry, now time: Date
    ) async throws -> RenewalRecord {
        guard let info = try await client.renewalInfo(certificateID: certificateID) else {
            return RecordPolicy.withoutRenewalInfo(record, serial: summary.serialHex)
        }
        var generator = SystemRandomNumberGenerator()
        let (answered, moved) = RecordPolicy.afterRenewalInfo(
            record, info, notBefore: summary.notBefore, notAfter: summary.notAfter, serial: summary.serialHex,
            now: time, random: &generator)
        if moved {
            logger.notice(
                "the CA moved the renewal window",
                metadata: [
                    "secret": "\(entry.desired.id)",
                    "renewalTime": "\(RenewalRecord.format(answered.renewalTime ?? time))",
                ])
        }
        return answered
    }
}
