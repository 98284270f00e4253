import ACME
import Basics
import Foundation

/// What the issue stage may do with the rate budgets: admit a fallback's certificate, hold an
/// admitted one a refusal concerns, say what an order spent, settle. Nothing here stores: the
/// run stores the ledgers (``RateAccounts/save()``).
protocol RateSpending: Sendable {
    func admit(_ candidates: [RateBudget.Candidate], issuer: Issuer) async -> RateBudget.Plan
    func recheck(certificate: String, issuer: Issuer) async -> RateBudget.Deferral?
    func spend(_ spent: RateAccounts.Spent, certificate: String, issuer: Issuer) async
    func settle(certificate: String, issuer: Issuer) async
}

/// One run's rate budgets (README, "When the CA fails"), for each issuer that keeps limits: its
/// account's ledger, read once under the lock; the orders the budget admitted reserved in it (as
/// an order and a certificate each, so that later admissions of the run count them) and the
/// orders stored before the first is sent, so that a run killed midway leaves them counted for
/// the orders' window (hours), never its certificates for the domains' (days: an order a killed
/// run finalized is kept beside the account, and the next run that picks it up counts its
/// certificate); then what the CA answered in their place, stored as the run ends.
actor RateAccounts: RateSpending {
    /// What one issuance spent of its issuer's limits, as the CA answered.
    enum Spent: Sendable {
        /// The CA accepted a new order.
        case order(replaces: Bool)
        /// The CA issued a certificate for these names.
        case certificate(names: [String], replaces: Bool)
        /// The CA refused an order for these names with `rateLimited`.
        case refusal(detail: String?, retryAfter: Date?, names: [String])
    }

    private struct Account {
        var issuer: Issuer
        /// The stored ledger with what this run spent and what it reserved, kept as they come.
        var ledger: RateLedger
        /// Admitted and not yet settled, by certificate (`namespace/name`), with the time.
        var reserved: [String: (Date, RateBudget.Candidate)] = [:]
        /// This run's `rateLimited` answers alone: what may hold an order admitted before them.
        var refused = RateLedger()
        var changed = false
    }

    private let store: (any LedgerStore)?
    private let warnings: RunWarnings
    private let now: @Sendable () -> Date
    /// By account (``Issuer/account``): issuers sharing one share its ledger.
    private var accounts: [String: Account] = [:]
    private var loading: [String: Task<RateLedger, Never>] = [:]

    init(store: (any LedgerStore)?, warnings: RunWarnings, now: @escaping @Sendable () -> Date) {
        self.store = store
        self.warnings = warnings
        self.now = now
    }

    /// Whether `issuer` keeps limits: none kept, every order goes and nothing is counted.
    nonisolated static func keeps(_ issuer: Issuer) -> Bool { !issuer.rateLimits.isNone }

    /// Which of `candidates` (most urgent first) `issuer` orders now within its CA's limits, and
    /// when the rest can go; the admitted ones are reserved at once.
    func admit(_ candidates: [RateBudget.Candidate], issuer: Issuer) async -> RateBudget.Plan {
        guard Self.keeps(issuer), !candidates.isEmpty else {
            return RateBudget.Plan(admitted: candidates.map(\.id), deferred: [])
        }
        await load(issuer)
        let time = now()
        guard var account = accounts[issuer.account] else { return RateBudget.Plan() }
        let plan = RateBudget.plan(
            limits: issuer.rateLimits, ledger: account.ledger, now: time, candidates: candidates)
        let byID = Dictionary(candidates.map { ($0.id, $0) }) { first, _ in first }
        for id in plan.admitted {
            guard let candidate = byID[id], account.reserved[id] == nil else { continue }
            account.reserved[id] = (time, candidate)
            account.ledger.recordOrder(at: time, replaces: candidate.replaces)
            account.ledger.recordCertificate(names: candidate.names, at: time, replaces: candidate.replaces)
        }
        if !plan.admitted.isEmpty { account.changed = true }
        accounts[issuer.account] = account
        return plan
    }

    /// Whether `certificate`, admitted by ``admit(_:issuer:)``, may still be ordered now: a
    /// `rateLimited` answer to another order of this run may hold it (the CA counts orders of
    /// other clusters too). Held, it is no longer reserved; nil: it goes.
    func recheck(certificate: String, issuer: Issuer) -> RateBudget.Deferral? {
        // Only a refusal can hold what the counts admitted: an order's own spending replaces its
        // reservation (counting both for a moment would hold back what the plan admitted).
        guard Self.keeps(issuer), let account = accounts[issuer.account], !account.refused.refusals.isEmpty,
            let (_, candidate) = account.reserved[certificate]
        else { return nil }
        let plan = RateBudget.plan(
            limits: RateLimits(replacesExempt: issuer.rateLimits.replacesExempt), ledger: account.refused, now: now(),
            candidates: [candidate])
        guard let deferral = plan.deferred.first else { return nil }
        settle(certificate: certificate, issuer: issuer)
        return deferral
    }

    /// What the CA answered to `certificate`'s order at `issuer`.
    func spend(_ spent: Spent, certificate: String, issuer: Issuer) {
        guard Self.keeps(issuer), var account = accounts[issuer.account] else { return }
        let time = now()
        switch spent {
        case .order(let replaces): account.ledger.recordOrder(at: time, replaces: replaces)
        case .certificate(let names, let replaces):
            account.ledger.recordCertificate(names: names, at: time, replaces: replaces)
        case .refusal(let detail, let retryAfter, let names):
            account.ledger.recordRefusal(
                detail: detail, retryAfter: retryAfter, names: names, at: time, limits: issuer.rateLimits)
            account.refused.recordRefusal(detail: detail, retryAfter: retryAfter, names: names, at: time)
        }
        account.changed = true
        accounts[issuer.account] = account
    }

    /// `certificate`'s issuance at `issuer` is over: its reservation gives way to what it spent.
    func settle(certificate: String, issuer: Issuer) {
        guard Self.keeps(issuer), var account = accounts[issuer.account],
            let (time, candidate) = account.reserved.removeValue(forKey: certificate)
        else { return }
        account.ledger.takeBack(names: candidate.names, at: time, replaces: candidate.replaces)
        account.changed = true
        accounts[issuer.account] = account
    }

    /// Each issuer's ledger as this run left it (reservations still open included), for the
    /// report stage's statuses.
    func ledgers(of issuers: [IssuerKey: Issuer]) -> [IssuerKey: RateLedger] {
        var ledgers: [IssuerKey: RateLedger] = [:]
        for (key, issuer) in issuers {
            if let account = accounts[issuer.account] { ledgers[key] = account.ledger }
        }
        return ledgers
    }

    /// Stores each ledger this run changed (reservations included); a ledger that cannot be
    /// stored is the run's warning: the CA's own answer, recorded by a later run, holds then.
    func save() async {
        guard let store else { return }
        for key in accounts.keys.sorted() {
            guard let account = accounts[key], account.changed else { continue }
            let issuer = account.issuer
            // Reserved certificates are not stored: only an order a run sent may outlive it.
            var stored = account.ledger
            for (time, candidate) in account.reserved.values {
                stored.takeBack(names: candidate.names, at: time, replaces: candidate.replaces, order: false)
            }
            let text = stored.encoded(now: now(), limits: issuer.rateLimits)
            do {
                if try await store.saveLedger(text, for: issuer) { accounts[key]?.changed = false }
            } catch {
                warnings.add(
                    "rate-ledger \(key)",
                    "cannot store the rate ledger of issuer \(issuer.key.named) in \(store.ledgerPlace(for: issuer)) (\(error)): the next run does not count this run's orders against the CA's limits"
                )
            }
        }
    }

    /// `issuer`'s ledger read once (a concurrent first reader waits for the same read).
    private func load(_ issuer: Issuer) async {
        guard accounts[issuer.account] == nil else { return }
        let task =
            loading[issuer.account]
            ?? {
                let (store, warnings, now) = (store, warnings, now)
                let task = Task { await Self.read(issuer, from: store, warnings: warnings, now: now()) }
                loading[issuer.account] = task
                return task
            }()
        let ledger = await task.value
        if accounts[issuer.account] == nil { accounts[issuer.account] = Account(issuer: issuer, ledger: ledger) }
    }

    private static func read(_ issuer: Issuer, from store: (any LedgerStore)?, warnings: RunWarnings, now: Date) async
        -> RateLedger
    {
        guard let store else { return RateLedger() }
        let (ledger, note) = await RateLedgers.read(issuer, from: store, now: now)
        if let note {
            warnings.add(
                "rate-ledger \(issuer.key)",
                ledger == nil ? "\(note): this run counts only its own orders against the CA's limits" : note)
        }
        return ledger ?? RateLedger()
    }
}
