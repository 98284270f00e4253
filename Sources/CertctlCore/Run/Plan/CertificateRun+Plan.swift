import Certificates
import Foundation
import Logging

/// The plan stage: every entry's decision, made once from the read and again only for what
/// changed (read again under the lock, answered by the CA's renewalInfo).
extension CertificateRun {
    /// Nothing is ordered or marked from a read older than the lock: what is due (or named by
    /// `renew`/`revoke`) is read again once the lock is held, and planned again. A run that
    /// finished between this one's read and its lock left its certificates stored: they wait.
    func readDueAgain(_ state: inout RunState, options: Options) async throws {
        var reread: Set<Int> = []
        for (index, entry) in state.entries.enumerated() {
            let waits = if case .wait = state.planned[index].1.kind { true } else { false }
            guard !waits || options.renewal?.certificates.contains(entry.desired.id) == true else { continue }
            state.entries[index] = try await entry.readAgain(from: store)
            reread.insert(index)
        }
        if !reread.isEmpty { plan(&state, options: options, only: reread) }
    }

    /// The plan of every entry, the reports of what is not issued now, and what is due.
    /// `only`: the entries that changed since the last plan (nil: all).
    func plan(_ state: inout RunState, options: Options, only: Set<Int>? = nil) {
        if let only, state.planned.count == state.entries.count {
            for index in only {
                state.planned[index] = (
                    state.entries[index], decide(state.entries[index], options: options, now: state.started)
                )
            }
        } else {
            state.planned = state.entries.map { ($0, decide($0, options: options, now: state.started)) }
        }
        (state.reports, state.due) = classify(state.planned, options: options)
    }

    func decide(_ entry: Inventory.Entry, options: Options, now: Date) -> PlannedAction {
        let issuer = options.issuers[entry.desired.issuerKey]
        return RenewalPlan.decide(
            desired: entry.desired, current: entry.current, pending: entry.pending, profile: issuer?.profile,
            fallbacks: issuer?.fallback.isEmpty == false, now: now)
    }

    /// A renew-before at or above the certificate's lifetime is ignored by the plan: said once
    /// per run for each certificate, naming its Ingresses.
    func warnIgnoredRenewBefore(_ planned: [(Inventory.Entry, PlannedAction)]) {
        for (entry, _) in planned {
            guard let summary = entry.current?.summary,
                RenewalPlan.ignoresRenewBefore(entry.desired.settings, lifetime: summary.lifetime)
            else { continue }
            let desired = entry.desired
            let ingresses = desired.sourceList
            warnings.add(
                "renew-before \(desired.id)",
                "\(ingresses): cert-manager.io/renew-before \(StatusTable.duration(desired.settings.renewBefore ?? 0)) is not shorter than the \(StatusTable.duration(summary.lifetime)) lifetime of Secret \(desired.id)'s certificate; it is ignored (renewing by the lifetime rule): shorten it or remove it",
                metadata: ["secret": "\(desired.id)"])
        }
    }

    /// The reports of what is not issued now, and the certificates due for issuance.
    func classify(_ planned: [(Inventory.Entry, PlannedAction)], options: Options)
        -> ([String: CertificateReport], [(Inventory.Entry, PlannedAction)])
    {
        var reports: [String: CertificateReport] = [:]
        var due: [(Inventory.Entry, PlannedAction)] = []
        for (entry, action) in planned {
            switch action.kind {
            case .issue where options.dryRun: reports[entry.desired.id] = CertificateReport(entry, action, .planned)
            case .issue: due.append((entry, action))
            case .wait: reports[entry.desired.id] = CertificateReport(entry, action, .unchanged)
            case .backOff: reports[entry.desired.id] = CertificateReport(entry, action, .deferred)
            case .limited(let deferral):
                var report = CertificateReport(entry, action, .deferred)
                report.nextAttempt = deferral.until
                reports[entry.desired.id] = report
            case .blocked: reports[entry.desired.id] = CertificateReport(entry, action, .blocked)
            }
        }
        return (reports, due)
    }
}
