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
        /// Due, but ordering it now would go past its issuer's CA limits (README, "When the CA
        /// fails"): it waits for them, with no ACME request. Boxed: rare, and the plan of ten
        /// thousand is the size of the common case.
        indirect case limited(RateBudget.Deferral)
        /// Cannot be issued until the operator acts (a Secret of another type, immutable, being
        /// deleted): nothing is ordered that could not be stored.
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
        case revoked = "revoked (certctl revoke)"
        case revocationAsked = "revocation asked (certctl revoke), not yet done"
        case ariWindow = "in the CA's renewal window (ARI)"
        case lifetimeThreshold = "past its renewal time"
        case renewBefore = "within the Ingress's renew-before"
        case keyChanged = "the Ingress asks for another key type"
        case notDue = "not due"
        case wrongType = "the Secret has another type"
        case immutable = "the Secret is immutable"
        case deleting = "the Secret is being deleted"
    }

    public var kind: Kind
    public var reason: Reason
    /// When the current certificate is to be renewed (shown as "renews at").
    public var renewalTime: Date?
    /// No time left to wait for one CA: there is no usable certificate, or it is inside its
    /// safety margin (``RenewalPlan/safetyMargin(lifetime:)``). Only such a certificate is
    /// issued by a fallback issuer when its own cannot (README, "When the CA fails").
    public var urgent: Bool
    /// Its own issuer's CA failed it and holds it back until then, while it is urgent and has
    /// fallbacks: it is issued now, by the fallbacks alone.
    public var ownIssuerBacksOff: Date?

    public var isIssue: Bool { kind == .issue }

    /// Due, but held back: by a back-off, a Retry-After, or the CA's limits.
    public var isHeld: Bool {
        switch kind {
        case .backOff, .limited: true
        case .issue, .wait, .blocked: false
        }
    }

    public init(kind: Kind, reason: Reason, renewalTime: Date?, urgent: Bool = false, ownIssuerBacksOff: Date? = nil) {
        self.kind = kind
        self.reason = reason
        self.renewalTime = renewalTime
        self.urgent = urgent
        self.ownIssuerBacksOff = ownIssuerBacksOff
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

    /// How long before `notAfter` a renewal is due at the latest, whatever the record or the CA's
    /// window says: a tenth of the lifetime, and at least an hour (a third of the lifetime
    /// below three hours). A CronJob every 15 minutes then has at least four runs to renew a
    /// certificate before it expires, and a 6-day certificate 14 hours; a window that ends at
    /// `notAfter` (as Pebble's does for short certificates) is never taken to its last seconds.
    public static func safetyMargin(lifetime: TimeInterval) -> TimeInterval {
        max(lifetime / 10, min(lifetime / 3, 3600))
    }

    /// The latest moment a renewal may be planned for (``safetyMargin(lifetime:)`` before `notAfter`).
    public static func latestSafeRenewal(notBefore: Date, notAfter: Date) -> Date {
        notAfter.addingTimeInterval(-safetyMargin(lifetime: notAfter.timeIntervalSince(notBefore)))
    }

    /// The latest renewal the Ingress's `renew-before` and `renew-before-percentage` allow (the
    /// earlier of the two), nil when it has neither. A renew-before at or above the lifetime is
    /// ignored, as cert-manager ignores it: it would make every run re-issue (Let's Encrypt
    /// allows five certificates for the same names a week).
    static func latestRenewal(_ settings: CertificateSettings, notBefore: Date, notAfter: Date) -> Date? {
        let lifetime = notAfter.timeIntervalSince(notBefore)
        let times = [
            settings.renewBefore.flatMap { $0 < lifetime ? notAfter.addingTimeInterval(-$0) : nil },
            settings.renewBeforeShare.map { notAfter.addingTimeInterval(-lifetime * $0) },
        ].compactMap { $0 }
        return times.min()
    }

    /// True when the Ingress's `renew-before` is at or above the certificate's lifetime, so
    /// that it is ignored (the run warns once, naming the Ingress).
    public static func ignoresRenewBefore(_ settings: CertificateSettings, lifetime: TimeInterval) -> Bool {
        guard let renewBefore = settings.renewBefore else { return false }
        return renewBefore >= lifetime
    }

    /// Back-off after `failures` consecutive failures: 1 h doubling to 32 h.
    public static func backOff(failures: Int) -> TimeInterval {
        guard failures > 0 else { return 0 }
        return 3600 * pow(2, Double(min(failures - 1, 5)))
    }

    /// The decision for one certificate.
    /// - Parameters:
    ///   - profile: the issuer's configured profile, compared with the one recorded.
    ///   - fallbacks: whether the issuer has fallback issuers (`certctl.io/fallback-issuers`).
    public static func decide(
        desired: DesiredCertificate,
        current: CurrentCertificate?,
        pending: RenewalRecord? = nil,
        profile: String?,
        fallbacks: Bool = false,
        now: Date
    ) -> PlannedAction {
        let record = current?.record ?? pending ?? RenewalRecord()
        func due(_ reason: PlannedAction.Reason, renewalTime: Date? = nil, urgent: Bool = true) -> PlannedAction {
            var action = PlannedAction(kind: .issue, reason: reason, renewalTime: renewalTime, urgent: urgent)
            if let nextAttempt = record.nextAttempt, nextAttempt > now {
                // An urgent certificate does not wait out its own CA's hold when a fallback may issue it.
                if urgent, fallbacks, record.ownIssuerFailed(desired.issuerKey) {
                    action.ownIssuerBacksOff = nextAttempt
                } else {
                    action.kind = .backOff(until: nextAttempt)
                }
            }
            return action
        }
        guard let current else { return due(.missing) }
        if let block = current.block {
            return PlannedAction(kind: .blocked, reason: block.reason, renewalTime: nil)
        }
        guard let summary = current.summary, current.hasKey else { return due(.unreadable) }
        let facts = Facts(
            desired: desired, current: current, summary: summary, record: record, profile: profile, now: now)
        if let trigger = triggers.first(where: { $0.applies(facts) }) {
            return due(trigger.reason, renewalTime: facts.renewalTime, urgent: trigger.unusable || facts.urgent)
        }
        return PlannedAction(kind: .wait(until: facts.renewalTime), reason: .notDue, renewalTime: facts.renewalTime)
    }
}

extension RenewalPlan {
    /// What the renewal rules look at, for a Secret whose certificate and key can be read.
    struct Facts {
        let desired: DesiredCertificate
        let current: CurrentCertificate
        let summary: CertificateSummary
        let record: RenewalRecord
        /// The issuer's configured profile.
        let profile: String?
        let now: Date
        /// The record is this certificate's: times recorded for another (the Secret was
        /// replaced by hand) do not count.
        let recordIsCurrent: Bool
        /// The renewal time recorded (the ARI choice), else 2/3 of the lifetime (1/2 under 10 days).
        let chosen: Date
        /// The latest renewal the Ingress's renew-before(-percentage) allows, if it sets one.
        let latest: Date?
        /// When it is renewed: the earliest of those, never later than the safety margin.
        let renewalTime: Date
        /// Inside the safety margin: no time left to wait for one CA.
        let urgent: Bool
        /// A fallback's certificate standing in for the issuer's own until its renewal time.
        let onFallback: Bool

        init(
            desired: DesiredCertificate, current: CurrentCertificate, summary: CertificateSummary,
            record: RenewalRecord, profile: String?, now: Date
        ) {
            (self.desired, self.current, self.summary, self.record, self.profile, self.now) =
                (desired, current, summary, record, profile, now)
            let recordIsCurrent = record.serial == nil || record.serial == summary.serialHex
            let chosen =
                (recordIsCurrent ? record.renewalTime : nil)
                ?? defaultRenewalTime(notBefore: summary.notBefore, notAfter: summary.notAfter)
            // The Ingress's renew-before(-percentage) can only make it earlier (README "Moving from cert-manager").
            let latest = latestRenewal(desired.settings, notBefore: summary.notBefore, notAfter: summary.notAfter)
            // Never later than the safety margin before expiry, whatever was recorded.
            let safe = latestSafeRenewal(notBefore: summary.notBefore, notAfter: summary.notAfter)
            (self.recordIsCurrent, self.chosen, self.latest) = (recordIsCurrent, chosen, latest)
            renewalTime = min(latest.map { min($0, chosen) } ?? chosen, safe)
            urgent = safe <= now
            onFallback = recordIsCurrent && record.standsIn(for: desired.issuerKey)
        }
    }

    /// One reason to issue a certificate that can be read, by name (its ``PlannedAction/Reason``).
    struct Trigger: Sendable {
        let reason: PlannedAction.Reason
        /// The certificate in the Secret cannot serve (so it is urgent whatever its time left).
        var unusable = false
        let applies: @Sendable (Facts) -> Bool
    }

    /// The rules, tried in this order; the first that applies says why it is issued now, and
    /// none: it waits until its renewal time (the README's table under "certctl run", step 2).
    static let triggers: [Trigger] = [
        Trigger(reason: .keyMismatch, unusable: true) { !$0.current.keyMatches },
        Trigger(reason: .expired, unusable: true) { $0.summary.notAfter <= $0.now },
        Trigger(reason: .namesChanged) { Set($0.desired.hosts) != $0.summary.names },
        Trigger(reason: .issuerChanged) { facts in
            guard let issuer = facts.current.issuerName, issuer != facts.desired.issuer else { return false }
            // A fallback's certificate is no issuer change.
            return !(facts.onFallback && issuer == facts.record.issuer)
        },
        Trigger(reason: .profileChanged) { facts in
            guard let profile = facts.profile, !facts.onFallback else { return false }
            return facts.record.profile != profile
        },
        Trigger(reason: .keyChanged) { facts in
            guard let wanted = facts.desired.settings.keyType, let has = facts.summary.keyType else { return false }
            return has != wanted
        },
        Trigger(reason: .revoked) { $0.record.revokedSerial == $0.summary.serialHex },
        Trigger(reason: .revocationAsked) { $0.record.revocationAskedSerial == $0.summary.serialHex },
        Trigger(reason: .renewRequested) { $0.record.renewRequested },
        Trigger(reason: .renewBefore) { facts in
            guard facts.renewalTime <= facts.now, let latest = facts.latest else { return false }
            return latest < facts.chosen
        },
        Trigger(reason: .ariWindow) { facts in
            facts.renewalTime <= facts.now && facts.recordIsCurrent && facts.record.ariWindowStart != nil
        },
        Trigger(reason: .lifetimeThreshold) { $0.renewalTime <= $0.now },
    ]

    /// The ARI certificate ID a renewal's order names in `replaces` (RFC 9773 §5), or nil. Only
    /// for a certificate the record shows `issuer` (the one ordering now: the certificate's own
    /// or a fallback) and this `account` ordered, and that
    /// shares a name with the new order: a CA refuses `replaces` for a certificate of another
    /// account (every Secret adopted from cert-manager or kube-lego), of another CA (an issuer
    /// moved from staging to production) or with no name in common.
    public static func replaces(
        current: CurrentCertificate?, desired: DesiredCertificate, issuer: String, account: String?
    ) -> String? {
        guard let current, current.isUsable, let summary = current.summary,
            let certificateID = summary.ariCertificateID
        else { return nil }
        let record = current.record
        guard record.serial == summary.serialHex, record.issuer == issuer, let account,
            record.account == account
        else { return nil }
        let names = Set(desired.hosts.map { $0.lowercased() })
        return names.isDisjoint(with: summary.names.map { $0.lowercased() }) ? nil : certificateID
    }
}

extension RenewalRecord {
    /// Whether the failure recorded is the CA of `issuer` (the certificate's own) failing to
    /// issue: unreachable, too slow, refusing or rate-limiting. Issuers are told apart by key
    /// (`NAMESPACE/NAME` for an `Issuer`): a tenant's Issuer falling back to the ClusterIssuer of
    /// its name is another issuer. A record of an earlier version names no issuer: it had no
    /// fallbacks, so the failure was the certificate's own issuer's.
    func ownIssuerFailed(_ issuer: IssuerKey) -> Bool {
        guard let kind = lastFailureKind, kind.isCAUnavailable else { return false }
        return (lastFailureIssuer ?? issuer.description) == issuer.description
    }

    /// Whether a fallback issued the certificate this record is of, standing in for `own`.
    public func standsIn(for own: IssuerKey) -> Bool {
        fallbackFrom == own.description && issuer != nil
    }
}
