import ACME
import Basics
public import Foundation
import Kubernetes
import Transport

/// certctl's state of one certificate, kept as `certctl.io/` annotations on its Secret so that
/// every run (a CronJob every few minutes) knows what the last one learnt.
public struct RenewalRecord: Sendable, Equatable, EmptyByDefault {
    public static let prefix = "certctl.io/"

    /// When the current certificate is to be renewed (ARI choice or 2/3 of its lifetime).
    public var renewalTime: Date?
    public var ariWindowStart: Date?
    public var ariWindowEnd: Date?
    /// When to ask renewalInfo again (its Retry-After).
    public var ariNextCheck: Date?
    public var lastFailure: String?
    /// ``FailureKind``'s raw value (`rate_limited`, `challenge`, ...).
    /// A kind this version does not know (written by a later one) reads as `.other`.
    public var lastFailureKind: FailureKind?
    public var lastFailureTime: Date?
    public var failureCount = 0
    /// No ACME request for this certificate before then (back-off or rate limit).
    public var nextAttempt: Date?
    public var profile: String?
    public var orderURL: String?
    /// The issuer the current certificate came from.
    public var issuer: String?
    /// When a fallback issued the current certificate: the issuer it stood in for (the
    /// certificate's own, to which the next renewal goes back), and why (README, "When the CA
    /// fails").
    public var fallbackFrom: String?
    public var fallbackReason: String?
    /// The issuer whose failure `lastFailure` is: the certificate's own, or the last fallback tried.
    public var lastFailureIssuer: String?
    /// The ACME account (its URL) that ordered the current certificate: a renewal names the
    /// certificate it replaces (RFC 9773 §5) only for this account, as the CA refuses it for
    /// another one.
    public var account: String?
    /// A `certctl renew` request: re-issue on the next run.
    public var renewRequested = false
    /// The serial of the certificate the times above belong to; another certificate in the
    /// Secret (replaced by hand) makes them void.
    public var serial: String?
    /// The last notification sent for this certificate (expiring, expired, failing) and when.
    public var notifiedState: String?
    public var notifiedAt: Date?
    /// The last certificate `certctl revoke` revoked here: its serial, RFC 5280's reason
    /// (`keyCompromise`, ...) and when. Kept after the replacement is issued, as its history; while
    /// the Secret still holds that serial, the plan issues at once.
    public var revokedSerial: String?
    public var revocationReason: String?
    public var revokedAt: Date?
    /// A revocation `certctl revoke` asked for and has not seen done: the serial and reason,
    /// recorded before the CA is asked, cleared once the revocation is recorded. A run that
    /// finds it while the Secret still holds that serial revokes it first, then issues.
    public var revocationAskedSerial: String?
    public var revocationAskedReason: String?
    /// When the dns-persist-01 records that authorized the current certificate's names expire
    /// (their `persistUntil`): the record must be published again before then.
    public var dnsPersistUntil: Date?

    public init() {}

    /// Every annotation of the record, in full (`certctl.io/renewal-time`, ...).
    public static var annotationKeys: [String] { Key.allCases.map(\.annotation) }

    enum Key: String, CaseIterable {
        case renewalTime = "renewal-time"
        case ariWindowStart = "ari-window-start"
        case ariWindowEnd = "ari-window-end"
        case ariNextCheck = "ari-next-check"
        case lastFailure = "last-failure"
        case lastFailureKind = "last-failure-kind"
        case lastFailureTime = "last-failure-time"
        case failureCount = "failure-count"
        case nextAttempt = "next-attempt"
        case profile
        case orderURL = "order-url"
        case issuer
        case fallbackFrom = "fallback-from"
        case fallbackReason = "fallback-reason"
        case lastFailureIssuer = "last-failure-issuer"
        case account
        case renewRequested = "renew-requested"
        case serial
        case notifiedState = "notified-state"
        case notifiedAt = "notified-at"
        case revokedSerial = "revoked-serial"
        case revocationReason = "revocation-reason"
        case revokedAt = "revoked-at"
        case revocationAskedSerial = "revocation-asked-serial"
        case revocationAskedReason = "revocation-asked-reason"
        case dnsPersistUntil = "dns-persist-until"

        var annotation: String { RenewalRecord.prefix + rawValue }
    }

    /// Reads the record from annotations; unreadable values are ignored (never fatal), counts
    /// saturate at ``Bounded/largestCount`` and times lie within years 1 to 9999.
    public init(annotations: [String: String]) {
        func date(_ key: Key) -> Date? { annotations[key.annotation].flatMap(Self.parseDate) }
        renewalTime = date(.renewalTime)
        ariWindowStart = date(.ariWindowStart)
        ariWindowEnd = date(.ariWindowEnd)
        ariNextCheck = date(.ariNextCheck)
        lastFailure = annotations[Key.lastFailure.annotation]
        lastFailureKind = annotations[Key.lastFailureKind.annotation].map { FailureKind(rawValue: $0) ?? .other }
        lastFailureTime = date(.lastFailureTime)
        failureCount = annotations[Key.failureCount.annotation].flatMap(Bounded.count) ?? 0
        nextAttempt = date(.nextAttempt)
        profile = annotations[Key.profile.annotation]
        orderURL = annotations[Key.orderURL.annotation]
        issuer = annotations[Key.issuer.annotation]
        fallbackFrom = annotations[Key.fallbackFrom.annotation]
        fallbackReason = annotations[Key.fallbackReason.annotation]
        lastFailureIssuer = annotations[Key.lastFailureIssuer.annotation]
        account = annotations[Key.account.annotation]
        renewRequested = annotations[Key.renewRequested.annotation] == "true"
        serial = annotations[Key.serial.annotation]
        notifiedState = annotations[Key.notifiedState.annotation]
        notifiedAt = date(.notifiedAt)
        revokedSerial = annotations[Key.revokedSerial.annotation]
        revocationReason = annotations[Key.revocationReason.annotation]
        revokedAt = date(.revokedAt)
        revocationAskedSerial = annotations[Key.revocationAskedSerial.annotation]
        revocationAskedReason = annotations[Key.revocationAskedReason.annotation]
        dnsPersistUntil = date(.dnsPersistUntil)
    }

    /// The record as annotations; keys of absent values are removed from `annotations`.
    public func apply(to annotations: inout [String: String]) {
        func set(_ key: Key, _ value: String?) { annotations[key.annotation] = value }
        set(.renewalTime, renewalTime.map(Self.format))
        set(.ariWindowStart, ariWindowStart.map(Self.format))
        set(.ariWindowEnd, ariWindowEnd.map(Self.format))
        set(.ariNextCheck, ariNextCheck.map(Self.format))
        set(.lastFailure, lastFailure.map { String($0.prefix(500)) })
        set(.lastFailureKind, lastFailureKind?.rawValue)
        set(.lastFailureTime, lastFailureTime.map(Self.format))
        set(.failureCount, failureCount > 0 ? String(failureCount) : nil)
        set(.nextAttempt, nextAttempt.map(Self.format))
        set(.profile, profile)
        set(.orderURL, orderURL)
        set(.issuer, issuer)
        set(.fallbackFrom, fallbackFrom)
        set(.fallbackReason, fallbackReason.map { String($0.prefix(500)) })
        set(.lastFailureIssuer, lastFailureIssuer)
        set(.account, account)
        set(.renewRequested, renewRequested ? "true" : nil)
        set(.serial, serial)
        set(.notifiedState, notifiedState)
        set(.notifiedAt, notifiedAt.map(Self.format))
        set(.revokedSerial, revokedSerial)
        set(.revocationReason, revocationReason)
        set(.revokedAt, revokedAt.map(Self.format))
        set(.revocationAskedSerial, revocationAskedSerial)
        set(.revocationAskedReason, revocationAskedReason)
        set(.dnsPersistUntil, dnsPersistUntil.map(Self.format))
    }

    /// The key of the issuer that issued the certificate `secret` holds, as its record
    /// (`certctl.io/issuer`) and cert-manager's `issuer-kind` say: an `Issuer`'s certificate lives
    /// in the Issuer's namespace (README, "Issuers"), the Secret's `namespace`. nil when the
    /// record names none.
    static func issuerKey(of secret: Secret, in namespace: String) -> IssuerKey? {
        let annotations = secret.metadata.annotations ?? [:]
        guard let name = annotations[Key.issuer.annotation] else { return nil }
        let namespaced = annotations["cert-manager.io/issuer-kind"] == "Issuer"
        return IssuerKey(name: name, namespace: namespaced ? namespace : nil)
    }

    static func format(_ date: Date) -> String {
        Timestamp.rfc3339(date)
    }

    static func parseDate(_ text: String) -> Date? {
        Timestamp.rfc3339(text)
    }
}
