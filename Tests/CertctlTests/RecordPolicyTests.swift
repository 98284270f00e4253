import ACME
import Basics
import CertctlCore
import Foundation
import Kubernetes
import Testing
import Transport

/// A generator that always answers the same: the ARI choice becomes checkable.
struct FixedRandom: RandomNumberGenerator {
    var value: UInt64
    mutating func next() -> UInt64 { value }
}

@Suite("What is recorded after an issuance, a renewalInfo answer, a failure")
struct RecordPolicyTests {
    @Test(
        "the failure kind is read as a kind: each known one round-trips, one a later version wrote reads as other",
        arguments: FailureKind.allCases.map { ($0.rawValue, $0) } + [("dns_timeout", .other), ("", .other)])
    func failureKind(written: String, read: FailureKind) {
        let record = RenewalRecord(annotations: ["certctl.io/last-failure-kind": written])
        #expect(record.lastFailureKind == read)
        var annotations: [String: String] = [:]
        record.apply(to: &annotations)
        #expect(annotations["certctl.io/last-failure-kind"] == read.rawValue)
        #expect(RenewalRecord(annotations: [:]).lastFailureKind == nil)
    }

    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(
        "failures: back-off 1 h doubling to 32 h, a later Retry-After wins, an earlier one does not",
        arguments: [
            (0, nil, 3600.0), (1, nil, 7200), (2, nil, 14_400), (4, nil, 57_600), (5, nil, 115_200),
            (9, nil, 115_200), (0, 7200.0, 7200), (0, 60.0, 3600), (5, 200_000.0, 200_000),
        ] as [(Int, Double?, Double)])
    func failure(previous: Int, retryAfter: Double?, wait: Double) {
        var record = RenewalRecord()
        record.failureCount = previous
        let after = RecordPolicy.afterFailure(
            record, message: "the CA refused", retryAfter: retryAfter.map { Self.now.addingTimeInterval($0) },
            now: Self.now)
        #expect(after.failureCount == previous + 1)
        #expect(after.nextAttempt == Self.now.addingTimeInterval(wait))
        #expect(after.lastFailure == "the CA refused")
        #expect(after.lastFailureTime == Self.now)
    }

    static func info(_ start: Double, _ end: Double, retryAfter: Double?) -> ACMERenewalInfo {
        let json = """
            {"suggestedWindow":{"start":"\(Timestamp.rfc3339(Self.now.addingTimeInterval(start)))","end":"\(Timestamp.rfc3339(Self.now.addingTimeInterval(end)))"}}
            """
        // A recorded answer of the kind RFC 9773 §4.2 shows.
        var info = try! ACMEClient.decodeResource(ACMERenewalInfo.self, from: Array(json.utf8))
        info.retryAfter = retryAfter.map { Self.now.addingTimeInterval($0) }
        return info
    }

    @Test(
        "renewalInfo: a moved window gets a new instant in it; the next check is Retry-After or 6 h",
        arguments: [
            // window start, end (from now), Retry-After, recorded window the same?, expected next check
            (86_400.0, 172_800.0, 3600.0, false, 3600.0),
            (86_400, 172_800, nil, false, 21_600),
            (86_400, 172_800, nil, true, 21_600),
            (-7200, -3600, nil, false, 21_600),
        ] as [(Double, Double, Double?, Bool, Double)])
    func renewalInfo(start: Double, end: Double, retryAfter: Double?, same: Bool, nextCheck: Double) {
        var record = RenewalRecord()
        record.renewalTime = Self.now.addingTimeInterval(999)
        if same {
            record.ariWindowStart = Self.now.addingTimeInterval(start)
            record.ariWindowEnd = Self.now.addingTimeInterval(end)
        }
        var random = FixedRandom(value: 0)
        let (after, moved) = RecordPolicy.afterRenewalInfo(
            record, Self.info(start, end, retryAfter: retryAfter), notBefore: Self.now.addingTimeInterval(-60 * 86_400),
            notAfter: Self.now.addingTimeInterval(30 * 86_400), now: Self.now, random: &random)
        #expect(moved == !same)
        #expect(after.ariNextCheck == Self.now.addingTimeInterval(nextCheck))
        #expect(after.ariWindowStart == Self.now.addingTimeInterval(start))
        if same {
            #expect(after.renewalTime == Self.now.addingTimeInterval(999), "an unchanged window keeps its instant")
        } else {
            #expect(after.renewalTime == Self.now.addingTimeInterval(start), "the generator's lowest instant")
        }
    }

    @Test("an issuance: 2/3 of the lifetime without ARI, the ARI choice with it; failures gone, notices kept")
    func issuance() {
        var previous = RenewalRecord()
        previous.failureCount = 3
        previous.lastFailure = "down"
        previous.nextAttempt = Self.now
        previous.notifiedState = "expiring"
        previous.renewRequested = true
        var random = FixedRandom(value: 0)
        let notAfter = Self.now.addingTimeInterval(90 * 86_400)
        let plain = RecordPolicy.afterIssuance(
            previous: previous, issuer: "letsencrypt-prod", account: "https://ca/acct/7", profile: "classic",
            orderURL: "https://ca/order/1",
            serial: "01", notBefore: Self.now, notAfter: notAfter, renewalInfo: nil, now: Self.now, random: &random)
        #expect(plain.renewalTime == Self.now.addingTimeInterval(60 * 86_400))
        #expect(plain.failureCount == 0 && plain.lastFailure == nil && plain.nextAttempt == nil)
        #expect(!plain.renewRequested)
        #expect(plain.notifiedState == "expiring")
        #expect(plain.ariNextCheck == nil)
        #expect(plain.account == "https://ca/acct/7" && plain.issuer == "letsencrypt-prod")
        let withARI = RecordPolicy.afterIssuance(
            previous: previous, issuer: "letsencrypt-prod", account: "https://ca/acct/7", profile: "classic",
            orderURL: nil, serial: "01",
            notBefore: Self.now, notAfter: notAfter, renewalInfo: Self.info(50 * 86_400, 55 * 86_400, retryAfter: nil),
            now: Self.now, random: &random)
        #expect(withARI.renewalTime == Self.now.addingTimeInterval(50 * 86_400))
        #expect(withARI.ariNextCheck == Self.now.addingTimeInterval(RecordPolicy.renewalInfoRecheck))
        #expect(RecordPolicy.withoutRenewalInfo(withARI).ariNextCheck == nil)
    }

    @Test(
        "a window ending at notAfter: the instant is never later than the safety margin before it",
        arguments: [
            // lifetime (s), window (start, end) as shares of it, generator value (Double.random
            // takes its low 53 bits: this one is 7/8 of the way; one that rounds to the range's
            // end makes it draw again, forever with a fixed generator)
            (180.0, 0.5, 1.0, 0x001C_0000_0000_0000), (180.0, 0.95, 1.0, 0),
            (160 * 3600.0, 0.5, 1.0, 0x001C_0000_0000_0000), (90 * 86_400.0, 0.66, 0.7, 0x001C_0000_0000_0000),
        ] as [(Double, Double, Double, UInt64)])
    func windowToExpiry(lifetime: Double, start: Double, end: Double, value: UInt64) throws {
        let notBefore = Self.now
        let notAfter = Self.now.addingTimeInterval(lifetime)
        let info = Self.info(lifetime * start, lifetime * end, retryAfter: 60)
        var random = FixedRandom(value: value)
        let (record, moved) = RecordPolicy.afterRenewalInfo(
            RenewalRecord(), info, notBefore: notBefore, notAfter: notAfter, serial: "0a", now: Self.now,
            random: &random)
        let safe = RenewalPlan.latestSafeRenewal(notBefore: notBefore, notAfter: notAfter)
        let chosen = try #require(record.renewalTime)
        #expect(moved && record.serial == "0a")
        #expect(chosen <= safe, "\(chosen) after \(safe)")
        #expect(record.ariWindowEnd == info.suggestedWindow.end, "the CA's window is recorded as it was given")
        if info.suggestedWindow.end <= safe {
            #expect(chosen >= info.suggestedWindow.start, "a window within the margin is used as it is")
        }
    }

    @Test("a failed renewalInfo fetch is asked again in 6 h, for this certificate; the renewal time stays")
    func renewalInfoFailure() {
        var record = RenewalRecord()
        record.renewalTime = Self.now.addingTimeInterval(999)
        let after = RecordPolicy.afterRenewalInfoFailure(record, serial: "0a", now: Self.now)
        #expect(after.serial == "0a")
        #expect(after.ariNextCheck == Self.now.addingTimeInterval(RecordPolicy.renewalInfoRecheck))
        #expect(after.renewalTime == record.renewalTime)
    }

    @Test("failure kinds: what each error is, for metrics, records, Events and the summary")
    func kinds() throws {
        let rateLimited = try ACMEClient.decodeResource(
            ACMEProblem.self,
            from: Array(#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"}"#.utf8))
        let cases: [(any Error, FailureKind)] = [
            (ACMEError(.problem, "refused", problem: rateLimited), .rateLimited),
            (ACMEError(.transport, "cannot reach"), .caUnreachable),
            (ACMEError(.timeout, "too slow"), .timeout),
            (ACMEError(.authorizationInvalid, "dns"), .challenge),
            (ACMEError(.invalidConfiguration, "profile"), .configuration),
            (ACMEError(.orderInvalid, "no"), .caRefused),
            (KubernetesError(.status, object: "Secret a/b", reason: "Forbidden"), .apiServer),
            (CertctlError(.challenge, "self-check"), .challenge),
            (CertctlError(.secretBlocked, "immutable"), .configuration),
            (CertctlError(.invalidName, "26 names"), .configuration),
            (CertctlError(.io, "disk"), .other),
        ]
        for (error, kind) in cases {
            #expect(FailureKind.of(error) == kind, "\(error)")
        }
    }

    @Test(
        "renew: a failure's back-off is cleared, a rate limit's hold is kept, nothing else changes",
        arguments: [
            (nil, nil, false, false), (3600.0, .challenge, true, false), (3600.0, .rateLimited, false, true),
            (-60.0, .challenge, false, false),
        ] as [(Double?, FailureKind?, Bool, Bool)])
    func renewalRequested(next: Double?, kind: FailureKind?, cleared: Bool, held: Bool) {
        var record = RenewalRecord()
        record.nextAttempt = next.map { Self.now.addingTimeInterval($0) }
        record.lastFailureKind = kind
        record.failureCount = kind == nil ? 0 : 2
        let (after, clearedUntil, heldUntil) = RecordPolicy.renewalRequested(record, now: Self.now)
        #expect(after.renewRequested)
        #expect((clearedUntil != nil) == cleared)
        #expect((heldUntil != nil) == held)
        #expect(after.nextAttempt == (cleared ? nil : record.nextAttempt))
        #expect(after.failureCount == record.failureCount, "the count stays: the next failure waits longer")
    }
}
