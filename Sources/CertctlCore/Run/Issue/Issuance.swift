import ACME
import Basics
import Certificates
public import Foundation
import Kubernetes
import Logging
import Synchronization
import Transport

/// What the issue stage made of one due certificate: a checked certificate and its key, a
/// typed failure, or nothing because the run lost its lock. It writes no Secret and no record:
/// ``CertificateStorage`` stores what it returns.
enum IssuanceResult: Sendable {
    case issued(IssuedValue)
    case failed(CertificateFailure)
    /// Not attempted, or stopped before finalize: the run lost its lock (the reason).
    case deferred(String)
    /// Not sent: the CA's limits hold it (a `rateLimited` answer to another order of this run,
    /// or a fallback's own limits). No failure: nothing was asked of the CA.
    case limited(RateBudget.Deferral)
}

/// A certificate the CA issued and the checks passed, with what its record needs.
struct IssuedValue: Sendable {
    var certificate: IssuedCertificate
    var key: PrivateKey
    /// The account that ordered it (its URL).
    var account: String?
    /// The CA's renewal window for it; nil without ARI or when the fetch failed.
    var renewalInfo: ACMERenewalInfo?
    /// The renewalInfo fetch failed: asked again at the next run.
    var renewalInfoFailed: Bool
    /// It came from (or went through) a kept order, which is void once it is stored.
    var keptOrder: Bool
    /// When the dns-persist-01 records that authorized its names expire (`persistUntil`).
    var persistUntil: Date?
    /// The issuer that issued it: the certificate's own, or a fallback.
    var issuer: Issuer
    /// Set when a fallback issued it: the certificate's own issuer, and why it could not.
    var fallback: FallbackUse?
}

/// An issuance that failed, as a value: its kind, the message for the record and the operator,
/// and the CA's word on when to try again.
public struct CertificateFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var kind: FailureKind
    public var message: String
    public var retryAfter: Date?
    /// The certificate failed its checks after a kept order gave it: forget that order.
    var voidsKeptOrder = false
    /// Set while no CA was asked: the limits alone hold it (the last issuer's deferral).
    var held: RateBudget.Deferral?
    /// The key of the issuer whose failure it is (`NAME`, `NAMESPACE/NAME`: the last tried, when
    /// fallbacks were tried too).
    var issuer: String?

    public var description: String { "[\(kind.rawValue)] \(message)" }

    init(_ error: any Error, voidsKeptOrder: Bool = false) {
        kind = FailureKind.of(error)
        message = Self.describe(error)
        retryAfter = (error as? ACMEError)?.retryAfter
        self.voidsKeptOrder = voidsKeptOrder
    }

    init(kind: FailureKind, message: String) {
        self.kind = kind
        self.message = message
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as ACMEError: error.description
        case let error as CertctlError: error.description
        default: "\(error)"
        }
    }
}

/// The issue stage: each issuer on its own (its account, its kept orders, `concurrency` of its
/// certificates at a time), so a CA that does not answer delays only its own certificates. It
/// reads the cluster only through ``ClusterReader`` (a key kept under
/// `private-key-rotation-policy: Never`) and the kept orders through ``OrderReader``: a write
/// from here does not compile. An order must be kept beside the account before it is finalized,
/// so that a run killed then does not order again: the store stage does that, handed in as
/// ``KeptOrderWriter``.
struct Issuance: Sendable {
    var reader: any ClusterReader
    var accounts: any AccountStore
    var secrets: any SecretValueSource
    var orders: (any OrderReader)?
    /// The store stage, for the orders kept before finalize and forgotten once void.
    var keptOrders: any KeptOrderWriter
    var transport: any HTTPTransport
    var logger: Logger
    var warnings: RunWarnings
    var observer: @Sendable (ACMERequestRecord) -> Void
    var progress: (any RunProgress)?
    var now: @Sendable () -> Date
    var options: CertificateRun.Options
    var keeper: LockKeeper
    /// Every certificate the read found in scope (`namespace/secret`): an order kept for one
    /// that is no longer among them is forgotten when its issuer's orders are read.
    var wanted: Set<String> = []
    /// The issuers' rate budgets: what each order spent is told them, and a fallback with
    /// limits admits a certificate before it is ordered there. They store nothing from here.
    var budgets: any RateSpending
    /// The certificates the plan sent to their fallbacks because their own CA's limits hold them.
    var limited: [String: RateBudget.Deferral] = [:]

    /// Issues `due`, handing each result to `store` as it comes and telling `progress` the
    /// report it returns; the reports of all, in no particular order.
    func run(
        _ due: [(Inventory.Entry, PlannedAction)], http01: HTTP01Session,
        store: @escaping @Sendable (Inventory.Entry, PlannedAction, IssuanceResult) async -> CertificateReport
    ) async -> [CertificateReport] {
        let accounts = OpenedAccounts()
        return await withTaskGroup(of: [CertificateReport].self) { group in
            for (issuer, certificates) in Dictionary(grouping: due, by: \.0.desired.issuerKey) {
                group.addTask {
                    await run(certificates, issuer: issuer, accounts: accounts, http01: http01, store: store)
                }
            }
            var all: [CertificateReport] = []
            for await reports in group { all += reports }
            return all
        }
    }

    /// One issuer's due certificates, `concurrency` at a time; each issuer's account is opened
    /// (and its kept orders read) once, by the first certificate that needs it.
    private func run(
        _ due: [(Inventory.Entry, PlannedAction)], issuer key: IssuerKey, accounts: OpenedAccounts,
        http01: HTTP01Session,
        store: @escaping @Sendable (Inventory.Entry, PlannedAction, IssuanceResult) async -> CertificateReport
    ) async -> [CertificateReport] {
        let issuer = options.issuers[key]
        return await withTaskGroup(of: CertificateReport.self) { group in
            var results: [CertificateReport] = []
            var pending = due[...]
            func startNext() {
                guard let (entry, action) = pending.popFirst() else { return }
                group.addTask {
                    await progress.tracking(entry.desired.id) {
                        let result = await issue(entry, action, issuer: issuer, accounts: accounts, http01: http01)
                        return await store(entry, action, result)
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

    /// One certificate by one issuer (its own, or a fallback standing in for it): refused before
    /// ordering when no order could succeed, else ordered (or picked up from a kept order) and
    /// checked.
    func issue(
        _ entry: Inventory.Entry, _ action: PlannedAction, by issuer: Issuer, accounts: OpenedAccounts,
        http01: HTTP01Session, fallback: FallbackUse?
    ) async -> IssuanceResult {
        let result = await attempt(entry, action, by: issuer, accounts: accounts, http01: http01, fallback: fallback)
        // What it spent of the CA's limits replaces what the budget reserved for it.
        await budgets.settle(certificate: entry.desired.id, issuer: issuer)
        return result
    }

    private func attempt(
        _ entry: Inventory.Entry, _ action: PlannedAction, by issuer: Issuer, accounts: OpenedAccounts,
        http01: HTTP01Session, fallback: FallbackUse?
    ) async -> IssuanceResult {
        let desired = entry.desired
        if let refusal = Self.refusal(desired, issuer: issuer) { return .failed(CertificateFailure(refusal)) }
        let (client, kept) = await accounts.open(issuer, with: self)
        let inFlight = kept[desired.id]
        switch client {
        case .failure(let failure):
            // An account not opened because the lock was lost: the next run's, not a failure.
            if let lost = keeper.lostReason() {
                return .deferred("this run lost its lock (\(lost)); the next run does the rest")
            }
            return .failed(failure)
        case .success(let client):
            return await issue(
                entry, action, by: issuer, client: client, inFlight: inFlight, http01: http01, fallback: fallback)
        }
    }

    /// One certificate from an opened account: a kept order picked up, else a new order, checked.
    private func issue(
        _ entry: Inventory.Entry, _ action: PlannedAction, by issuer: Issuer, client: ACMEClient,
        inFlight: OrderInFlight?, http01: HTTP01Session, fallback: FallbackUse?
    ) async -> IssuanceResult {
        let desired = entry.desired
        var metadata: Logger.Metadata = ["secret": "\(desired.id)", "reason": "\(action.reason.rawValue)"]
        logger.info("issuing", metadata: metadata)
        var kept = inFlight != nil
        do {
            // Without the lock, neither a new order nor a kept one picked up (it may finalize).
            try keeper.requireHeld(before: "new order")
            let (certificate, key): (IssuedCertificate, PrivateKey)
            let deadlines = PersistDeadlines()
            if let inFlight, let resumed = try await resume(inFlight, entry, issuer: issuer, client: client) {
                (certificate, key) = (resumed, inFlight.key)
                metadata["order"] = "\(inFlight.orderURL)"
                logger.notice("picked up the order a previous run had finalized", metadata: metadata)
            } else if let held = await budgets.recheck(certificate: desired.id, issuer: issuer) {
                // Refused at the CA for another certificate of this run: this one is not sent.
                return .limited(held)
            } else {
                kept = false
                (certificate, key) = try await order(
                    entry, issuer: issuer, client: client, http01: http01, deadlines: deadlines)
                kept = keptOrders.keepsOrders
            }
            try IssuedCheck.verify(certificate, key: key, names: desired.hosts, now: now())
            return .issued(
                await withRenewalInfo(
                    IssuedValue(
                        certificate: certificate, key: key, account: await client.accountURL, renewalInfo: nil,
                        renewalInfoFailed: false, keptOrder: kept, persistUntil: deadlines.earliest, issuer: issuer,
                        fallback: fallback), client: client))
        } catch let error as CertctlError where error.code == .lockLost {
            logger.notice("\(error.reason)", metadata: metadata)
            return .deferred(error.reason)
        } catch  where keeper.lostReason() != nil {
            // Whatever failed once the lock was lost (a write refused, a challenge cleaned
            // up by the new holder) is the next run's to do, not a failure to record.
            let reason = "this run lost its lock (\(keeper.lostReason() ?? "")); the next run does the rest"
            logger.notice("\(reason)", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            return .deferred(reason)
        } catch {
            // A certificate that failed its checks is not picked up again; one that could not
            // be stored is, by the next run.
            return .failed(
                CertificateFailure(error, voidsKeptOrder: kept && (error as? CertctlError)?.code == .issuance))
        }
    }

    /// `value` with the CA's renewal window for its certificate, when the CA has ARI; a fetch
    /// that fails is asked again by the next run.
    private func withRenewalInfo(_ value: IssuedValue, client: ACMEClient) async -> IssuedValue {
        guard let id = CertificateSummary(value.certificate.chain.leaf).ariCertificateID else { return value }
        var value = value
        do {
            value.renewalInfo = try await client.renewalInfo(certificateID: id)
        } catch {
            value.renewalInfoFailed = true
        }
        return value
    }

    static func namespace(of id: String) -> String {
        String(id.split(separator: "/", maxSplits: 1).first ?? "")
    }

    /// Why `desired` cannot be ordered from `issuer` at all, found before ordering: more names
    /// than its profile takes, or a name none of its solvers serves.
    static func refusal(_ desired: DesiredCertificate, issuer: Issuer) -> CertctlError? {
        if let profile = issuer.profile, let limit = profileNameLimits[profile], desired.hosts.count > limit {
            return CertctlError(
                .invalidName, object: "Secret \(desired.id)",
                "has \(desired.hosts.count) names; Let's Encrypt's \(profile) profile takes at most \(limit): split the hosts over several secretNames or use another profile"
            )
        }
        if let host = desired.hosts.first(where: { issuer.solver(for: $0, labels: desired.labels) == nil }) {
            return CertctlError(
                .invalidName, object: "Secret \(desired.id)",
                "\(desired.sourceList) asks for \(host), which no solver of \(issuer.source) serves\(host.hasPrefix("*.") ? " (a wildcard needs a dns01 solver)" : ""): add a solver whose selector matches it"
            )
        }
        return nil
    }

    /// Names per certificate of Let's Encrypt's profiles that take fewer than the order limit.
    static let profileNameLimits = ["tlsserver": 25, "shortlived": 25]

    /// A new order, its key, and the order kept beside the account before it is finalized.
    private func order(
        _ entry: Inventory.Entry, issuer: Issuer, client: ACMEClient, http01: HTTP01Session,
        deadlines: PersistDeadlines
    ) async throws -> (IssuedCertificate, PrivateKey) {
        let desired = entry.desired
        let key = try await certificateKey(for: entry)
        let replaces = RenewalPlan.replaces(
            current: entry.current, desired: desired, issuer: issuer.name, account: await client.accountURL)
        var order = CertificateOrder(
            names: desired.hosts, key: key, profile: issuer.profile, replaces: replaces,
            preferredChain: issuer.preferredChain)
        order.commonName = desired.settings.commonName
        let (now, keptOrders, keeper) = (self.now, self.keptOrders, self.keeper)
        let beforeFinalize: ACMEClient.BeforeFinalize = { orderURL in
            try keeper.requireHeld(before: "finalize")
            guard keptOrders.keepsOrders else { return }
            let kept = OrderInFlight(
                certificate: desired.id, issuer: issuer.name, account: await client.accountURL, orderURL: orderURL,
                names: desired.hosts, profile: issuer.profile, replaces: replaces, key: key, since: now())
            do {
                try await keptOrders.keep(kept, for: issuer)
            } catch {
                throw CertctlError(
                    .io, object: "Secret \(desired.id)",
                    "the order was not finalized: it could not be kept first (\(error)), and a run killed after finalizing would order again"
                )
            }
        }
        let budgets = self.budgets
        // What the CA took: `replaces` may be dropped (a CA that refused it), and then it counts.
        let sent = Mutex<Bool>(replaces != nil)
        let issued: IssuedCertificate
        do {
            issued = try await client.issue(
                order, solver: solver(for: desired, issuer: issuer, http01: http01, deadlines: deadlines),
                placed: { replaced in
                    sent.withLock { $0 = replaced }
                    await budgets.spend(.order(replaces: replaced), certificate: desired.id, issuer: issuer)
                }, beforeFinalize: beforeFinalize)
        } catch let error as ACMEError where error.isRateLimited {
            // Another cluster may share the registered domain, or the account: the CA's count holds.
            await budgets.spend(
                .refusal(detail: error.problem?.detail, retryAfter: error.retryAfter, names: desired.hosts),
                certificate: desired.id, issuer: issuer)
            throw error
        }
        await budgets.spend(
            .certificate(names: desired.hosts, replaces: sent.withLock { $0 }), certificate: desired.id, issuer: issuer)
        return (issued, key)
    }

    /// The key of the next certificate: the Secret's own when the Ingress asks to keep it
    /// (`private-key-rotation-policy: Never`; read again, since the inventory keeps no key
    /// material) and it is the current certificate's, of the type asked; else a new one of the
    /// Ingress's type or the run's (always a new one after `certctl revoke`).
    private func certificateKey(for entry: Inventory.Entry) async throws -> PrivateKey {
        let wanted = entry.desired.settings.keyType ?? options.keyType
        // A revoked certificate's key is never kept: its replacement gets a new one.
        let revoked =
            entry.record.revokedSerial != nil && entry.record.revokedSerial == entry.current?.summary?.serialHex
        if entry.desired.settings.keepsKey, !revoked, entry.current?.isUsable == true,
            let secret = try await reader.secret(namespace: entry.desired.namespace, name: entry.desired.secretName),
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

    /// Each name's solver, as the issuer selects it: HTTP-01 through the run's responder, DNS-01
    /// and dns-persist-01 as configured.
    private func solver(
        for desired: DesiredCertificate, issuer: Issuer, http01: HTTP01Session, deadlines: PersistDeadlines
    ) -> any ChallengeSolver {
        let (secrets, logger, options) = (self.secrets, self.logger, self.options)
        return CertificateSolver.make(
            desired, issuer: issuer,
            http01: http01.solver(
                for: desired, settings: issuer.http01Solver(for: desired.hosts, labels: desired.labels)),
            dns01: { configuration in
                DNS01Solver(
                    configuration: configuration, issuer: issuer.source, secrets: secrets,
                    checkServers: options.dns01CheckServers, propagationTimeout: options.dns01PropagationTimeout,
                    logger: logger)
            },
            dnsPersist01: { configuration in
                DNSPersistSolver(
                    configuration: configuration, issuer: issuer.source, checkServers: options.dns01CheckServers,
                    logger: logger, deadlines: deadlines)
            })
    }
}
