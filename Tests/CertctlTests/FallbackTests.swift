import ACME
import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Synchronization
import Testing
import Transport
import X509

@Suite("Fallback issuers: the annotation, the links, the plan")
struct FallbackPlanTests {
    static func issuerYAML(_ name: String, fallback: String?) -> String {
        """
        kind: ClusterIssuer
        metadata:
          name: \(name)
        \(fallback.map { "  annotations: {certctl.io/fallback-issuers: \"\($0)\"}" } ?? "")
        spec:
          acme:
            server: https://\(name).example/directory
        """
    }

    static func load(_ documents: [(String, String?)]) throws -> (issuers: [IssuerKey: Issuer], notes: [String]) {
        var issuers: [IssuerKey: Issuer] = [:]
        for (name, fallback) in documents {
            let issuer = try #require(try IssuerLoader.parse(issuerYAML(name, fallback: fallback), source: name).first)
            issuers[issuer.key] = issuer
        }
        return IssuerLoader.linkFallbacks(issuers)
    }

    @Test("certctl.io/fallback-issuers links defined issuers in order; the rest are passed over with a note")
    func linking() throws {
        let (issuers, notes) = try Self.load([
            ("letsencrypt-prod", "zerossl, missing, ClusterIssuer/gts, letsencrypt-prod"),
            ("zerossl", nil), ("gts", "letsencrypt-prod, ClusterIssuer/letsencrypt-prod"),
        ])
        #expect(issuers["letsencrypt-prod"]?.fallback == ["zerossl", "gts"])
        #expect(issuers["gts"]?.fallback == ["letsencrypt-prod"])
        #expect(issuers["zerossl"]?.fallback == [])
        #expect(notes.count == 2, "\(notes)")
        #expect(notes.contains { $0.contains("ClusterIssuer missing, which is not defined") })
        #expect(notes.contains { $0.contains("names the issuer itself") })
    }

    @Test(
        "a hostile annotation is a clear error naming the issuer and the annotation",
        arguments: [
            ("a, b, c, d, e", "names 5 issuers"),
            ("Issuer/x/y", "neither NAME nor ClusterIssuer/NAME"),
            ("Bad_Name", "whose name is not an issuer's"),
            ("ns/name", "neither NAME nor ClusterIssuer/NAME"),
        ])
    func hostile(value: String, message: String) throws {
        let error = #expect(throws: CertctlError.self) {
            try IssuerLoader.parse(Self.issuerYAML("letsencrypt-prod", fallback: value), source: "issuers/le.yaml")
        }
        #expect(error?.description.contains("certctl.io/fallback-issuers") == true)
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("letsencrypt-prod") == true)
    }

    @Test("a namespaced Issuer's NAME is an Issuer of its namespace; ClusterIssuer/NAME a cluster-wide one")
    func namespaced() throws {
        let spec: [String: Any] = ["acme": ["server": "https://ca.example/directory"]]
        let tenant = try #require(
            try IssuerLoader.issuer(
                kind: "Issuer", name: "le",
                annotations: [IssuerLoader.fallbackAnnotation: "backup, ClusterIssuer/zerossl"],
                spec: spec, source: "cluster, namespace team"))
        let backup = try #require(try IssuerLoader.issuer(kind: "Issuer", name: "backup", spec: spec, source: "team"))
        let zerossl = try #require(
            try IssuerLoader.issuer(kind: "ClusterIssuer", name: "zerossl", spec: spec, source: "c"))
        // Another namespace's `backup` is not the tenant's.
        let other = try backup.scoped(to: "other")
        var issuers: [IssuerKey: Issuer] = [:]
        for issuer in [try tenant.scoped(to: "team"), try backup.scoped(to: "team"), zerossl, other] {
            issuers[issuer.key] = issuer
        }
        let (linked, notes) = IssuerLoader.linkFallbacks(issuers)
        #expect(notes.isEmpty, "\(notes)")
        #expect(
            linked[IssuerKey(name: "le", namespace: "team")]?.fallback == [
                IssuerKey(name: "backup", namespace: "team"), "zerossl",
            ])
        issuers[IssuerKey(name: "backup", namespace: "team")] = nil
        let (_, missing) = IssuerLoader.linkFallbacks(issuers)
        #expect(missing.count == 1 && missing[0].contains("Issuer team/backup, which is not defined"), "\(missing)")
    }

    static func decide(_ annotations: [String: String], day: Double, fallbacks: Bool = true, profile: String? = nil)
        throws -> PlannedAction
    {
        var all = ["cert-manager.io/issuer-name": "letsencrypt-prod", "certctl.io/serial": "0102"]
        all.merge(annotations) { $1 }
        let current = try RenewalPlanTests.current(annotations: all)
        return RenewalPlan.decide(
            desired: RenewalPlanTests.desired, current: current, profile: profile, fallbacks: fallbacks,
            now: RenewalPlanTests.at(day))
    }

    @Test("urgent: no usable certificate, or inside its safety margin (the last 9 days of 90)")
    func urgency() throws {
        #expect(try !Self.decide([:], day: 1).urgent)
        #expect(try !Self.decide([:], day: 61).urgent, "due, with time left: waits for its own CA")
        #expect(try Self.decide([:], day: 61).isIssue)
        #expect(try Self.decide([:], day: 81.5).urgent)
        #expect(try Self.decide([:], day: 91).urgent, "expired")
        let missing = RenewalPlan.decide(
            desired: RenewalPlanTests.desired, current: nil, profile: nil, fallbacks: true, now: RenewalPlanTests.at(1))
        #expect(missing.urgent)
    }

    @Test("an urgent certificate skips its own CA's hold when fallbacks exist; nothing else does")
    func ownIssuerHold() throws {
        let hold = "2027-04-30T00:00:00Z"
        let until = try #require(Timestamp.rfc3339(hold))
        let failed = [
            "certctl.io/next-attempt": hold, "certctl.io/failure-count": "2",
            "certctl.io/last-failure-kind": "rate_limited", "certctl.io/last-failure": "too many new orders",
        ]
        let skipped = try Self.decide(failed, day: 82)
        #expect(skipped.kind == .issue)
        #expect(skipped.ownIssuerBacksOff == until)
        // Recorded by this version, naming the issuer: the same.
        #expect(
            try Self.decide(failed.merging(["certctl.io/last-failure-issuer": "letsencrypt-prod"]) { $1 }, day: 82)
                .ownIssuerBacksOff == until)
        // No fallbacks, time left, the fallbacks' own failure, or a failure no CA would avoid: the hold holds.
        #expect(try Self.decide(failed, day: 82, fallbacks: false).kind == .backOff(until: until))
        #expect(try Self.decide(failed, day: 61).kind == .backOff(until: until))
        let fallbackFailed = failed.merging(["certctl.io/last-failure-issuer": "zerossl"]) { $1 }
        #expect(try Self.decide(fallbackFailed, day: 82).kind == .backOff(until: until))
        let challenge = failed.merging(["certctl.io/last-failure-kind": "challenge"]) { $1 }
        #expect(try Self.decide(challenge, day: 82).kind == .backOff(until: until))
    }

    @Test("issuers are told apart by key: a tenant's Issuer falling back to the ClusterIssuer of its name")
    func sameName() throws {
        var desired = RenewalPlanTests.desired
        desired.issuerNamespace = "prod"
        desired.issuerKind = "Issuer"
        let hold = "2027-04-30T00:00:00Z"
        func decide(_ annotations: [String: String]) throws -> PlannedAction {
            var all = [
                "cert-manager.io/issuer-name": "letsencrypt-prod", "certctl.io/serial": "0102",
                "certctl.io/next-attempt": hold, "certctl.io/last-failure-kind": "ca_unreachable",
            ]
            all.merge(annotations) { $1 }
            return RenewalPlan.decide(
                desired: desired, current: try RenewalPlanTests.current(annotations: all), profile: nil,
                fallbacks: true, now: RenewalPlanTests.at(82))
        }
        // The ClusterIssuer letsencrypt-prod (the fallback) failed last: its hold holds.
        #expect(
            try decide(["certctl.io/last-failure-issuer": "letsencrypt-prod"]).kind
                == .backOff(until: try #require(Timestamp.rfc3339(hold))))
        // The tenant's own Issuer failed last: the fallbacks are asked.
        #expect(try decide(["certctl.io/last-failure-issuer": "prod/letsencrypt-prod"]).ownIssuerBacksOff != nil)
        // A certificate of the ClusterIssuer standing in for the Issuer is found by its issuer-kind.
        let standing = try RenewalPlanTests.current(annotations: [
            "certctl.io/serial": "0102", "certctl.io/issuer": "letsencrypt-prod",
            "certctl.io/fallback-from": "prod/letsencrypt-prod", "cert-manager.io/issuer-kind": "ClusterIssuer",
        ])
        let entry = Inventory.Entry(desired: desired, current: standing)
        #expect(entry.fallbackIssuerKey == "letsencrypt-prod")
        #expect(standing.record.standsIn(for: desired.issuerKey))
        #expect(!standing.record.standsIn(for: "letsencrypt-prod"))
    }

    @Test("a fallback's certificate stands until its renewal time: no issuer or profile change is seen")
    func standsIn() throws {
        let fromFallback = [
            "certctl.io/issuer": "zerossl", "certctl.io/fallback-from": "letsencrypt-prod",
            "certctl.io/profile": "classic",
        ]
        #expect(
            try Self.decide(fromFallback, day: 1, profile: "tlsserver").kind == .wait(until: RenewalPlanTests.at(60)))
        #expect(try Self.decide(fromFallback, day: 61, profile: "tlsserver").reason == .lifetimeThreshold)
        // The same certificate without the fallback's mark, or standing in for another issuer: changed.
        var plain = fromFallback
        plain["certctl.io/fallback-from"] = nil
        #expect(try Self.decide(plain, day: 1).reason == .issuerChanged)
        plain["certctl.io/fallback-from"] = "letsencrypt-staging"
        #expect(try Self.decide(plain, day: 1).reason == .issuerChanged)
    }
}

extension FallbackPlanTests {
    @Test("status, JSON, metrics and notifications say a fallback's certificate stands in, and when it no longer does")
    func said() throws {
        let annotations = [
            "cert-manager.io/issuer-name": "zerossl", "certctl.io/serial": "0102", "certctl.io/issuer": "zerossl",
            "certctl.io/fallback-from": "letsencrypt-prod",
            "certctl.io/fallback-reason": "letsencrypt-prod: [rate_limited] too many new orders",
        ]
        let entry = Inventory.Entry(
            desired: RenewalPlanTests.desired, current: try RenewalPlanTests.current(annotations: annotations))
        let now = RenewalPlanTests.at(1)
        let status = CertificateStatus(cluster: "prod", entry: entry, profile: nil, now: now)
        #expect(status.state == .ready)
        #expect(status.fallbackIssuer == "zerossl")
        #expect(status.issuerLabel == "zerossl (fallback)")
        #expect(
            status.problem?.hasPrefix("fallback zerossl issued it: letsencrypt-prod could not") == true,
            "\(status.problem ?? "")")
        #expect(
            status.problem
                == "fallback zerossl issued it: letsencrypt-prod could not ([rate_limited] too many new orders); its next renewal goes back to it"
        )
        let detail = StatusTable.detail(status, now: now, columns: 400)
        #expect(
            detail.contains("this certificate from its fallback zerossl, because letsencrypt-prod: [rate_limited]"),
            "\(detail)")
        let table = StatusTable.render(
            [status], now: now, style: .init(colour: false, wide: false, showCluster: false, width: 120))
        #expect(table.contains("zerossl (fallback)"), "\(table)")
        let text = try StatusTable.json(Overview(certificates: [status], problems: []), now: now)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let json = try #require((object["certificates"] as? [[String: Any]])?.first)
        #expect(json["issuedBy"] as? String == "zerossl")
        #expect((json["fallbackReason"] as? String)?.contains("rate_limited") == true)
        let metrics = CertificateMetrics.render([status], problems: [], run: nil, lastSuccess: nil)
        #expect(
            metrics.contains(
                #"certctl_certificate_fallback{namespace="prod",secret="kubelego-tls-hub",ingress="hub",issuer="letsencrypt-prod",object_kind="Ingress",issued_by="zerossl"} 1"#
            ), "\(metrics)")

        let sent = NotificationPolicy.notices(for: [status], interval: 86_400, now: now)
        #expect(sent.map(\.notice.kind) == [.fallback])
        #expect(sent.first?.notice.line.contains("zerossl") == true)
        // Its own issuer's certificate again: recovered.
        var own = annotations
        own["certctl.io/issuer"] = "letsencrypt-prod"
        own["certctl.io/fallback-from"] = nil
        own["certctl.io/fallback-reason"] = nil
        own["certctl.io/notified-state"] = "fallback"
        own["certctl.io/notified-at"] = Timestamp.rfc3339(now)
        let back = CertificateStatus(
            cluster: "prod",
            entry: Inventory.Entry(
                desired: RenewalPlanTests.desired, current: try RenewalPlanTests.current(annotations: own)),
            profile: nil, now: now)
        #expect(back.fallbackIssuer == nil && back.issuerLabel == "letsencrypt-prod")
        #expect(NotificationPolicy.notices(for: [back], interval: 86_400, now: now).map(\.notice.kind) == [.recovered])
        // Absent once its own issuer's certificate is back (Prometheus marks the series stale).
        #expect(!CertificateMetrics.render([back], problems: [], run: nil, lastSuccess: nil).contains("fallback"))
    }
}

@Suite("Fallback issuers: two real CAs, the first failing", .serialized)
struct FallbackRunTests {
    /// The in-process CA as `primary` (falling back to Pebble as `pebble`), both validating
    /// HTTP-01 on the run's port.
    static func issuers(primary: String, pebble: String, bundle: Bool = true) throws -> [IssuerKey: Issuer] {
        let yaml = """
            kind: ClusterIssuer
            metadata:
              name: primary
              annotations: {certctl.io/fallback-issuers: pebble}
            spec:
              acme:
                server: \(primary)
                privateKeySecretRef: {name: primary-account}
            ---
            kind: ClusterIssuer
            metadata: {name: pebble}
            spec:
              acme:
                server: \(pebble)
                privateKeySecretRef: {name: pebble-account}
            \(bundle ? "    caBundle: \(Data(Pebble.caBundle).base64EncodedString())" : "")
            """
        let parsed = try IssuerLoader.parse(yaml, source: "issuers/two.yaml")
        let (linked, notes) = IssuerLoader.linkFallbacks(Dictionary(uniqueKeysWithValues: parsed.map { ($0.key, $0) }))
        #expect(notes.isEmpty)
        return linked
    }

    /// A run of `ingresses` whose default issuer is `primary` of `issuers`.
    static func chained(
        _ kind: StoreKind, _ ingresses: [Ingress], issuers: [IssuerKey: Issuer], server: String, caBundle: [UInt8]?,
        port: Int
    ) async throws -> RunFixture {
        try await RunFixture.make(kind, ingresses: ingresses, server: server, caBundle: caBundle, port: port).with {
            $0.issuers = issuers
            $0.defaultIssuer = "primary"
        }
    }

    static func record(_ fixture: RunFixture, _ secret: String) async throws -> RenewalRecord {
        let stored = try #require(try await fixture.fixture.store.secret(namespace: "prod", name: secret))
        return RenewalRecord(annotations: stored.metadata.annotations ?? [:])
    }

    @Test(
        "the first CA rate-limits: a missing certificate is issued by the fallback in the same run, one with time left waits; its next renewal (renew) goes back to the first",
        arguments: StoreKind.allCases)
    func rateLimited(kind: StoreKind) async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let issuers = try Self.issuers(primary: ca.directoryURL, pebble: pebble.directoryURL)
        let run = try await Self.chained(
            kind, siteIngresses(2), issuers: issuers, server: pebble.directoryURL, caBundle: Pebble.caBundle, port: port
        )
        defer { Task { await run.fixture.stop() } }

        // A good day: both from the first CA, Pebble never asked.
        let (first, _) = try await run.runOnce()
        #expect(
            first.certificates.allSatisfy { $0.outcome == .issued },
            "\(first.certificates.map { "\($0.desired.id): \($0.outcome)" })")
        #expect(try await Self.record(run, "kubelego-tls-site0").issuer == "primary")
        #expect(await ca.orders.count == 2)
        // The fallback's account was not even opened.
        let fallback = try #require(issuers["pebble"])
        #expect(try await run.run.accounts.load(for: fallback) == nil)

        // The first CA rate-limits; site0's Secret is lost, site1 is asked to renew (time left).
        await ca.update { $0.rateLimitedOrders = 100 }
        let lost = try #require(try await run.fixture.store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        try await run.fixture.store.deleteSecret(lost)
        let (bad, _) = try await run.runOnce {
            $0.renewal = RenewalRequest(certificates: ["prod/kubelego-tls-site1"], issueNow: true)
        }
        let outcomes = Dictionary(uniqueKeysWithValues: bad.certificates.map { ($0.desired.secretName, $0.outcome) })
        #expect(outcomes["kubelego-tls-site0"] == .issued, "\(outcomes)")
        #expect(bad.certificates.first { $0.desired.secretName == "kubelego-tls-site0" }?.fallbackIssuer == "pebble")
        #expect(bad.certificates.first { $0.desired.secretName == "kubelego-tls-site1" }?.fallbackIssuer == nil)
        let site0 = try await Self.record(run, "kubelego-tls-site0")
        #expect(site0.issuer == "pebble")
        #expect(site0.fallbackFrom == "primary")
        #expect(site0.fallbackReason?.contains("rate_limited") == true, "\(site0.fallbackReason ?? "")")
        let stored = try #require(try await run.fixture.store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        #expect(stored.metadata.annotations?["cert-manager.io/issuer-name"] == "pebble")
        let chain = try CertificateChain(pem: String(decoding: stored.data?["tls.crt"] ?? Data(), as: UTF8.self))
        #expect(chain.leaf.issuer.description.lowercased().contains("pebble"), "\(chain.leaf.issuer)")
        // site1 had time left: it waits for its own CA, and only the first CA was asked for it.
        if case .failed(let failure, let stillValid) = outcomes["kubelego-tls-site1"] {
            #expect(failure.kind == .rateLimited)
            #expect(stillValid)
        } else {
            Issue.record("site1 was not left to its own CA: \(String(describing: outcomes["kubelego-tls-site1"]))")
        }
        let site1 = try await Self.record(run, "kubelego-tls-site1")
        #expect(site1.issuer == "primary" && site1.fallbackFrom == nil)
        #expect(site1.lastFailureIssuer == "primary")

        // The fallback's certificate stands: the next run orders nothing.
        let (quiet, requests) = try await run.runOnce()
        #expect(requests == 0, "\(run.requests.actions.withLock { $0 })")
        #expect(quiet.certificates.first { $0.desired.secretName == "kubelego-tls-site0" }?.outcome == .unchanged)

        // The first CA is back: site0's next renewal is its own issuer's again.
        await ca.update { $0.rateLimitedOrders = 0 }
        let before = await ca.orders.count
        let (back, _) = try await run.runOnce {
            $0.renewal = RenewalRequest(certificates: ["prod/kubelego-tls-site0"], issueNow: true)
        }
        #expect(back.certificates.first { $0.desired.secretName == "kubelego-tls-site0" }?.outcome == .issued)
        let returned = try await Self.record(run, "kubelego-tls-site0")
        #expect(returned.issuer == "primary")
        #expect(returned.fallbackFrom == nil && returned.fallbackReason == nil)
        #expect(await ca.orders.count > before)
    }

    @Test("the first CA cannot be reached: missing certificates are issued by the fallback in the same run")
    func unreachable() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let dead = "http://127.0.0.1:\(freeLoopbackPort())/dir"
        let issuers = try Self.issuers(primary: dead, pebble: pebble.directoryURL)
        let run = try await Self.chained(
            .local, siteIngresses(2), issuers: issuers, server: pebble.directoryURL, caBundle: Pebble.caBundle,
            port: port)
        defer { Task { await run.fixture.stop() } }

        let (first, _) = try await run.runOnce()
        #expect(first.certificates.allSatisfy { $0.outcome == .issued }, "\(first.certificates.map(\.outcome))")
        #expect(first.exitCode(at: Date()) == 0)
        for site in ["kubelego-tls-site0", "kubelego-tls-site1"] {
            let record = try await Self.record(run, site)
            #expect(record.issuer == "pebble" && record.fallbackFrom == "primary")
            #expect(record.fallbackReason?.contains("ca_unreachable") == true, "\(record.fallbackReason ?? "")")
        }
    }

    @Test(
        "a certificate with no usable key, held back by its own CA's rate limit, goes to the fallback without asking that CA"
    )
    func ownIssuerHold() async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let issuers = try Self.issuers(primary: ca.directoryURL, pebble: pebble.directoryURL)
        let run = try await Self.chained(
            .local, siteIngresses(1), issuers: issuers, server: pebble.directoryURL, caBundle: Pebble.caBundle,
            port: port)
        defer { Task { await run.fixture.stop() } }
        let (first, _) = try await run.runOnce()
        #expect(first.certificates.first?.outcome == .issued)

        // Its key replaced (no usable certificate), and the first CA's hold an hour from now.
        let store = run.fixture.store
        @Sendable func breakWithHold() async throws {
            var broken = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site0"))
            broken.data?["tls.key"] = Data(try PrivateKey(generating: .ecdsaP256).pemRepresentation().utf8)
            let record = RecordPolicy.afterFailure(
                RenewalRecord(annotations: broken.metadata.annotations ?? [:]), kind: .rateLimited,
                message: "too many new orders", retryAfter: Date().addingTimeInterval(3600), issuer: "primary",
                now: Date())
            var annotations = broken.metadata.annotations ?? [:]
            record.apply(to: &annotations)
            broken.metadata.annotations = annotations
            try await store.update(broken)
        }
        try await breakWithHold()

        let asked = await ca.requests.count
        let (held, _) = try await run.runOnce()
        #expect(held.certificates.first?.outcome == .issued)
        let site0 = try await Self.record(run, "kubelego-tls-site0")
        #expect(site0.issuer == "pebble")
        #expect(site0.fallbackReason?.contains("primary holds it back until") == true, "\(site0.fallbackReason ?? "")")
        #expect(site0.failureCount == 0 && site0.nextAttempt == nil)
        #expect(await ca.requests.count == asked, "the first CA was asked during its own hold")

        // Without the fallback, the same hold is kept: nothing is ordered.
        try await breakWithHold()
        let alone = run.with { $0.issuers["primary"]?.fallback = [] }
        let (kept, requests) = try await alone.runOnce()
        #expect(requests == 0)
        #expect(kept.certificates.first?.outcome == .deferred)
    }

    /// The run with a dead first CA falling back to the in-process CA (whose requests are counted).
    static func deadFirst(_ ingresses: [Ingress]) async throws -> (RunFixture, TestACMEServer, [IssuerKey: Issuer]) {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        let issuers = try Self.issuers(
            primary: "http://127.0.0.1:\(freeLoopbackPort())/dir", pebble: ca.directoryURL, bundle: false)
        let run = try await Self.chained(
            .local, ingresses, issuers: issuers, server: ca.directoryURL, caBundle: nil, port: port)
        return (run, ca, issuers)
    }

    @Test("every issuer of the chain fails: the last one's failure and hold are recorded, and the next run asks no CA")
    func allFail() async throws {
        let (run, ca, _) = try await Self.deadFirst(siteIngresses(1))
        defer { Task { await run.fixture.stop() } }
        await ca.update {
            $0.rateLimitedOrders = 100
            $0.rateLimitRetryAfter = "7200"
        }
        let (first, _) = try await run.runOnce()
        guard case .failed(let failure, _) = first.certificates.first?.outcome else {
            Issue.record("not failed: \(String(describing: first.certificates.first?.outcome))")
            return
        }
        #expect(failure.kind == .rateLimited)
        let stored = try #require(
            try await run.fixture.store.pendingRecord(namespace: "prod", secretName: "kubelego-tls-site0"))
        let record = RenewalRecord(annotations: stored)
        #expect(record.lastFailureIssuer == "pebble")
        #expect(record.lastFailureKind == .rateLimited)
        #expect(record.lastFailure?.contains("primary: [ca_unreachable]") == true, "\(record.lastFailure ?? "")")
        #expect(record.lastFailure?.contains("fallback pebble: [rate_limited]") == true)
        // The fallback's Retry-After (2 h) holds, not the 1 h back-off.
        let hold = try #require(record.nextAttempt)
        #expect(hold.timeIntervalSinceNow > 7000)
        let asked = await ca.requests.count
        let (second, requests) = try await run.runOnce()
        #expect(requests == 0)
        #expect(second.certificates.first?.outcome == .deferred)
        #expect(await ca.requests.count == asked)
    }

    @Test("a fallback's certificate is revoked through the fallback's CA, and still when the chain no longer names it")
    func revokedThroughTheFallback() async throws {
        // Pebble revokes (the in-process CA does not): the dead first CA could not have.
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let issuers = try Self.issuers(
            primary: "http://127.0.0.1:\(freeLoopbackPort())/dir", pebble: pebble.directoryURL)
        let run = try await Self.chained(
            .local, siteIngresses(1), issuers: issuers, server: pebble.directoryURL, caBundle: Pebble.caBundle,
            port: port)
        defer { Task { await run.fixture.stop() } }
        let (first, _) = try await run.runOnce()
        #expect(first.certificates.first?.fallbackIssuer == "pebble")
        let store = run.fixture.store
        let secret = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        let serial = try #require(CurrentCertificate(secret: secret).summary?.serialHex)
        // The chain cleaned up after the incident: the issuer is still defined, not named.
        var cleaned = issuers
        cleaned["primary"]?.fallback = []
        let revocation = Revocation(reason: .keyCompromise, serials: ["prod/kubelego-tls-site0": serial])
        _ = try await run.runOnce {
            $0.issuers = cleaned
            $0.renewal = RenewalRequest(
                certificates: ["prod/kubelego-tls-site0"], issueNow: false, revocation: revocation)
        }
        // Recorded only once a CA revoked it: the first one cannot be reached, so it was Pebble.
        #expect(try await Self.record(run, "kubelego-tls-site0").revokedSerial == serial)

        // The issuer that issued it gone altogether: the revocation fails naming it.
        let reissued = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        let current = CurrentCertificate(secret: reissued)
        #expect(current.record.standsIn(for: "primary"))
        if let now = current.summary?.serialHex {
            var gone = cleaned
            gone["pebble"] = nil
            let again = Revocation(reason: .keyCompromise, serials: ["prod/kubelego-tls-site0": now])
            await #expect(throws: CertctlError.self) {
                _ = try await run.runOnce {
                    $0.issuers = gone
                    $0.renewal = RenewalRequest(
                        certificates: ["prod/kubelego-tls-site0"], issueNow: false, revocation: again)
                }
            }
        }
    }

    @Test(
        "a run that could not store the fallback's certificate: the next picks up that order, the recovered first CA is not asked"
    )
    func keptAtFallback() async throws {
        let port = freeLoopbackPort()
        let first = try await TestACMEServer.start(validationPort: port)
        let second = try await TestACMEServer.start(validationPort: port)
        defer {
            Task {
                await first.stop()
                await second.stop()
            }
        }
        let issuers = try Self.issuers(primary: first.directoryURL, pebble: second.directoryURL, bundle: false)
        let fixture = try await Self.chained(
            .local, siteIngresses(1), issuers: issuers, server: second.directoryURL, caBundle: nil, port: port)
        defer { Task { await fixture.fixture.stop() } }
        let failing = Shared<Bool>(true)
        let offset = Shared<TimeInterval>(0)
        var run = fixture.run
        run.store = SecretWritesFail(base: run.store, failing: failing)
        run.now = { Date().addingTimeInterval(offset.value.withLock { $0 }) }

        // The first CA rate-limits; the fallback issues, and the Secret cannot be written.
        await first.update { $0.rateLimitedOrders = 1 }
        let lost = try await run.run(fixture.options)
        guard case .failed = lost.certificates.first?.outcome else {
            Issue.record("the first run cannot store: \(lost.certificates)")
            return
        }
        #expect(await second.orders.count == 1)
        let fallback = try #require(issuers["pebble"])
        let kept = try await #require(run.orders).orders(for: fallback).orders
        #expect(kept["prod/kubelego-tls-site0"] != nil, "kept beside the fallback's account before finalize")

        // Past the back-off, the store back, the first CA recovered: the kept order is picked up.
        failing.value.withLock { $0 = false }
        offset.value.withLock { $0 = 2 * 3600 }
        let (firstOrders, secondOrders) = (await first.orders.count, await second.orders.count)
        let picked = try await run.run(fixture.options)
        #expect(picked.certificates.first?.outcome == .issued, "\(picked.certificates)")
        #expect(await first.orders.count == firstOrders, "the first CA was asked for a second certificate")
        #expect(await second.orders.count == secondOrders, "no new order at the fallback either")
        let record = try await Self.record(fixture, "kubelego-tls-site0")
        #expect(record.issuer == "pebble" && record.fallbackFrom == "primary")
        #expect(try await run.orders?.orders(for: fallback).orders.isEmpty == true, "forgotten once stored")
    }
}
