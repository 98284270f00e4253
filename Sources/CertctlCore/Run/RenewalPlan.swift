import Certificates
public import Foundation
import Kubernetes

/// What a run does with one certificate, and why (the README's "certctl run", step 2).
public struct PlannedAction: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Order a certificate now.
        case issue
        /// Nothing to do before `until` (the renewal time).
        case wait(until: Date)
        /// Due, but a failure or rate limit says not before `until`: no ACME request now.
        case backOff(until: Date)
        /// Cannot be issued until the operator acts (a Secret of another type).
        case blocked
    }

    public enum Reason: String, Sendable, Equatable {
        case missing = "no Secret yet"
        case unreadable = "the Secret's certificate or key is unreadable"
        case keyMismatch = "the key does not match the certificate"
        case namesChanged = "the hosts changed"
        case issuerChanged = "the issuer changed"
        case profileChanged = "the profile changed"
        case expired = "expired"
        case renewRequested = "renewal requested"
        case ariWindow = "in the CA's renewal window (ARI)"
        case lifetimeThreshold = "past its renewal time"
        case renewBefore = "within the Ingress's renew-before"
        case keyChanged = "the Ingress asks for another key type"
        case notDue = "not due"
        case wrongType = "the Secret has another type"
    }

    public var kind: Kind
    public var reason: Reason
    /// When the current certificate is to be renewed (shown as "renews at").
    public var renewalTime: Date?

    public var isIssue: Bool { kind == .issue }

    public init(kind: Kind, reason: Reason, renewalTime: Date?) {
        self.kind = kind
        self.reason = reason
        self.renewalTime = renewalTime
    }
}

/// The renewal rules as pure functions of (desired, current, now, stored state), so they are
/// tested as tables.
public enum RenewalPlan {
    /// Renew at 2/3 of the lifetime, or 1/2 when the lifetime is under 10 days (RFC 9773 §4.2 for the ARI case; the README's step 2).
    public static func defaultRenewalTime(notBefore: Date, notAfter: Date) -> Date {
        let lifetime = notAfter.timeIntervalSince(notBefore)
        let fraction = lifetime < 10 * 86_400 ? 1.0 / 2.0 : 2.0 / 3.0
        return notBefore.addingTimeInterval(lifetime * fraction)
    }

    /// The latest renewal the Ingress's `renew-before` and `renew-before-percentage` allow (the
    /// earlier of the two), nil when it has neither.
    static func latestRenewal(_ settings: CertificateSettings, notBefore: Date, notAfter: Date) -> Date? {
        let lifetime = notAfter.timeIntervalSince(notBefore)
        let times = [
            settings.renewBefore.map { notAfter.addingTimeInterval(-$0) },
            settings.renewBeforeShare.map { notAfter.addingTimeInterval(-lifetime * $0) },
        ].compactMap { $0 }
        return times.min()
    }

    /// Back-off after `failures` consecutive failures: 1 h doubling to 32 h.
    public static func backOff(failures: Int) -> TimeInterval {
        guard failures > 0 else { return 0 }
        return 3600 * pow(2, Double(min(failures - 1, 5)))
    }

    /// The decision for one certificate.
    /// - Parameters:
    ///   - profile: the issuer's configured profile, compared with the one recorded.
    public static func decide(
        desired: DesiredCertificate,
        current: CurrentCertificate?,
        pending: RenewalRecord? = nil,
        profile: String?,
        now: Date
    ) -> PlannedAction {
        let record = current?.record ?? pending ?? RenewalRecord()
        func due(_ reason: PlannedAction.Reason, renewalTime: Date? = nil) -> PlannedAction {
            if let nextAttempt = record.nextAttempt, nextAttempt > now {
                return PlannedAction(kind: .backOff(until: nextAttempt), reason: reason, renewalTime: renewalTime)
            }
            return PlannedAction(kind: .issue, reason: reason, renewalTime: renewalTime)
        }
        guard let current else { return due(.missing) }
        if current.secret.type != "kubernetes.io/tls" {
            return PlannedAction(kind: .blocked, reason: .wrongType, renewalTime: nil)
        }
        guard let summary = current.summary, current.hasKey else { return due(.unreadable) }
        // Times recorded for another certificate (the Secret was replaced by hand) do not count.
        let recordIsCurrent = record.serial == nil || record.serial == summary.serialHex
        let recorded = recordIsCurrent ? record.renewalTime : nil
        let chosen = recorded ?? defaultRenewalTime(notBefore: summary.notBefore, notAfter: summary.notAfter)
        // The Ingress's renew-before(-percentage) can only make it earlier (README "Moving from cert-manager").
        let latest = latestRenewal(desired.settings, notBefore: summary.notBefore, notAfter: summary.notAfter)
        let renewalTime = latest.map { min($0, chosen) } ?? chosen
        if !current.keyMatches { return due(.keyMismatch, renewalTime: renewalTime) }
        if summary.notAfter <= now { return due(.expired, renewalTime: renewalTime) }
        if Set(desired.hosts) != summary.names { return due(.namesChanged, renewalTime: renewalTime) }
        if let issuer = current.issuerName, issuer != desired.issuer {
            return due(.issuerChanged, renewalTime: renewalTime)
        }
        if let profile, record.profile != profile { return due(.profileChanged, renewalTime: renewalTime) }
        if let wanted = desired.settings.keyType, let has = summary.keyType, has != wanted {
            return due(.keyChanged, renewalTime: renewalTime)
        }
        if record.renewRequested { return due(.renewRequested, renewalTime: renewalTime) }
        if renewalTime <= now {
            let fromARI = recordIsCurrent && record.ariWindowStart != nil
            if let latest, latest < chosen { return due(.renewBefore, renewalTime: renewalTime) }
            return due(fromARI ? .ariWindow : .lifetimeThreshold, renewalTime: renewalTime)
        }
        return PlannedAction(kind: .wait(until: renewalTime), reason: .notDue, renewalTime: renewalTime)
    }
}
