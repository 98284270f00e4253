public import ACME
import Basics
public import Foundation

/// What certctl records after an issuance, a renewalInfo answer or a failure: pure functions of
/// what happened and when, beside ``RenewalPlan`` which reads what they wrote (the README's
/// "certctl run", steps 2 and 7).
public enum RecordPolicy {
    /// How long a renewalInfo answer holds when the CA sends no Retry-After (RFC 9773 §4.3 leaves
    /// it to the client; Let's Encrypt sends about 6 hours).
    public static let renewalInfoRecheck: TimeInterval = 6 * 3600

    /// The record of a certificate just stored: who issued it (and which issuer a fallback stood
    /// in for, and why), its renewal time (the ARI choice
    /// when the CA answered, else 2/3 of its lifetime), nothing of past failures; what was
    /// announced stays known, so that the recovery is announced too, and so does a revocation.
    public static func afterIssuance(
        previous: RenewalRecord,
        issuer: String,
        account: String?,
        profile: String?,
        orderURL: String?,
        serial: String,
        notBefore: Date,
        notAfter: Date,
        renewalInfo: ACMERenewalInfo?,
        fallback: (from: String, reason: String)? = nil,
        now: Date,
        random: inout some RandomNumberGenerator
    ) -> RenewalRecord {
        var record = RenewalRecord()
        record.issuer = issuer
        record.fallbackFrom = fallback?.from
        record.fallbackReason = fallback?.reason
        record.account = account
        record.profile = profile
        record.orderURL = orderURL
        record.serial = serial
        record.notifiedState = previous.notifiedState
        record.notifiedAt = previous.notifiedAt
        record.revokedSerial = previous.revokedSerial
        record.revocationReason = previous.revocationReason
        record.revokedAt = previous.revokedAt
        record.renewalTime = RenewalPlan.defaultRenewalTime(notBefore: notBefore, notAfter: notAfter)
        if let renewalInfo {
            record =
                afterRenewalInfo(
                    record, renewalInfo, notBefore: notBefore, notAfter: notAfter, now: now, random: &random
                ).record
        }
        return record
    }

    /// A renewalInfo answer for the certificate valid from `notBefore` to `notAfter`: a moved
    /// window gets a new random instant in it, never later than the plan's safety margin before
    /// expiry (``RenewalPlan/latestSafeRenewal(notBefore:notAfter:)``); the next check is the
    /// answer's Retry-After (clamped to RFC 9773 §4.3's minute to a day where it was read) or
    /// ``renewalInfoRecheck``. The record is made this certificate's (an adopted Secret's had no
    /// serial). `moved` says whether the window changed.
    public static func afterRenewalInfo(
        _ record: RenewalRecord,
        _ info: ACMERenewalInfo,
        notBefore: Date,
        notAfter: Date,
        serial: String? = nil,
        now: Date,
        random: inout some RandomNumberGenerator
    ) -> (record: RenewalRecord, moved: Bool) {
        var record = record
        if let serial { record.serial = serial }
        let moved =
            info.suggestedWindow.start != record.ariWindowStart || info.suggestedWindow.end != record.ariWindowEnd
        if moved {
            record.ariWindowStart = info.suggestedWindow.start
            record.ariWindowEnd = info.suggestedWindow.end
            let safe = RenewalPlan.latestSafeRenewal(notBefore: notBefore, notAfter: notAfter)
            var usable = info
            usable.suggestedWindow.end = min(info.suggestedWindow.end, safe)
            usable.suggestedWindow.start = min(info.suggestedWindow.start, usable.suggestedWindow.end)
            record.renewalTime = usable.renewalTime(using: &random)
        }
        record.ariNextCheck = info.retryAfter ?? now.addingTimeInterval(renewalInfoRecheck)
        return (record, moved)
    }

    /// renewalInfo could not be had for a certificate (the CA did not answer, or does not know
    /// it: an adopted certificate of another CA): asked again after ``renewalInfoRecheck``, not
    /// at every run; the renewal time stays.
    public static func afterRenewalInfoFailure(_ record: RenewalRecord, serial: String, now: Date) -> RenewalRecord {
        var record = record
        record.serial = serial
        record.ariNextCheck = now.addingTimeInterval(renewalInfoRecheck)
        return record
    }

    /// The CA offers no ARI (or stopped offering it): no more checks of this certificate, the
    /// renewal time stays; with `serial`, the record is made this certificate's (an adopted
    /// Secret is then not asked about again).
    public static func withoutRenewalInfo(_ record: RenewalRecord, serial: String? = nil) -> RenewalRecord {
        var record = record
        if let serial { record.serial = serial }
        record.ariNextCheck = nil
        return record
    }

    /// A failed issuance: one more failure, its message and time, and no ACME request before the
    /// back-off (1 h doubling to 32 h) or the CA's `rateLimited` Retry-After, whichever is later.
    public static func afterFailure(
        _ record: RenewalRecord, kind: FailureKind = .other, message: String, retryAfter: Date?, issuer: String? = nil,
        now: Date
    ) -> RenewalRecord {
        var record = record
        record.failureCount = min(record.failureCount, Bounded.largestCount - 1) + 1
        record.lastFailure = message
        record.lastFailureKind = kind
        record.lastFailureIssuer = issuer
        record.lastFailureTime = now
        var next = now.addingTimeInterval(RenewalPlan.backOff(failures: record.failureCount))
        if let retryAfter, retryAfter > next { next = retryAfter }
        record.nextAttempt = next
        return record
    }

    /// What `certctl renew` records: a renewal is asked for, and a failure's back-off is cleared
    /// (the operator fixed the cause) — but not a rate limit's hold, which is the CA's word.
    public static func renewalRequested(_ record: RenewalRecord, now: Date) -> (
        record: RenewalRecord, clearedBackOff: Date?, rateLimitedUntil: Date?
    ) {
        var record = record
        record.renewRequested = true
        guard let next = record.nextAttempt, next > now else { return (record, nil, nil) }
        if record.lastFailureKind == .rateLimited { return (record, nil, next) }
        record.nextAttempt = nil
        return (record, next, nil)
    }

    /// What `certctl revoke` records once the CA revoked the certificate `serial`: the
    /// revocation, and a renewal asked for (the plan issues at once while the Secret holds it).
    public static func revoked(
        _ record: RenewalRecord, serial: String, reason: RevocationReason, now: Date
    ) -> RenewalRecord {
        var record = renewalRequested(record, now: now).record
        record.revokedSerial = serial
        record.revocationReason = reason.name
        record.revokedAt = now
        record.revocationAskedSerial = nil
        record.revocationAskedReason = nil
        return record
    }

    /// What `certctl revoke` records before the CA is asked: the revocation it is about to ask
    /// for, so that a run finds it and finishes it if the command dies or its record write fails.
    public static func revocationAsked(_ record: RenewalRecord, serial: String, reason: RevocationReason)
        -> RenewalRecord
    {
        var record = record
        record.revocationAskedSerial = serial
        record.revocationAskedReason = reason.name
        return record
    }
}
