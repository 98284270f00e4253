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
            let issuer = entry.currentIssuer(in: issuers)
        else { return nil }
        let record = current.record
        if record.serial == summary.serialHex, (record.ariNextCheck ?? .distantFuture) > now { return nil }
        return issuer
    }

    /// A client that asks renewalInfo (unauthenticated, so a throwaway key) and does not retry a
    /// CA it cannot reach: the next check of that CA's certificates is put off instead.
    private func makeClient(for issuer: Issuer) throws -> ACMEClient {
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
    /// in this run (its other certificates are put off alike). Each issuer's certificates are
    /// asked in turn, the issuers at once: one CA's silence delays only its own. Returns the
    /// entries as read again and the records to store, by the entry's index, and which entries
    /// were read again. `planned`: each entry's action as planned from the read (an entry read
    /// again is planned anew by `plan`).
    func refresh(
        _ entries: [Inventory.Entry],
        planned: [PlannedAction],
        issuers: [IssuerKey: Issuer],
        plan: @escaping @Sendable (Inventory.Entry) -> PlannedAction,
        now time: Date
    ) async -> (entries: [Inventory.Entry], answers: [Int: Answer], reread: Set<Int>) {
        var byIssuer: [IssuerKey: (Issuer, [Int])] = [:]
        for (index, read) in entries.enumerated() {
            guard let issuer = Self.candidate(read, action: planned[index], issuers: issuers, now: time) else {
                continue
            }
            byIssuer[issuer.key, default: (issuer, [])].1.append(index)
        }
        var refreshed = entries
        var reread: Set<Int> = []
        var answers: [Int: Answer] = [:]
        await withTaskGroup(of: IssuerResult.self) { group in
            for (issuer, indices) in byIssuer.values {
                let mine = indices.map { ($0, entries[$0]) }
                group.addTask { await refresh(mine, of: issuer, issuers: issuers, plan: plan, now: time) }
            }
            for await result in group {
                for (index, entry) in result.reread {
                    refreshed[index] = entry
                    reread.insert(index)
                }
                answers.merge(result.answers) { $1 }
            }
        }
        return (refreshed, answers, reread)
    }

    /// What one issuer's re-checks came to.
    private struct IssuerResult: Sendable {
        var reread: [(Int, Inventory.Entry)] = []
        var answers: [Int: Answer] = [:]
    }

    /// One issuer's certificates (`entries`, by index), in turn.
    private func refresh(
        _ entries: [(Int, Inventory.Entry)], of issuer: Issuer, issuers: [IssuerKey: Issuer],
        plan: (Inventory.Entry) -> PlannedAction, now time: Date
    ) async -> IssuerResult {
        var result = IssuerResult()
        let client: ACMEClient
        do {
            client = try makeClient(for: issuer)
            // A CA without ARI: its certificates are not read again, asked or written (an
            // adopted Secret of such a CA costs the run one directory request, no write).
            guard try await client.directory().renewalInfo != nil else { return result }
        } catch {
            warnings.add(
                "renewal-info \(issuer.key)",
                "cannot read the directory of issuer \(issuer.key) to check renewal windows; its certificates are asked at the next run: \(error)"
            )
            return result
        }
        var reachable = true
        for (index, read) in entries {
            guard
                let secret = try? await reader.secret(namespace: read.desired.namespace, name: read.desired.secretName)
            else { continue }
            var entry = read
            entry.current = CurrentCertificate(secret: secret)
            result.reread.append((index, entry))
            guard let current = entry.current, let summary = current.summary,
                let (certificateID, target) = Self.target(entry, action: plan(entry), issuers: issuers, now: time),
                target.key == issuer.key
            else { continue }
            var record = RecordPolicy.afterRenewalInfoFailure(current.record, serial: summary.serialHex, now: time)
            if reachable {
                do {
                    record = try await ask(client, certificateID, current.record, summary: summary, entry, now: time)
                } catch {
                    if let error = error as? ACMEError, [.transport, .timeout].contains(error.code) {
                        reachable = false
                    }
                    warnings.add(
                        "renewal-info \(issuer.key)",
                        "renewalInfo of issuer \(issuer.key) failed; asked again in 6 h, keeping the renewal time: \(error)",
                        metadata: ["secret": "\(entry.desired.id)"])
                }
            }
            result.answers[index] = Answer(entry: entry, record: record)
        }
        return result
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
