import Basics
import Certificates
public import Foundation

/// What the CA's limits hold back, as `status`, the page and the metrics show it (README, "When
/// the CA fails"): the next run's budget over the accounts' ledgers, so each held certificate
/// says until when, and the summary when the backlog clears.
extension CertificateStatus {
    /// Each issuer's due certificates (most urgent first) within its limits as `ledgers` (by
    /// issuer, its account's) count them at `now`; those the next run would hold back become
    /// ``PlannedAction/Kind/limited(_:)`` with the time they can go. Issuers without a ledger,
    /// or without limits, hold nothing back.
    static func applyBudgets(
        _ statuses: inout [CertificateStatus], entries: [Inventory.Entry], issuers: [IssuerKey: Issuer],
        ledgers: [IssuerKey: RateLedger], now: Date
    ) {
        guard !ledgers.isEmpty else { return }
        let due = statuses.indices.filter {
            statuses[$0].action.isIssue && statuses[$0].action.ownIssuerBacksOff == nil
        }
        // By account: issuers sharing one share its ledger and limits (``IssuerLoader/linkFallbacks(_:)``).
        let byAccount = Dictionary(grouping: due) { issuers[statuses[$0].desired.issuerKey]?.account ?? "" }
        for indices in byAccount.values {
            guard let key = indices.first.map({ statuses[$0].desired.issuerKey }), let issuer = issuers[key],
                !issuer.rateLimits.isNone, let ledger = ledgers[key]
            else { continue }
            let ordered = indices.sorted { statuses[$0].urgency < statuses[$1].urgency }
            let candidates = ordered.map { index in
                let entry = entries[index]
                let replaces = RenewalPlan.replaces(
                    current: entry.current, desired: entry.desired, issuer: entry.desired.issuer,
                    account: entry.record.account)
                return RateBudget.Candidate(id: entry.desired.id, names: entry.desired.hosts, replaces: replaces != nil)
            }
            let plan = RateBudget.plan(limits: issuer.rateLimits, ledger: ledger, now: now, candidates: candidates)
            let deferred = Dictionary(plan.deferred.map { ($0.id, $0) }) { first, _ in first }
            for index in ordered {
                guard let deferral = deferred[statuses[index].desired.id] else { continue }
                // The run sends an urgent one whose issuer has fallbacks to them: it does not wait.
                if statuses[index].action.urgent, issuers[statuses[index].desired.issuerKey]?.fallback.isEmpty == false
                {
                    continue
                }
                statuses[index].action.kind = .limited(deferral)
                // The time first, to the minute: a narrow column keeps it; `status SECRET` says which limit.
                if statuses[index].problem == nil || statuses[index].problem == statuses[index].action.reason.rawValue {
                    statuses[index].problem =
                        "waits for the CA's limit until \(Timestamp.minute(deferral.until)) (\(deferral.reason))"
                }
            }
        }
    }

    var urgency: RateBudget.Urgency {
        RateBudget.Urgency(notAfter: summary?.notAfter, urgent: action.urgent, id: desired.id)
    }

    /// When the certificates the CA's limits hold back can all go, and how many: nil when none waits.
    public static func backlog(_ statuses: [CertificateStatus]) -> (count: Int, clearsAt: Date)? {
        var count = 0
        var latest: Date?
        for status in statuses {
            guard case .limited(let deferral) = status.action.kind else { continue }
            count += 1
            latest = max(latest ?? deferral.until, deferral.until)
        }
        return latest.map { (count, $0) }
    }
}
