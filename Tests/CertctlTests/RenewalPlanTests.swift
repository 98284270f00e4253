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
        annotations: [String: String] = ["cert-manager.io/issuer-name": "letsencrypt-prod"]
    ) throws -> CurrentCertificate {
        let authority = try #require(authority)
        let key = try PrivateKey(generating: .ecdsaP256)
        let pem = try authority.issuePEM(
            for: key, names: names, notBefore: start, notAfter: start.addingTimeInterval(lifetime * day),
            serial: [0x01, 0x02])
        let keyPEM =
            foreignKey ? try PrivateKey(generating: .ecdsaP256).pemRepresentation() : try key.pemRepresentation()
        return CurrentCertificate(
            secret: Secret(
                metadata: ObjectMeta(name: "kubelego-tls-hub", namespace: "prod", annotations: annotations),
                type: type,
                data: ["tls.crt": Data(pem.utf8), "tls.key": Data(keyPEM.utf8)]
            )
        )
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
        #expect(decide(nil, at: 0) == PlannedAction(kind: .issue, reason: .missing, renewalTime: nil))
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
}
