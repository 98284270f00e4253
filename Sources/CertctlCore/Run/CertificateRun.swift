public import ACME
public import Certificates
public import Foundation
import Kubernetes
public import Logging
import Synchronization
public import Transport

/// One run of the CronJob: discover, plan, take the lock, issue what is due (concurrently, one
/// account per issuer), check, store, record, report.
public struct CertificateRun: Sendable {
    public struct Options: Sendable {
        public var scope: NamespaceScope
        public var issuers: [String: Issuer]
        public var defaultIssuer: String?
        public var concurrency: Int
        public var dryRun: Bool
        public var http01Listen: ListenAddress
        public var keyType: KeyType
        /// Limit the run to these Secrets (`namespace/name`), for `certctl renew --now`.
        public var only: Set<String>?
        /// How long one ACME request may take before it is abandoned (and retried or failed).
        public var acmeRequestTimeout: Duration = .seconds(30)
        /// The DNS servers (`host:port`) a DNS-01 record must be answered by before the CA is
        /// told; nil: every authoritative server of the zone (its NS, on port 53).
        public var dns01CheckServers: [String]?
        /// How long those servers may take to answer it.
        public var dns01PropagationTimeout: Duration = .seconds(120)

        public init(
            scope: NamespaceScope,
            issuers: [String: Issuer],
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

    public typealias SolverFactory = @Sendable (HTTP01Responder, DesiredCertificate) -> any ChallengeSolver

    public var store: any ClusterStore
    public var accounts: any AccountStore
    public var secrets: any SecretValueSource
    public var lock: any RunLock
    public var transport: any HTTPTransport
    public var logger: Logger
    public var makeSolver: SolverFactory
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
    /// Called under the lock before the first challenge with the namespaces of the certificates
    /// about to be issued (removing what a killed run left there).
    public var beforeSolving: (@Sendable (Set<String>) async -> Void)?
    /// Told of each issuance as it begins, waits and finishes.
    public var progress: (any RunProgress)?

    public init(
        store: any ClusterStore,
        accounts: any AccountStore,
        secrets: any SecretValueSource,
        lock: any RunLock,
        transport: any HTTPTransport,
        logger: Logger,
        makeSolver: @escaping SolverFactory = { responder, _ in ResponderSolver(responder: responder) },
        observer: (@Sendable (ACMERequestRecord) -> Void)? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.accounts = accounts
        self.secrets = secrets
        self.lock = lock
        self.transport = transport
        self.logger = logger
        self.makeSolver = makeSolver
        self.observer = observer
        self.now = now
        self.warnings = RunWarnings(logger: logger)
    }

    public func run(_ options: Options) async throws -> RunReport {
        let counter = RequestTally()
        let inventory = try await Inventory.load(
            from: store,
            scope: options.scope,
            issuers: options.issuers,
            defaultIssuer: options.defaultIssuer
        )
        let started = now()
        var entries = inventory.entries
        if let only = options.only { entries = entries.filter { only.contains($0.desired.id) } }
        for problem in inventory.problems {
            logger.warning("\(problem.reason)", metadata: ["object": "\(problem.object)"])
        }
        // Annotations with no meaning for an ACME CA: said once per run, naming the Ingress.
        for entry in entries {
            for message in entry.desired.settings.ignored {
                let ingresses = entry.desired.ingresses.map { "Ingress \(entry.desired.namespace)/\($0)" }
                warnings.add(
                    "annotation \(entry.desired.id) \(message)", "\(ingresses.joined(separator: ", ")) \(message)")
            }
        }
        var planned = plan(entries, options: options, now: started)
        warnIgnoredRenewBefore(planned)
        var (reports, due) = classify(planned, options: options)
        // ARI re-checks write records: they happen under the lock, like issuance, from fresh reads.
        let renewalInfo = RenewalInfoCheck(
            store: store, transport: transport, logger: logger, warnings: warnings,
            observer: { [observer] record in
                counter.add(record)
                observer?(record)
            }, requestTimeout: options.acmeRequestTimeout)
        let checksDue =
            !options.dryRun
            && planned.contains {
                RenewalInfoCheck.target($0.0, action: $0.1, issuers: options.issuers, now: started) != nil
            }
        var lockHeld = false
        var delivered: RunReport?
        if !due.isEmpty || checksDue {
            if try await lock.acquire() {
                let keeper = LockKeeper(lock, logger: logger, now: now)
                do {
                    if checksDue {
                        entries = await renewalInfo.refresh(
                            entries, issuers: options.issuers,
                            plan: { decide($0, options: options, now: started) }, now: started,
                            isHeld: { keeper.lostReason() == nil })
                        planned = plan(entries, options: options, now: started)
                        (reports, due) = classify(planned, options: options)
                    }
                    // Only re-checks due: no responder to start.
                    for result in due.isEmpty
                        ? [] : try await issue(due, options: options, counter: counter, keeper: keeper)
                    {
                        reports[result.desired.id] = result
                    }
                    var outcome = finish(inventory, planned, reports, lockHeld: false, counter: counter)
                    outcome.lockLost = keeper.lostReason()
                    delivered = try await deliver(
                        outcome, entries: entries, issued: due, options: options, since: started)
                } catch {
                    keeper.stop()
                    await release(lock)
                    throw error
                }
                keeper.stop()
                await release(lock)
            } else {
                lockHeld = true
                let holder = await lock.holder()
                logger.notice(
                    "another certctl run holds the lock; this one leaves the due certificates to it",
                    metadata: ["holder": "\(holder ?? "unknown")"])
                for (entry, action) in due {
                    reports[entry.desired.id] = report(entry, action, .deferred)
                }
                var outcome = finish(inventory, planned, reports, lockHeld: true, counter: counter)
                outcome.lockHolder = holder
                return try await deliver(outcome, entries: entries, issued: [], options: options, since: started)
            }
        }
        if let delivered { return delivered }
        // Nothing was due: the certificates are as read.
        let outcome = finish(inventory, planned, reports, lockHeld: lockHeld, counter: counter)
        return try await deliver(outcome, entries: entries, issued: [], options: options, since: started)
    }

    /// The run's report from its parts.
    private func finish(
        _ inventory: Inventory, _ planned: [(Inventory.Entry, PlannedAction)], _ reports: [String: CertificateReport],
        lockHeld: Bool, counter: RequestTally
    ) -> RunReport {
        RunReport(
            cluster: inventory.cluster,
            certificates: planned.compactMap { reports[$0.0.desired.id] },
            problems: inventory.problems,
            lockHeld: lockHeld,
            acmeRequests: counter.value,
            acmeRequestsByAction: counter.byAction,
            warnings: warnings.messages
        )
    }

    /// The counters, the last success, then the report stage (metrics, notifications) over the
    /// certificates as the run left them: the ones it worked on are read again, the rest are as
    /// discovered (no second read of everything).
    private func deliver(
        _ outcome: RunReport, entries: [Inventory.Entry], issued: [(Inventory.Entry, PlannedAction)],
        options: Options, since started: Date
    ) async throws -> RunReport {
        var report = outcome
        guard !options.dryRun else { return report }
        report.totals = await lock.accumulate(report.counts)
        if report.exitCode(at: now()) == 0 { await lock.recordSuccess(at: now()) }
        guard let reporter, !reporter.isEmpty else { return report }
        let touched = Set(issued.map(\.0.desired.id))
        var after: [Inventory.Entry] = []
        for entry in entries {
            guard touched.contains(entry.desired.id) else {
                after.append(entry)
                continue
            }
            let secret = try await store.secret(namespace: entry.desired.namespace, name: entry.desired.secretName)
            var pending: RenewalRecord?
            if secret == nil,
                let annotations = try await store.pendingRecord(
                    namespace: entry.desired.namespace, secretName: entry.desired.secretName)
            {
                pending = RenewalRecord(annotations: annotations)
            }
            after.append(
                Inventory.Entry(desired: entry.desired, current: secret.map(CurrentCertificate.init), pending: pending))
        }
        let time = now()
        let inventory = Inventory(cluster: report.cluster, entries: after, problems: report.problems, withoutTLS: [])
        let statuses = CertificateStatus.all(in: inventory, issuers: options.issuers, now: time)
        let elapsed = time.timeIntervalSince(started)
        do {
            try await reporter.report(
                report, statuses: statuses, duration: .milliseconds(Int(elapsed * 1000)), store: store, now: time)
        } catch {
            // The certificates are stored; an unreachable Pushgateway is the run's warning, not its failure.
            warnings.add("report", "cannot publish the metrics: \(error)")
            report.warnings = warnings.messages
        }
        return report
    }

    private func plan(_ entries: [Inventory.Entry], options: Options, now: Date) -> [(Inventory.Entry, PlannedAction)] {
        entries.map { ($0, decide($0, options: options, now: now)) }
    }

    private func decide(_ entry: Inventory.Entry, options: Options, now: Date) -> PlannedAction {
        RenewalPlan.decide(
            desired: entry.desired, current: entry.current, pending: entry.pending,
            profile: options.issuers[entry.desired.issuer]?.profile, now: now)
    }

    /// A renew-before at or above the certificate's lifetime is ignored by the plan: said once
    /// per run for each certificate, naming its Ingresses.
    private func warnIgnoredRenewBefore(_ planned: [(Inventory.Entry, PlannedAction)]) {
        for (entry, _) in planned {
            guard let summary = entry.current?.summary,
                RenewalPlan.ignoresRenewBefore(entry.desired.settings, lifetime: summary.lifetime)
            else { continue }
            let desired = entry.desired
            let ingresses = desired.ingresses.map { "Ingress \(desired.namespace)/\($0)" }.joined(separator: ", ")
            warnings.add(
                "renew-before \(desired.id)",
                "\(ingresses): cert-manager.io/renew-before \(StatusTable.duration(desired.settings.renewBefore ?? 0)) is not shorter than the \(StatusTable.duration(summary.lifetime)) lifetime of Secret \(desired.id)'s certificate; it is ignored (renewing by the lifetime rule): shorten it or remove it",
                metadata: ["secret": "\(desired.id)"])
        }
    }

    /// The reports of what is not issued now, and the certificates due for issuance.
    private func classify(_ planned: [(Inventory.Entry, PlannedAction)], options: Options)
        -> ([String: CertificateReport], [(Inventory.Entry, PlannedAction)])
    {
        var reports: [String: CertificateReport] = [:]
        var due: [(Inventory.Entry, PlannedAction)] = []
        for (entry, action) in planned {
            switch action.kind {
            case .issue where options.dryRun: reports[entry.desired.id] = report(entry, action, .planned)
            case .issue: due.append((entry, action))
            case .wait: reports[entry.desired.id] = report(entry, action, .unchanged)
            case .backOff: reports[entry.desired.id] = report(entry, action, .deferred)
            case .blocked: reports[entry.desired.id] = report(entry, action, .blocked)
            }
        }
        return (reports, due)
    }

    /// Releases the lock even when the run was cancelled (SIGTERM).
    private func release(_ lock: any RunLock) async {
        await Task { await lock.release() }.value
    }

    private func report(_ entry: Inventory.Entry, _ action: PlannedAction, _ outcome: CertificateReport.Outcome)
        -> CertificateReport
    {
        CertificateReport(
            desired: entry.desired,
            action: action,
            outcome: outcome,
            summary: entry.current?.isUsable == true ? entry.current?.summary : nil,
            nextAttempt: entry.record.nextAttempt,
            failureCount: entry.record.failureCount
        )
    }

    /// Issues every due certificate, each issuer on its own: its account, its kept orders and its
    /// certificates (`concurrency` at a time) are independent of the other issuers', so a CA that
    /// does not answer delays only its own certificates.
    private func issue(
        _ due: [(Inventory.Entry, PlannedAction)], options: Options, counter: RequestTally, keeper: LockKeeper
    ) async throws -> [CertificateReport] {
        await beforeSolving?(Set(due.map(\.0.desired.namespace)))
        let responder = try await IssueWorkflow.startResponder(options.http01Listen, logger: logger)
        let observer = self.observer
        let tally: @Sendable (ACMERequestRecord) -> Void = { record in
            counter.add(record)
            observer?(record)
        }
        let results = await withTaskGroup(of: [CertificateReport].self) { group in
            for (issuer, certificates) in Dictionary(grouping: due, by: \.0.desired.issuer) {
                group.addTask {
                    await issue(
                        certificates, issuer: issuer, options: options, tally: tally, responder: responder,
                        keeper: keeper)
                }
            }
            var all: [CertificateReport] = []
            for await reports in group { all += reports }
            return all
        }
        await responder.stop()
        return results
    }

    /// One issuer's due certificates: its account opened and its kept orders read, then
    /// `concurrency` certificates at a time, each line told to `progress` as it finishes.
    private func issue(
        _ due: [(Inventory.Entry, PlannedAction)], issuer name: String, options: Options,
        tally: @escaping @Sendable (ACMERequestRecord) -> Void, responder: HTTP01Responder, keeper: LockKeeper
    ) async -> [CertificateReport] {
        let issuer = options.issuers[name]
        var opened: (Result<ACMEClient, any Error>, [String: OrderInFlight])?
        if let issuer { opened = await openAccount(issuer, options: options, tally: tally) }
        let (client, inFlight) = (opened?.0, opened?.1 ?? [:])
        return await withTaskGroup(of: CertificateReport.self) { group in
            var results: [CertificateReport] = []
            var pending = due[...]
            func startNext() {
                guard let (entry, action) = pending.popFirst() else { return }
                let kept = inFlight[entry.desired.id]
                let progress = self.progress
                group.addTask {
                    await progress.tracking(entry.desired.id) {
                        await issueOrFail(
                            entry, action, issuer: issuer, client: client, responder: responder, options: options,
                            inFlight: kept, keeper: keeper)
                    }
                }
            }
            for _ in 0..<max(options.concurrency, 1) { startNext() }
            while let result = await group.next() {
                progress?.finished(result)
                results.append(result)
                startNext()
            }
            return results
        }
    }

    /// The issuer's ACME client on its stored (or a new) account, and the orders a killed run
    /// kept for it.
    private func openAccount(
        _ issuer: Issuer, options: Options, tally: @escaping @Sendable (ACMERequestRecord) -> Void
    ) async -> (Result<ACMEClient, any Error>, [String: OrderInFlight]) {
        let client: ACMEClient
        do {
            client = try await progress.tracking("issuer \(issuer.name)") {
                try await AccountSession.open(
                    issuer: issuer, store: accounts, secrets: secrets, transport: transport, logger: logger,
                    observer: tally, requestTimeout: options.acmeRequestTimeout)
            }
        } catch {
            logger.error("cannot use the ACME account", metadata: ["issuer": "\(issuer.name)", "error": "\(error)"])
            return (.failure(error), [:])
        }
        guard let orders else { return (.success(client), [:]) }
        do {
            let (found, problems) = try await orders.orders(for: issuer)
            for problem in problems { warnings.add("order-in-flight", problem) }
            return (.success(client), found.filter { $0.value.issuer == issuer.name })
        } catch {
            warnings.add(
                "order-in-flight",
                "cannot read the orders in flight of issuer \(issuer.name); an order a killed run finalized may be made again: \(error)"
            )
            return (.success(client), [:])
        }
    }

    /// The key of the next certificate: the Secret's own when the Ingress asks to keep it
    /// (`private-key-rotation-policy: Never`; read again, since the inventory keeps no key
    /// material) and it is the current certificate's, of the type asked; else a new one of the
    /// Ingress's type or the run's.
    private func certificateKey(for entry: Inventory.Entry, default type: KeyType) async throws -> PrivateKey {
        let wanted = entry.desired.settings.keyType ?? type
        if entry.desired.settings.keepsKey, entry.current?.isUsable == true,
            let secret = try await store.secret(namespace: entry.desired.namespace, name: entry.desired.secretName),
            let pem = secret.data?["tls.key"], let key = try? PrivateKey(pem: String(decoding: pem, as: UTF8.self)),
            CurrentCertificate(secret: secret).keyMatches
        {
            if key.type == wanted { return key }
            logger.notice(
                "the Secret's key is not of the type asked; a new key despite private-key-rotation-policy: Never",
                metadata: [
                    "secret": "\(entry.desired.id)", "has": "\(key.type.rawValue)", "asked": "\(wanted.rawValue)",
                ])
        }
        return try PrivateKey(generating: wanted)
    }

    /// One certificate, or its failure when its issuer or account is not usable.
    private func issueOrFail(
        _ entry: Inventory.Entry, _ action: PlannedAction, issuer: Issuer?, client: Result<ACMEClient, any Error>?,
        responder: HTTP01Responder, options: Options, inFlight: OrderInFlight?, keeper: LockKeeper
    ) async -> CertificateReport {
        guard let issuer, let client else {
            let error = CertctlError(
                .unknownIssuer, object: "Secret \(entry.desired.id)",
                "the issuer \(entry.desired.issuer) is not defined")
            return await failed(entry, action, error.description, error: error)
        }
        switch client {
        case .failure(let error): return await failed(entry, action, "\(error)", error: error)
        case .success(let client):
            return await issueOne(
                entry, action, issuer: issuer, client: client, responder: responder, options: options,
                inFlight: inFlight, keeper: keeper)
        }
    }

    private func issueOne(
        _ entry: Inventory.Entry,
        _ action: PlannedAction,
        issuer: Issuer,
        client: ACMEClient,
        responder: HTTP01Responder,
        options: Options,
        inFlight: OrderInFlight?,
        keeper: LockKeeper
    ) async -> CertificateReport {
        let desired = entry.desired
        var metadata: Logger.Metadata = ["secret": "\(desired.id)", "reason": "\(action.reason.rawValue)"]
        if let profile = issuer.profile, let limit = Self.profileNameLimits[profile], desired.hosts.count > limit {
            // Refused before ordering: the CA would refuse the order after its authorizations.
            let error = CertctlError(
                .invalidName, object: "Secret \(desired.id)",
                "has \(desired.hosts.count) names; Let's Encrypt's \(profile) profile takes at most \(limit): split the hosts over several secretNames or use another profile"
            )
            return await failed(entry, action, error.description, error: error)
        }
        if let host = desired.hosts.first(where: { issuer.solver(for: $0, labels: desired.labels) == nil }) {
            // Refused before ordering: no solver of the issuer would answer its authorization.
            let error = CertctlError(
                .invalidName, object: "Secret \(desired.id)",
                "\(desired.ingresses.map { "Ingress \(desired.namespace)/\($0)" }.joined(separator: ", ")) asks for \(host), which no solver of \(issuer.source) serves\(host.hasPrefix("*.") ? " (a wildcard needs a dns01 solver)" : ""): add a solver whose selector matches it"
            )
            return await failed(entry, action, error.description, error: error)
        }
        logger.info("issuing", metadata: metadata)
        var kept = inFlight != nil
        do {
            let key: PrivateKey
            let issued: IssuedCertificate
            // Without the lock, neither a new order nor a kept one picked up (it may finalize).
            try keeper.requireHeld(before: "new order")
            if let inFlight, let resumed = try await resume(inFlight, entry, issuer: issuer, client: client) {
                key = inFlight.key
                issued = resumed
                metadata["order"] = "\(inFlight.orderURL)"
                logger.notice("picked up the order a previous run had finalized", metadata: metadata)
            } else {
                kept = false
                key = try await certificateKey(for: entry, default: options.keyType)
                let replaces = RenewalPlan.replaces(
                    current: entry.current, desired: desired, account: await client.accountURL)
                var order = CertificateOrder(
                    names: desired.hosts,
                    key: key,
                    profile: issuer.profile,
                    replaces: replaces,
                    preferredChain: issuer.preferredChain
                )
                order.commonName = desired.settings.commonName
                let (now, certificateKey, orders) = (self.now, key, self.orders)
                let beforeFinalize: ACMEClient.BeforeFinalize = { orderURL in
                    try keeper.requireHeld(before: "finalize")
                    if let orders {
                        let kept = OrderInFlight(
                            certificate: desired.id, issuer: issuer.name, account: await client.accountURL,
                            orderURL: orderURL, names: desired.hosts, profile: issuer.profile, replaces: replaces,
                            key: certificateKey, since: now())
                        do {
                            try await orders.save(kept, for: issuer)
                        } catch {
                            throw CertctlError(
                                .io, object: "Secret \(desired.id)",
                                "the order was not finalized: it could not be kept first (\(error)), and a run killed after finalizing would order again"
                            )
                        }
                    }
                }
                issued = try await client.issue(
                    order, solver: solver(for: desired, issuer: issuer, responder: responder, options: options),
                    beforeFinalize: beforeFinalize)
                kept = orders != nil
            }
            try IssuedCheck.verify(issued, key: key, names: desired.hosts, now: now())
            let summary = CertificateSummary(issued.chain.leaf)
            var renewalInfo: ACMERenewalInfo?
            var renewalInfoFailed = false
            if let id = summary.ariCertificateID {
                do {
                    renewalInfo = try await client.renewalInfo(certificateID: id)
                } catch {
                    renewalInfoFailed = true
                }
            }
            var generator = SystemRandomNumberGenerator()
            var record = RecordPolicy.afterIssuance(
                previous: entry.record, issuer: desired.issuer, account: await client.accountURL,
                profile: issued.profile, orderURL: issued.orderURL,
                serial: summary.serialHex, notBefore: summary.notBefore, notAfter: summary.notAfter,
                renewalInfo: renewalInfo, now: now(), random: &generator)
            // A first renewalInfo fetch that failed is asked again at the next run.
            if renewalInfoFailed { record.ariNextCheck = now() }
            try await SecretWriter.store(desired, chain: issued.chain, key: key, record: record, in: store)
            if entry.pending != nil {
                do {
                    try await store.savePendingRecord(nil, namespace: desired.namespace, secretName: desired.secretName)
                } catch {
                    warnings.add(
                        "pending-delete",
                        "cannot remove the pending record of \(desired.id) (it is void now): \(error)",
                        metadata: ["secret": "\(desired.id)"])
                }
            }
            if kept { await forget(desired.id, issuer: issuer) }
            metadata["serial"] = "\(summary.serialHex)"
            metadata["notAfter"] = "\(RenewalRecord.format(summary.notAfter))"
            logger.notice("issued", metadata: metadata)
            let renewed = entry.current != nil
            await events?.record(
                desired,
                warning: false,
                reason: renewed ? "Renewed" : "Issued",
                note:
                    "certificate for \(desired.hosts.joined(separator: ", ")) valid until \(RenewalRecord.format(summary.notAfter)) (\(action.reason.rawValue))"
            )
            return CertificateReport(
                desired: desired, action: action, outcome: .issued, summary: summary, nextAttempt: nil, failureCount: 0)
        } catch let error as CertctlError where error.code == .lockLost {
            // Not a failure of the certificate: no record, no back-off; the next run does it.
            logger.notice("\(error.reason)", metadata: metadata)
            return report(entry, action, .deferred)
        } catch {
            // A certificate that failed its checks is not picked up again; one that could not be
            // stored is, by the next run.
            if kept, (error as? CertctlError)?.code == .issuance { await forget(desired.id, issuer: issuer) }
            return await failed(entry, action, Self.describe(error), error: error)
        }
    }

    /// Each name's solver, as the issuer selects it: HTTP-01 through `makeSolver`, DNS-01 and
    /// dns-persist-01 as configured.
    private func solver(for desired: DesiredCertificate, issuer: Issuer, responder: HTTP01Responder, options: Options)
        -> any ChallengeSolver
    {
        let (secrets, logger) = (self.secrets, self.logger)
        return CertificateSolver.make(
            desired, issuer: issuer, http01: makeSolver(responder, desired),
            dns01: { configuration in
                DNS01Solver(
                    configuration: configuration, issuer: issuer.source, secrets: secrets,
                    checkServers: options.dns01CheckServers, propagationTimeout: options.dns01PropagationTimeout,
                    logger: logger)
            },
            dnsPersist01: { configuration in
                DNSPersistSolver(
                    configuration: configuration, issuer: issuer.source, checkServers: options.dns01CheckServers,
                    logger: logger)
            })
    }

    /// The certificate of an order a killed run finalized, when that order is this
    /// certificate's (same names, issuer and account), recent (an order expires after days, and
    /// the CA's duplicate limit counts a week) and gives a certificate newer than the Secret's.
    /// Otherwise nil, and the kept order is forgotten.
    /// A CA that does not answer fails the certificate (the order is kept for the next run):
    /// ordering anew while a finalized order may still give the certificate is what must not happen.
    private func resume(_ kept: OrderInFlight, _ entry: Inventory.Entry, issuer: Issuer, client: ACMEClient)
        async throws -> IssuedCertificate?
    {
        let desired = entry.desired
        let metadata: Logger.Metadata = ["secret": "\(desired.id)", "order": "\(kept.orderURL)"]
        let sameNames =
            Set(ACMEClient.identifiers(for: kept.names)) == Set(ACMEClient.identifiers(for: desired.hosts))
        let current = await client.accountURL
        guard sameNames, kept.account == current, now().timeIntervalSince(kept.since) < Self.orderLifetime else {
            logger.info("the order a previous run kept is not this certificate's any more", metadata: metadata)
            await forget(desired.id, issuer: issuer)
            return nil
        }
        let order = CertificateOrder(
            names: desired.hosts, key: kept.key, profile: kept.profile, replaces: kept.replaces,
            preferredChain: issuer.preferredChain)
        guard let resumed = try await client.resume(orderURL: kept.orderURL, order) else {
            await forget(desired.id, issuer: issuer)
            return nil
        }
        if let stored = entry.current?.summary, stored.notBefore >= CertificateSummary(resumed.chain.leaf).notBefore {
            // The Secret already holds this certificate (or a newer one): the order was stored.
            logger.info("the order a previous run kept was stored already", metadata: metadata)
            await forget(desired.id, issuer: issuer)
            return nil
        }
        return resumed
    }

    /// Forgets the kept order of `certificate`; a failure is a warning (the next run finds the
    /// certificate stored and forgets it then).
    private func forget(_ certificate: String, issuer: Issuer) async {
        guard let orders else { return }
        do {
            try await orders.remove(certificate: certificate, for: issuer)
        } catch {
            warnings.add(
                "order-in-flight", "cannot remove the kept order of \(certificate) (it is void now): \(error)",
                metadata: ["secret": "\(certificate)"])
        }
    }

    /// How long a kept order is worth picking up: Let's Encrypt's orders live 7 days, and its
    /// duplicate-certificate limit counts the same 7 days.
    static let orderLifetime: TimeInterval = 7 * 86400

    /// Records a failure on the Secret (never touching its certificate) with its back-off.
    private func failed(_ entry: Inventory.Entry, _ action: PlannedAction, _ message: String, error: (any Error)? = nil)
        async -> CertificateReport
    {
        let time = now()
        let kind = error.map(FailureKind.of) ?? .other
        let record = RecordPolicy.afterFailure(
            entry.record, kind: kind, message: message, retryAfter: (error as? ACMEError)?.retryAfter, now: time)
        let next = record.nextAttempt ?? time
        // The back-off holds only if it is stored: a run never claims a next attempt it did not keep.
        var stored: Date? = next
        do {
            try await SecretWriter.storeRecordOrPending(record, for: entry.desired, in: store)
        } catch {
            stored = nil
            warnings.add(
                "record", "cannot store the failure record of \(entry.desired.id), so no back-off holds: \(error)",
                metadata: ["secret": "\(entry.desired.id)"])
        }
        logger.error(
            "renewal failed",
            metadata: [
                "secret": "\(entry.desired.id)", "error": "\(message)", "kind": "\(kind.rawValue)",
                "nextAttempt": "\(stored.map(RenewalRecord.format) ?? "not stored: the next run tries again")",
            ]
        )
        let stillValid = entry.current?.isValid(at: time) ?? false
        await events?.record(
            entry.desired,
            warning: true,
            reason: "Failed",
            note: "[\(kind.rawValue)] \(message); next attempt \(stored.map(RenewalRecord.format) ?? "at the next run")"
        )
        var report = CertificateReport(
            desired: entry.desired,
            action: action,
            outcome: .failed(message, stillValid: stillValid),
            summary: entry.current?.isUsable == true ? entry.current?.summary : nil,
            nextAttempt: stored,
            failureCount: record.failureCount
        )
        report.failureKind = kind
        return report
    }

    /// Names per certificate of Let's Encrypt's profiles that take fewer than the order limit.
    static let profileNameLimits = ["tlsserver": 25, "shortlived": 25]

    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as ACMEError: error.description
        case let error as CertctlError: error.description
        default: "\(error)"
        }
    }
}

/// Counts ACME requests across concurrent issuances, by action and status.
final class RequestTally: Sendable {
    private let counts = Mutex<[CertificateMetrics.RequestKey: Int]>([:])

    func add(_ record: ACMERequestRecord) {
        let key = CertificateMetrics.RequestKey(
            action: record.action, status: record.status.map(String.init) ?? "error")
        counts.withLock { $0[key, default: 0] += 1 }
    }

    var value: Int { counts.withLock { $0.values.reduce(0, +) } }
    var byAction: [CertificateMetrics.RequestKey: Int] { counts.withLock { $0 } }
}
