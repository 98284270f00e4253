import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing
import Transport

@Suite("Renewal plan: a pure function, tested as a table")
struct RenewalPlanTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static let day: TimeInterval = 86_400
    static let authority = try? TestCertificateAuthority()
    static let desired = DesiredCertificate(
        namespace: "prod", secretName: "kubelego-tls-hub", hosts: ["hub.mybinder.org"], issuer: "letsencrypt-prod",
        issuerKind: "ClusterIssuer", ingresses: ["hub"], ingressClass: nil
    )

    /// A Secret holding a certificate of `lifetime` days from `start`.
    static func current(
        days lifetime: Double = 90,
        names: [String] = ["hub.mybinder.org"],
        type: String = Secret.tlsType,
        foreignKey: Bool = false,
        immutable: Bool? = nil,
        deleting: Bool = false,
        annotations: [String: String] = ["cert-manager.io/issuer-name": "letsencrypt-prod"]
    ) throws -> CurrentCertificate {
        let authority = try #require(authority)
        let key = try PrivateKey(generating: .ecdsaP256)
        let pem = try authority.issuePEM(
            for: key, names: names, notBefore: start, notAfter: start.addingTimeInterval(lifetime * day),
            serial: [0x01, 0x02])
        let keyPEM =
            foreignKey ? try PrivateKey(generating: .ecdsaP256).pemRepresentation() : try key.pemRepresentation()
        var metadata = ObjectMeta(name: "kubelego-tls-hub", namespace: "prod", annotations: annotations)
        if deleting {
            metadata.deletionTimestamp = Time(start)
            metadata.finalizers = ["example.org/backup"]
        }
        return CurrentCertificate(
            secret: Secret(
                metadata: metadata, type: type, data: ["tls.crt": Data(pem.utf8), "tls.key": Data(keyPEM.utf8)],
                immutable: immutable))
    }

    static func at(_ days: Double) -> Date { start.addingTimeInterval(days * day) }

    @Test(
        "renewal time: 2/3 of the lifetime, 1/2 under 10 days",
        arguments: [
            (90.0, 60.0), (64.0, 42.666), (45.0, 30.0), (6.0, 3.0), (160.0 / 24, 80.0 / 24),
        ])
    func renewalTime(lifetime: Double, expected: Double) {
        let time = RenewalPlan.defaultRenewalTime(notBefore: Self.start, notAfter: Self.at(lifetime))
        #expect(abs(time.timeIntervalSince(Self.at(expected))) < 120)
    }

    @Test(
        "back-off doubles from 1 h to 32 h", arguments: [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (12, 32.0)])
    func backOff(failures: Int, hours: Double) {
        #expect(RenewalPlan.backOff(failures: failures) == hours * 3600)
    }

    @Test("decisions")
    func decisions() throws {
        func decide(
            _ current: CurrentCertificate?, at day: Double, profile: String? = nil,
            desired: DesiredCertificate = Self.desired
        ) -> PlannedAction {
            RenewalPlan.decide(desired: desired, current: current, profile: profile, now: Self.at(day))
        }
        #expect(decide(nil, at: 0) == PlannedAction(kind: .issue, reason: .missing, renewalTime: nil, urgent: true))
        #expect(decide(try Self.current(type: "Opaque"), at: 1).kind == .blocked)
        #expect(decide(try Self.current(foreignKey: true), at: 1).reason == .keyMismatch)
        #expect(decide(try Self.current(), at: 91).reason == .expired)
        #expect(decide(try Self.current(names: ["other.mybinder.org"]), at: 1).reason == .namesChanged)
        #expect(
            decide(try Self.current(annotations: ["cert-manager.io/issuer-name": "letsencrypt-staging"]), at: 1).reason
                == .issuerChanged)
        #expect(
            decide(try Self.current(annotations: [:]), at: 1).kind == .wait(until: Self.at(60)),
            "an adopted Secret without issuer annotation is kept")
        #expect(decide(try Self.current(), at: 1, profile: "shortlived").reason == .profileChanged)
        #expect(
            decide(try Self.current(annotations: ["certctl.io/profile": "shortlived"]), at: 1, profile: "shortlived")
                .kind == .wait(until: Self.at(60)))
        #expect(
            decide(try Self.current(annotations: ["certctl.io/renew-requested": "true"]), at: 1).reason
                == .renewRequested)

        // A 90-day certificate waits until day 60; a 6-day one until day 3.
        let ninety = try Self.current()
        #expect(
            decide(ninety, at: 10)
                == PlannedAction(kind: .wait(until: Self.at(60)), reason: .notDue, renewalTime: Self.at(60)))
        #expect(decide(ninety, at: 61).reason == .lifetimeThreshold)
        #expect(decide(ninety, at: 61).isIssue)
        let six = try Self.current(days: 6)
        #expect(decide(six, at: 2).kind == .wait(until: Self.at(3)))
        #expect(decide(six, at: 3.5).isIssue)

        // An ARI choice recorded for this certificate wins, and says so.
        let ari = try Self.current(annotations: [
            "certctl.io/renewal-time": "2027-02-15T00:00:00Z", "certctl.io/ari-window-start": "2027-02-14T00:00:00Z",
            "certctl.io/serial": "0102",
        ])
        #expect(decide(ari, at: 20).kind == .wait(until: Self.at(31) - 8 * 3600))
        #expect(decide(ari, at: 32).reason == .ariWindow)
        // ...but not when it was recorded for another certificate.
        let stale = try Self.current(annotations: [
            "certctl.io/renewal-time": "2027-02-15T00:00:00Z", "certctl.io/serial": "ffff",
        ])
        #expect(decide(stale, at: 32).kind == .wait(until: Self.at(60)))
    }

    @Test("a failure's back-off holds a due certificate, never a healthy one's wait")
    func backOffHolds() throws {
        // start is 2027-01-15T08:00Z: day 61 is past the renewal time, before the next attempt.
        let failing = try Self.current(annotations: [
            "certctl.io/next-attempt": "2027-03-18T00:00:00Z", "certctl.io/failure-count": "3",
            "cert-manager.io/issuer-name": "letsencrypt-prod",
        ])
        let nextAttempt = try #require(Timestamp.rfc3339("2027-03-18T00:00:00Z"))
        let held = RenewalPlan.decide(desired: Self.desired, current: failing, profile: nil, now: Self.at(61))
        #expect(held.kind == .backOff(until: nextAttempt))
        #expect(held.reason == .lifetimeThreshold)
        #expect(RenewalPlan.decide(desired: Self.desired, current: failing, profile: nil, now: Self.at(62)).isIssue)
        let early = RenewalPlan.decide(desired: Self.desired, current: failing, profile: nil, now: Self.at(1))
        #expect(early.kind == .wait(until: Self.at(60)))
        let missing = RenewalPlan.decide(desired: Self.desired, current: nil, profile: nil, now: Self.at(1))
        #expect(missing.isIssue)
    }

    @Test(
        "a Secret certctl cannot store into is blocked, nothing ordered, whatever its certificate",
        arguments: [
            ("Opaque", nil, false, PlannedAction.Reason.wrongType),
            (Secret.tlsType, true, false, .immutable),
            (Secret.tlsType, nil, true, .deleting),
        ] as [(String, Bool?, Bool, PlannedAction.Reason)])
    func blocked(type: String, immutable: Bool?, deleting: Bool, reason: PlannedAction.Reason) throws {
        let current = try Self.current(type: type, immutable: immutable, deleting: deleting)
        for day in [1.0, 61, 91] {
            let action = RenewalPlan.decide(desired: Self.desired, current: current, profile: nil, now: Self.at(day))
            #expect(action == PlannedAction(kind: .blocked, reason: reason, renewalTime: nil), "day \(day)")
        }
        #expect(current.block?.reason == reason)
        // An immutable or terminating Secret's certificate is still served: only another type is a problem.
        #expect(current.isUsable == (type == Secret.tlsType))
        #expect(try Self.current(immutable: false).block == nil)
    }

    @Test(
        "renew-before at or above the lifetime is ignored (the lifetime rule applies); below it, it moves the renewal",
        arguments: [
            // lifetime (days), renew-before (hours), renewal day expected, ignored?
            (6.0, 720.0, 3.0, true),  // 6-day certificates, cert-manager's common 30 days
            (6.0, 144.0, 3.0, true),  // exactly the lifetime
            (6.0, 96.0, 2.0, false),  // 4 days before expiry: day 2
            (90.0, 720.0, 60.0, false),  // 30 days before a 90-day expiry: day 60, as the rule
            (90.0, 1440.0, 30.0, false),
            (90.0, 2400.0, 60.0, true),
        ] as [(Double, Double, Double, Bool)])
    func renewBefore(lifetime: Double, hours: Double, renewalDay: Double, ignored: Bool) throws {
        var desired = Self.desired
        desired.settings.renewBefore = hours * 3600
        let current = try Self.current(days: lifetime)
        #expect(RenewalPlan.ignoresRenewBefore(desired.settings, lifetime: lifetime * Self.day) == ignored)
        let waiting = RenewalPlan.decide(desired: desired, current: current, profile: nil, now: Self.at(0.5))
        #expect(waiting.renewalTime == Self.at(renewalDay))
        #expect(waiting.kind == .wait(until: Self.at(renewalDay)), "not due at once, run after run")
    }

    @Test(
        "no renewal later than the safety margin before expiry, whatever was recorded",
        arguments: [
            // lifetime (s), margin (s): a tenth, at least an hour, a third below three hours
            (90 * 86_400.0, 9 * 86_400.0), (6 * 86_400.0, 14.4 * 3600), (86_400.0, 8640), (36_000.0, 3600),
            (7200.0, 2400), (180.0, 60),
        ] as [(Double, Double)])
    func safetyMargin(lifetime: Double, margin: Double) throws {
        #expect(abs(RenewalPlan.safetyMargin(lifetime: lifetime) - margin) < 0.001)
        let notAfter = Self.start.addingTimeInterval(lifetime)
        // A recorded time (an ARI choice) 5 s before expiry: planned at the margin instead.
        let late = Timestamp.rfc3339(notAfter.addingTimeInterval(-5))
        let authority = try #require(Self.authority)
        let key = try PrivateKey(generating: .ecdsaP256)
        let pem = try authority.issuePEM(
            for: key, names: ["hub.mybinder.org"], notBefore: Self.start, notAfter: notAfter, serial: [0x01, 0x02])
        let current = CurrentCertificate(
            secret: Secret(
                metadata: ObjectMeta(
                    name: "kubelego-tls-hub", namespace: "prod",
                    annotations: ["certctl.io/renewal-time": late, "certctl.io/serial": "0102"]),
                type: Secret.tlsType,
                data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]))
        let action = RenewalPlan.decide(desired: Self.desired, current: current, profile: nil, now: Self.start)
        let expected = notAfter.addingTimeInterval(-margin)
        #expect(abs((action.renewalTime ?? .distantFuture).timeIntervalSince(expected)) < 1.001)
    }

    @Test(
        "replaces: only for a certificate this issuer and account ordered, sharing a name with the order",
        arguments: [
            // record issuer, record account, serial recorded, order hosts, account now, replaces sent?
            ("letsencrypt-prod", "https://ca/acct/1", "0102", ["hub.mybinder.org"], "https://ca/acct/1", true),
            (
                "letsencrypt-prod", "https://ca/acct/1", "0102", ["hub.mybinder.org", "x.org"], "https://ca/acct/1",
                true
            ),
            ("letsencrypt-prod", "https://ca/acct/1", "0102", ["hub.mybinder.org"], "https://ca/acct/2", false),
            ("letsencrypt-prod", "https://ca/acct/1", "0102", ["other.mybinder.org"], "https://ca/acct/1", false),
            ("letsencrypt-staging", "https://ca/acct/1", "0102", ["hub.mybinder.org"], "https://ca/acct/1", false),
            ("letsencrypt-prod", "https://ca/acct/1", "ffff", ["hub.mybinder.org"], "https://ca/acct/1", false),
            ("letsencrypt-prod", nil, "0102", ["hub.mybinder.org"], "https://ca/acct/1", false),  // adopted or older
            ("letsencrypt-prod", "https://ca/acct/1", "0102", ["hub.mybinder.org"], nil, false),
        ] as [(String, String?, String, [String], String?, Bool)])
    func replaces(issuer: String, account: String?, serial: String, hosts: [String], now: String?, sent: Bool)
        throws
    {
        var annotations = ["certctl.io/issuer": issuer, "certctl.io/serial": serial]
        annotations["certctl.io/account"] = account
        let current = try Self.current(annotations: annotations)
        var desired = Self.desired
        desired.hosts = hosts
        let id = try #require(current.summary?.ariCertificateID)
        #expect(
            RenewalPlan.replaces(current: current, desired: desired, issuer: desired.issuer, account: now)
                == (sent ? id : nil))
    }
}
