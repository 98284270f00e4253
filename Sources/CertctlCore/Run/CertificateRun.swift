public import ACME
import Basics
public import Certificates
public import Foundation
public import Kubernetes
public import Logging
import Synchronization
public import Transport

/// One run of the CronJob: discover, plan, take the lock, issue what is due (concurrently, one
/// account per issuer), check, store, record, report.
public struct CertificateRun: Sendable {
    public struct Options: Sendable {
        public var scope: NamespaceScope
        public var issuers: [IssuerKey: Issuer]
        public var defaultIssuer: String?
        public var concurrency: Int
        public var dryRun: Bool
        public var http01Listen: ListenAddress
        public var keyType: KeyType
        /// Limit the run to these Secrets (`namespace/name`), for `certctl renew --now`.
        public var only: Set<String>?
        /// `certctl renew`: marks stored under the lock, then issued when it says `issueNow`.
        public var renewal: RenewalRequest?
        /// How long one ACME request may take before it is abandoned (and retried or failed).
        public var acmeRequestTimeout: Duration = .seconds(30)
        /// The DNS servers (`host:port`) a DNS-01 record must be answered by before the CA is
        /// told; nil: every authoritative server of the zone (its NS, on port 53).
        public var dns01CheckServers: [String]?
        /// How long those servers may take to answer it.
        public var dns01PropagationTimeout: Duration = .seconds(120)
        /// What loading the issuers set aside (a file named like a cluster's issuer): warnings.
        public var issuerNotes: [String] = []

        public init(
            scope: NamespaceScope,
            issuers: [IssuerKey: Issuer],
            defaultIssuer: String?,
            concurrency: Int = 8,
            dryRun: Bool = false,
            http01Listen: ListenAddress = ListenAddress(host: "0.0.0.0", port: 8089),
            keyType: KeyType = .ecdsaP256,
            only: Set<String>? = nil
        ) {
            self.scope = scope
            self.issuers = issuers
            self.defaultIssuer = defaultIssuer
            self.concurrency = concurrency
            self.dryRun = dryRun
            self.http01Listen = http01Listen
            self.keyType = keyType
            self.only = only
        }
    }

    public var store: any ClusterStore
    public var accounts: any AccountStore
    public var secrets: any SecretValueSource
    public var lock: any RunLock
    /// The counters across runs and the last success, kept for the next run and the exporter.
    public var history: (any RunHistory)?
    public var transport: any HTTPTransport
    public var logger: Logger
    /// How HTTP-01 challenges reach the run's responder (`Options.http01Listen`).
    public var http01: HTTP01Setup.Route = .direct
    public var observer: (@Sendable (ACMERequestRecord) -> Void)?
    public var now: @Sendable () -> Date
    /// Events on the Ingresses, in a cluster.
    public var events: EventRecorder?
    /// What went wrong beside the certificates (an Event or record not stored, a restarted
    /// list): logged once each and listed in the report.
    public var warnings: RunWarnings
    /// Metrics and notifications of the outcome, given it by the run before it lets the lock go.
    public var reporter: RunReporter?
    /// Where an order is kept before it is finalized, so that a run killed before the Secret is
    /// written is picked up by the next instead of ordered again; nil keeps none.
    public var orders: (any OrderStore)?
    /// Where each account's rate ledger is kept (README, "When the CA fails"); nil keeps none
    /// across runs (each run then counts only its own orders).
    public var ledgers: (any LedgerStore)?
    /// Told of each issuance as it begins, waits and finishes.
    public var progress: (any RunProgress)?
    /// The requests to the API server, in a cluster.
    public var kubernetes: KubernetesTally?
    /// The API client's retry deadline and the lock's term: each renewal of the lock moves the
    /// deadline to a term from then.
    public var retryDeadline: (RetryDeadline, Duration)?
    /// The gate of the API client's writes, shut when the run loses its lock.
    public var writeGate: WriteGate?

    public init(
        store: any ClusterStore,
        accounts: any AccountStore,
        secrets: any SecretValueSource,
        lock: any RunLock,
        transport: any HTTPTransport,
        logger: Logger,
        observer: (@Sendable (ACMERequestRecord) -> Void)? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.accounts = accounts
        self.secrets = secrets
        self.lock = lock
        self.transport = transport
        self.logger = logger
        self.observer = observer
        self.now = now
        self.warnings = RunWarnings(logger: logger)
    }

    /// What a run knows between its stages: what was read, the plan, the reports so far.
    struct RunState {
        var inventory: Inventory
        var entries: [Inventory.Entry]
        var planned: [(Inventory.Entry, PlannedAction)] = []
        var reports: [String: CertificateReport] = [:]
        var due: [(Inventory.Entry, PlannedAction)] = []
        let started: Date
        let counter = RequestTally()
        /// What the store stage wrote, by certificate.
        let stored = StoredEntries()
    }

    public func run(_ options: Options) async throws -> RunReport {
        var state = try await read(options)
        plan(&state, options: options)
        warnIgnoredRenewBefore(state.planned)
        // ARI re-checks write records: they happen under the lock, like issuance, from fresh reads.
        let checksDue =
            !options.dryRun
            && state.planned.contains {
                RenewalInfoCheck.candidate($0.0, action: $0.1, issuers: options.issuers, now: state.started) != nil
            }
        let marking = options.renewal != nil && !options.dryRun
        guard !state.due.isEmpty || checksDue || marking else {
            // Nothing due: the certificates are as read.
            return try await deliver(finish(state, lockHeld: false), state, options: options)
        }
        let held = try await LockKeeper.holding(
            lock, gate: writeGate, deadline: retryDeadline, logger: logger, now: now
        ) { [state] keeper in
            try await locked(state, checksDue: checksDue, keeper: keeper, options: options)
        }
        if let held { return held }
        let holder = await lock.holder()
        logger.notice(
            "another certctl run holds the lock; this one leaves the due certificates to it",
            metadata: ["holder": "\(holder ?? "unknown")"])
        for (entry, action) in state.due {
            state.reports[entry.desired.id] = CertificateReport(entry, action, .deferred)
        }
        var outcome = finish(state, lockHeld: true)
        outcome.lockHolder = holder
        return try await deliver(outcome, state, options: options)
    }

    /// The read stage: the inventory once, its problems and ignored annotations said.
    private func read(_ options: Options) async throws -> RunState {
        // A busy API server's retries are shown as the cluster's wait.
        let inventory = try await progress.tracking("cluster") {
            try await Inventory.load(
                from: store, scope: options.scope, issuers: options.issuers, defaultIssuer: options.defaultIssuer)
        }
        var entries = inventory.entries
        if let only = options.only { entries = entries.filter { only.contains($0.desired.id) } }
        for problem in inventory.problems {
            logger.warning("\(problem.reason)", metadata: ["object": "\(problem.object)"])
        }
        for note in options.issuerNotes + inventory.notes { warnings.add(note, note) }
        // Annotations with no meaning for an ACME CA: said once per run, naming the Ingress.
        for entry in entries {
            for message in entry.desired.settings.ignored {
                warnings.add(
                    "annotation \(entry.desired.id) \(message)", "\(entry.desired.sourceList) \(message)")
            }
        }
        return RunState(inventory: inventory, entries: entries, started: now())
    }

    /// Under the lock: the issue and store stages of what is due, beside the due ARI re-checks
    /// (so that a CA that does not answer them delays no other issuer's certificates), then
    /// what their answers made due, then the report. `renew` and `revoke` mark their
    /// certificates first, from what the re-checks found.
    private func locked(_ read: RunState, checksDue: Bool, keeper: LockKeeper, options: Options) async throws
        -> RunReport
    {
        var state = read
        try await readDueAgain(&state, options: options)
        let storage = storage(options)
        var marks: [RenewalMark] = []
        if let renewal = options.renewal {
            if checksDue {
                apply(
                    await recheck(state, options: options, storage: storage, keeper: keeper), to: &state,
                    options: options)
            }
            for (index, read) in state.entries.enumerated() where renewal.certificates.contains(read.desired.id) {
                var entry = read
                if let revocation = renewal.revocation, let serial = revocation.serials[entry.desired.id] {
                    // Recorded first: a run finishes it if this command cannot (README, "The second day").
                    entry = try await storage.askRevocation(entry, serial: serial, reason: revocation.reason)
                    state.entries[index] = entry
                }
                let revoked = try await revoke(entry, renewal.revocation, options: options, keeper: keeper)
                var (mark, now) = await storage.mark(
                    entry, at: state.started, revoked: revoked.map { ($0.serial, $0.reason) })
                mark.revoked = revoked?.note
                progress?.marked(mark)
                marks.append(mark)
                state.entries[index] = now
            }
            plan(&state, options: options)
            if !renewal.issueNow { state.due = [] }
        }
        await finishRevocations(&state, options: options, storage: storage, keeper: keeper)
        let budgets = RateAccounts(store: ledgers, warnings: warnings, now: now)
        var limited = await budget(&state, options: options, budgets: budgets)
        let before = state
        async let rechecking =
            checksDue && options.renewal == nil
            ? recheck(before, options: options, storage: storage, keeper: keeper) : nil
        var issued = try await issueDue(
            before, options: options, storage: storage, keeper: keeper, budgets: budgets, limited: limited)
        if let rechecked = await rechecking {
            // What the CA's answers made due (a window moved into the past) is issued now.
            apply(rechecked, to: &state, options: options)
            for (id, report) in issued { state.reports[id] = report }
            state.due = state.due.filter { issued[$0.0.desired.id] == nil }
            limited.merge(await budget(&state, options: options, budgets: budgets)) { $1 }
            issued.merge(
                try await issueDue(
                    state, options: options, storage: storage, keeper: keeper, budgets: budgets, limited: limited)
            ) { $1 }
        }
        await budgets.save()
        for (id, report) in issued { state.reports[id] = report }
        var outcome = finish(state, lockHeld: false)
        outcome.lockLost = keeper.lostReason()
        outcome.marks = marks
        return try await deliver(
            outcome, state, options: options, ledgers: await budgets.ledgers(of: options.issuers))
    }

    /// The issue and store stages of `state.due` (nothing to start when none is due); the
    /// reports by certificate.
    private func issueDue(
        _ state: RunState, options: Options, storage: CertificateStorage, keeper: LockKeeper, budgets: RateAccounts,
        limited: [String: RateBudget.Deferral]
    ) async throws -> [String: CertificateReport] {
        guard !state.due.isEmpty else { return [:] }
        var reports: [String: CertificateReport] = [:]
        for result in try await issue(
            state.due, options: options, counter: state.counter, storage: storage, stored: state.stored,
            keeper: keeper, wanted: Set(state.inventory.entries.map(\.desired.id)), budgets: budgets, limited: limited)
        {
            reports[result.desired.id] = result
        }
        return reports
    }

    /// `certctl revoke`: the certificate revoked at the CA (only while this run holds the lock)
    /// and an Event on its objects (a Warning for a key compromise); what to record of it.
    func revoke(_ entry: Inventory.Entry, _ revocation: Revocation?, options: Options, keeper: LockKeeper)
        async throws -> (serial: String, reason: RevocationReason, note: String)?
    {
        guard let revocation, let serial = revocation.serials[entry.desired.id] else { return nil }
        guard let issuer = entry.currentIssuer(in: options.issuers) else {
            // The issuer that issued it (a fallback no longer defined, say) is the one to ask.
            let key = entry.fallbackIssuerKey ?? entry.desired.issuerKey
            throw CertctlError(
                .unknownIssuer, object: "Secret \(entry.desired.id)",
                "not revoked: the issuer that issued its certificate (\(key.named)) is not defined; define it again (its account revokes it), then run certctl revoke again"
            )
        }
        if let lost = keeper.lostReason() {
            throw CertctlError(.lockLost, object: "Secret \(entry.desired.id)", "not revoked: \(lost)")
        }
        let revoker = Revoker(
            reader: store, accounts: accounts, secrets: secrets, transport: transport, logger: logger,
            requestTimeout: options.acmeRequestTimeout)
        let signer = try await revoker.revoke(entry, serial: serial, issuer: issuer, reason: revocation.reason)
        let by =
            switch signer {
            case .account(let url): "by the account \(url)"
            case .certificateKey: "by the certificate's own key"
            case .alreadyRevoked: "(the CA had revoked it already)"
            }
        let note = "certificate \(serial) revoked \(by), reason \(revocation.reason.name)"
        await events?.record(entry.desired, warning: revocation.reason == .keyCompromise, reason: "Revoked", note: note)
        return (serial, revocation.reason, note)
    }

    /// The run's report from its parts.
    private func finish(_ state: RunState, lockHeld: Bool) -> RunReport {
        var certificates: [CertificateReport] = []
        certificates.reserveCapacity(state.planned.count)  // one buffer, not a doubling series
        for (entry, _) in state.planned {
            if let report = state.reports[entry.desired.id] { certificates.append(report) }
        }
        return RunReport(
            cluster: state.inventory.cluster,
            certificates: certificates,
            problems: state.inventory.problems,
            lockHeld: lockHeld,
            acmeRequests: state.counter.value,
            acmeRequestsByAction: state.counter.byAction,
            kubernetesRequests: kubernetes?.requests ?? [:],
            kubernetesRetries: kubernetes?.retries ?? [:],
            warnings: warnings.messages
        )
    }

    /// The counters, the last success, then the report stage (metrics, notifications) over the
    /// certificates as the run left them: the ones the store stage wrote as it returned them,
    /// the rest as read (nothing is read again).
    private func deliver(
        _ outcome: RunReport, _ state: RunState, options: Options, ledgers: [IssuerKey: RateLedger] = [:]
    ) async throws -> RunReport {
        var report = outcome
        guard !options.dryRun else { return report }
        if let history {
            let success = report.exitCode(at: now()) == 0 ? now() : nil
            report.totals = await history.record(report.counts, succeededAt: success)
        }
        guard let reporter, !reporter.isEmpty else { return report }
        let stored = state.stored.entries
        let after = state.entries.map { stored[$0.desired.id] ?? $0 }
        let time = now()
        let inventory = Inventory(cluster: report.cluster, entries: after, problems: report.problems, withoutTLS: [])
        let statuses = CertificateStatus.all(in: inventory, issuers: options.issuers, ledgers: ledgers, now: time)
        let elapsed = time.timeIntervalSince(state.started)
        do {
            let announced = try await reporter.report(
                report, statuses: statuses, duration: .milliseconds(Bounded.milliseconds(elapsed)), now: time)
            // Each over the record it was made from: a run without the lock (nothing due, or
            // another run holding it) never writes back a record older than what is there.
            let basis = Dictionary(after.map { ($0.desired.id, $0) }) { first, _ in first }
            await storage(options).storeNotified(
                announced.compactMap { desired, record in
                    basis[desired.id].map { ($0, record) }
                })
        } catch {
            // The certificates are stored; an unreachable Pushgateway is the run's warning, not its failure.
            warnings.add("report", "cannot publish the metrics: \(error)")
            report.warnings = warnings.messages
        }
        return report
    }

    /// The store stage: the one writer of Secrets and records.
    private func storage(_ options: Options) -> CertificateStorage {
        CertificateStorage(
            store: store, orders: orders, issuers: options.issuers, warnings: warnings, logger: logger, now: now)
    }

    /// The issue stage, each result stored by the store stage as it comes and its Event
    /// recorded; the reports of all.
    private func issue(
        _ due: [(Inventory.Entry, PlannedAction)], options: Options, counter: RequestTally,
        storage: CertificateStorage, stored: StoredEntries, keeper: LockKeeper, wanted: Set<String>,
        budgets: RateAccounts, limited: [String: RateBudget.Deferral]
    ) async throws -> [CertificateReport] {
        let observer = self.observer
        let issuance = Issuance(
            reader: store, accounts: accounts, secrets: secrets, orders: orders, keptOrders: storage,
            transport: transport, logger: logger, warnings: warnings,
            observer: { record in
                counter.add(record)
                observer?(record)
            }, progress: progress, now: now, options: options, keeper: keeper, wanted: wanted, budgets: budgets,
            limited: limited)
        let events = self.events
        let setup = HTTP01Setup(listen: options.http01Listen, route: http01, transport: transport, logger: logger)
        return try await HTTP01Session.with(setup) { http01 in
            // What a killed run left where this one is about to solve, removed first.
            await http01.removeLeftovers(
                in: Set(due.map(\.0.desired.namespace)),
                routes: options.issuers.values.contains(where: \.solvesThroughRoutes))
            return await issuance.run(due, http01: http01) { entry, action, result in
                let (report, now) = await storage.store(entry, action, result)
                stored.add(now)
                await events?.record(report, replaced: entry.current != nil)
                return report
            }
        }
    }
}
