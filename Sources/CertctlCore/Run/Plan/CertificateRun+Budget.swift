import Basics
import Certificates
import Foundation

/// The plan stage's last step, under the lock: each issuer's due certificates within its CA's
/// limits (README, "When the CA fails").
extension CertificateRun {
    /// Orders `state.due` by urgency within each account whose issuers keep limits (issuers
    /// sharing one ranked together) and holds back what would go past them: such a certificate
    /// waits (``PlannedAction/Kind/limited(_:)``), or, when it is urgent and its issuer has
    /// fallbacks, goes to them (returned, by certificate). What is admitted is reserved in the
    /// account's ledger, its orders stored before the first is sent.
    func budget(_ state: inout RunState, options: Options, budgets: RateAccounts) async
        -> [String: RateBudget.Deferral]
    {
        let deferred = await deferrals(state.due, options: options, budgets: budgets)
        await budgets.save()
        guard !deferred.isEmpty else { return [:] }
        var toFallbacks: [String: RateBudget.Deferral] = [:]
        var due: [(Inventory.Entry, PlannedAction)] = []
        var held: [String: PlannedAction] = [:]
        for (entry, planned) in state.due {
            let id = entry.desired.id
            guard let deferral = deferred[id] else {
                due.append((entry, planned))
                continue
            }
            var action = planned
            if action.urgent, options.issuers[entry.desired.issuerKey]?.fallback.isEmpty == false {
                action.ownIssuerBacksOff = deferral.until
                toFallbacks[id] = deferral
                due.append((entry, action))
            } else {
                action.kind = .limited(deferral)
                var report = CertificateReport(entry, action, .deferred)
                report.nextAttempt = deferral.until
                state.reports[id] = report
            }
            held[id] = action
        }
        state.due = due
        for (index, planned) in state.planned.enumerated() {
            if let action = held[planned.0.desired.id] { state.planned[index].1 = action }
        }
        let waiting = deferred.count - toFallbacks.count
        if waiting > 0, let clears = deferred.values.map(\.until).max() {
            warnings.add(
                "rate-budget",
                "\(waiting) due certificate\(waiting == 1 ? "" : "s") wait for the CA's limits, the most urgent ordered first; the backlog clears by \(Timestamp.rfc3339(clears)) (certctl status shows each)"
            )
        }
        return toFallbacks
    }

    /// What each account's limits hold back of `due`, by certificate: the account's issuers'
    /// certificates ranked together, most urgent first, admitted until a limit is reached.
    private func deferrals(_ due: [(Inventory.Entry, PlannedAction)], options: Options, budgets: RateAccounts) async
        -> [String: RateBudget.Deferral]
    {
        var deferred: [String: RateBudget.Deferral] = [:]
        // By account: issuers sharing one share its limits, the most urgent of all first.
        let byAccount = Dictionary(grouping: due.indices) {
            options.issuers[due[$0].0.desired.issuerKey]?.account ?? ""
        }
        for place in byAccount.keys.sorted() {
            guard let indices = byAccount[place],
                let issuer = indices.compactMap({ options.issuers[due[$0].0.desired.issuerKey] }).min(by: {
                    $0.key < $1.key
                }), RateAccounts.keeps(issuer)
            else { continue }
            // Those its own CA already holds go to the fallbacks: they spend nothing here.
            let own = indices.filter { due[$0].1.ownIssuerBacksOff == nil }
            guard !own.isEmpty else { continue }
            let account = try? await accounts.load(for: issuer)?.url
            let candidates = own.sorted { Self.urgency(due[$0]) < Self.urgency(due[$1]) }.map { index in
                let entry = due[index].0
                let replaces = RenewalPlan.replaces(
                    current: entry.current, desired: entry.desired, issuer: entry.desired.issuer, account: account)
                return RateBudget.Candidate(id: entry.desired.id, names: entry.desired.hosts, replaces: replaces != nil)
            }
            for deferral in await budgets.admit(candidates, issuer: issuer).deferred {
                deferred[deferral.id] = deferral
            }
        }
        return deferred
    }

    static func urgency(_ due: (Inventory.Entry, PlannedAction)) -> RateBudget.Urgency {
        let (entry, action) = due
        return RateBudget.Urgency(
            notAfter: entry.current?.isUsable == true ? entry.current?.summary?.notAfter : nil, urgent: action.urgent,
            id: entry.desired.id)
    }
}
