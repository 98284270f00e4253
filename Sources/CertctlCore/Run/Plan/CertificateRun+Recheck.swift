import ACME
import Certificates
import Foundation
import Kubernetes

/// Under the lock, beside or before the issue stage: the revocations asked for and not seen
/// done, and the ARI re-checks (their records stored, the plan made again from them).
extension CertificateRun {
    /// Revocations `certctl revoke` asked for and did not see recorded (it died, or its record
    /// write failed): revoked now, before the certificate is replaced. One the CA does not
    /// revoke is that certificate's failure this run: it is not replaced, so that its serial is
    /// asked again.
    func finishRevocations(
        _ state: inout RunState, options: Options, storage: CertificateStorage, keeper: LockKeeper
    ) async {
        var changed: Set<Int> = []
        var failed: [String: CertificateReport] = [:]
        for (index, entry) in state.entries.enumerated() {
            guard options.renewal?.revocation?.serials[entry.desired.id] == nil,
                let serial = entry.current?.summary?.serialHex, entry.record.revocationAskedSerial == serial,
                entry.record.revokedSerial != serial
            else { continue }
            let reason = RevocationReason(name: entry.record.revocationAskedReason ?? "") ?? .unspecified
            do {
                let revoked = try await revoke(
                    entry, Revocation(reason: reason, serials: [entry.desired.id: serial]), options: options,
                    keeper: keeper)
                let (mark, now) = await storage.mark(
                    entry, at: state.started, revoked: revoked.map { ($0.serial, $0.reason) })
                if let why = mark.notStored {
                    warnings.add(
                        "revoke \(entry.desired.id)", "\(revoked?.note ?? "revoked"), but not recorded: \(why)")
                }
                state.entries[index] = now
            } catch {
                let (report, now) = await storage.recordFailure(
                    entry, state.planned[index].1, CertificateFailure(error))
                state.entries[index] = now
                failed[entry.desired.id] = report
            }
            changed.insert(index)
        }
        if !changed.isEmpty { plan(&state, options: options, only: changed) }
        for (id, report) in failed { state.reports[id] = report }
        state.due = state.due.filter { failed[$0.0.desired.id] == nil }
    }

    /// What the ARI re-checks found: the entries as read again, and which changed.
    struct Rechecked: Sendable {
        var entries: [Inventory.Entry]
        var changed: Set<Int>
    }

    /// The due ARI re-checks, their records stored (only while the lock is held).
    func recheck(_ state: RunState, options: Options, storage: CertificateStorage, keeper: LockKeeper) async
        -> Rechecked
    {
        let renewalInfo = RenewalInfoCheck(
            reader: store, transport: transport, logger: logger, warnings: warnings,
            observer: { [observer, counter = state.counter] record in
                counter.add(record)
                observer?(record)
            }, requestTimeout: options.acmeRequestTimeout)
        let started = state.started
        let (entries, answers, reread) = await renewalInfo.refresh(
            state.entries, planned: state.planned.map(\.1), issuers: options.issuers,
            plan: { [self] in decide($0, options: options, now: started) }, now: started)
        // Only what was read again or answered is planned again.
        var rechecked = Rechecked(entries: entries, changed: reread.union(answers.keys))
        if keeper.lostReason() == nil {
            for (index, entry) in await storage.store(answers) {
                rechecked.entries[index] = entry
                rechecked.changed.insert(index)
            }
        }
        return rechecked
    }

    /// The re-checks' entries in the state, planned again.
    func apply(_ rechecked: Rechecked, to state: inout RunState, options: Options) {
        for index in rechecked.changed { state.entries[index] = rechecked.entries[index] }
        if !rechecked.changed.isEmpty { plan(&state, options: options, only: rechecked.changed) }
    }
}
