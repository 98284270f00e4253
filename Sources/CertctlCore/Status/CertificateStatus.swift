import Basics
public import Certificates
public import Foundation

/// One certificate as `certctl status`, the metrics and the exporter show it.
public struct CertificateStatus: Sendable {
    /// Most urgent first.
    public enum State: String, Sendable, CaseIterable, Comparable {
        case expired = "Expired"
        case missing = "Missing"
        case invalid = "Invalid"
        case expiring = "Expiring"
        case failing = "Failing"
        case due = "Due"
        case renewing = "Renewing"
        case ready = "Ready"

        var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }

        public static func < (lhs: State, rhs: State) -> Bool { lhs.rank < rhs.rank }

        /// 2 critical, 1 warning, 0 fine (the exit code of `certctl status`).
        public var severity: Int32 {
            switch self {
            case .expired, .missing, .invalid, .expiring: 2
            case .failing: 1
            case .due, .renewing, .ready: 0
            }
        }
    }

    public var cluster: String
    @Boxed public var desired: DesiredCertificate
    public var state: State
    @Boxed public var summary: CertificateSummary?
    /// certctl's record of it (empty when certctl never wrote one; boxed only when not).
    @BoxedUnlessEmpty public var record: RenewalRecord
    public var renewalTime: Date?
    /// What the next run does with it, and why (`certctl status SECRET` explains it).
    public var action: PlannedAction
    /// The profile the issuer asks for now (the record's is the one it was issued under).
    public var issuerProfile: String?
    /// What is wrong, in a few words (the Secret's problem or the last failure).
    public var problem: String?
    public var chainIssuer: String?

    /// Classifies an inventory entry at `now`.
    /// `fallbacks`: whether its issuer has fallback issuers.
    public init(cluster: String, entry: Inventory.Entry, profile: String?, fallbacks: Bool = false, now: Date) {
        self.cluster = cluster
        desired = entry.desired
        let record = entry.record
        self.record = record
        let action = RenewalPlan.decide(
            desired: entry.desired, current: entry.current, pending: entry.pending, profile: profile,
            fallbacks: fallbacks, now: now)
        renewalTime = action.renewalTime
        self.action = action
        issuerProfile = profile
        guard let current = entry.current else {
            state = .missing
            summary = nil
            problem = record.lastFailure ?? "no Secret yet"
            return
        }
        let usable = current.isUsable ? current.summary : nil
        summary = usable
        chainIssuer = current.chainIssuer
        if !current.isUsable {
            state = .invalid
            problem = current.problems.first
            return
        }
        guard let summary = usable else {
            state = .invalid
            return
        }
        if summary.notAfter <= now {
            state = .expired
        } else if summary.notAfter.timeIntervalSince(now) < summary.lifetime / 10 {
            state = .expiring
        } else if record.failureCount > 0 || action.kind == .blocked {
            state = .failing
        } else if record.renewRequested {
            state = .renewing
        } else if action.isIssue || action.isHeld {
            state = .due
        } else {
            state = .ready
        }
        if action.kind == .blocked {
            problem = SecretBlock.explanation(action.reason)
            return
        }
        problem = record.lastFailure ?? (action.isIssue && action.reason != .notDue ? action.reason.rawValue : nil)
        if problem == nil, let fallback = fallbackIssuer {
            // In a few words: `certctl status SECRET` gives the reason in full.
            let reason = (record.fallbackReason ?? "no reason recorded").trimmingPrefix("\(desired.issuer): ")
            problem =
                "fallback \(fallback) issued it: \(desired.issuer) could not (\(Bounded.excerpt(reason, limit: 72))); its next renewal goes back to it"
        }
        if let warning = Self.persistWarning(record, summary: summary, desired: desired, now: now) {
            if state > .failing { state = .failing }
            if record.lastFailure == nil { problem = warning }
        }
    }

    /// The dns-persist-01 records that authorized this certificate expire (`persistUntil`)
    /// within a certificate's lifetime from now: its renewal would fail. What to do, or nil.
    public static func persistWarning(
        _ record: RenewalRecord, summary: CertificateSummary, desired: DesiredCertificate, now: Date
    ) -> String? {
        guard let until = record.dnsPersistUntil, record.serial == summary.serialHex,
            until.timeIntervalSince(now) < summary.lifetime
        else { return nil }
        let name = desired.hosts.first ?? desired.secretName
        return
            "its dns-persist-01 record expires at \(RenewalRecord.format(until)) (persistUntil), within a certificate's lifetime: publish it again (certctl dns-persist-record --issuer \(desired.issuer) -d \(name))"
    }

    /// The fallback issuer that issued the certificate the Secret holds, standing in for the
    /// certificate's own (README, "When the CA fails"); nil when its own issued it.
    public var fallbackIssuer: String? {
        guard let summary, record.standsIn(for: desired.issuerKey), record.serial == summary.serialHex else {
            return nil
        }
        return record.issuer
    }

    /// The issuer as tables show it: `letsencrypt-prod/classic`, or `zerossl (fallback)` while a
    /// fallback's certificate stands in.
    public var issuerLabel: String {
        (fallbackIssuer.map { "\($0) (fallback)" } ?? desired.issuer) + (record.profile.map { "/\($0)" } ?? "")
    }

    /// Seconds left, negative once expired.
    public func timeLeft(at now: Date) -> TimeInterval? {
        summary.map { $0.notAfter.timeIntervalSince(now) }
    }

    /// The share of the lifetime left, 0...1.
    public func lifetimeLeft(at now: Date) -> Double? {
        guard let summary, summary.lifetime > 0 else { return nil }
        return max(0, min(1, summary.notAfter.timeIntervalSince(now) / summary.lifetime))
    }
}

extension CertificateStatus {
    /// Every certificate of `inventory`, most urgent first, then by time left.
    /// - Parameter ledgers: the accounts' rate ledgers by issuer: what the CA's limits hold back
    ///   is shown so (``applyBudgets(_:entries:issuers:ledgers:now:)``).
    public static func all(
        in inventory: Inventory, issuers: [IssuerKey: Issuer], ledgers: [IssuerKey: RateLedger] = [:], now: Date
    ) -> [CertificateStatus] {
        var statuses = inventory.entries.map { entry in
            let issuer = issuers[entry.desired.issuerKey]
            return CertificateStatus(
                cluster: inventory.cluster, entry: entry, profile: issuer?.profile,
                fallbacks: issuer?.fallback.isEmpty == false, now: now)
        }
        applyBudgets(&statuses, entries: inventory.entries, issuers: issuers, ledgers: ledgers, now: now)
        return statuses.sorted { urgency($0, $1, now: now) }
    }

    /// Several clusters' certificates in one list, most urgent first.
    public static func merged(_ lists: [[CertificateStatus]], now: Date) -> [CertificateStatus] {
        lists.flatMap { $0 }.sorted { urgency($0, $1, now: now) }
    }

    static func urgency(_ lhs: CertificateStatus, _ rhs: CertificateStatus, now: Date) -> Bool {
        if lhs.state != rhs.state { return lhs.state < rhs.state }
        let left = lhs.timeLeft(at: now) ?? -.infinity
        let right = rhs.timeLeft(at: now) ?? -.infinity
        if left != right { return left < right }
        return (lhs.cluster, lhs.desired.id) < (rhs.cluster, rhs.desired.id)
    }
}
