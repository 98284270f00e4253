import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Logging
import Testing
import Transport

/// cert-manager's ingress-shim annotations: each honoured, or refused by name with the reason.
@Suite("cert-manager annotations")
struct AnnotationTests {
    static let hosts = ["hub.mybinder.org", "www.mybinder.org"]

    static func read(_ annotations: [String: String]) -> Result<CertificateSettings, SettingsProblem> {
        CertificateSettings.read(annotations, hosts: hosts)
    }

    @Test(
        "private keys in cert-manager's spelling; RSA 2048 when only a size is given",
        arguments: [
            (["cert-manager.io/private-key-algorithm": "RSA"], KeyType.rsa2048),
            (["cert-manager.io/private-key-algorithm": "RSA", "cert-manager.io/private-key-size": "4096"], .rsa4096),
            (["cert-manager.io/private-key-size": "3072"], .rsa3072),
            (["cert-manager.io/private-key-algorithm": "ECDSA"], .ecdsaP256),
            (
                ["cert-manager.io/private-key-algorithm": "ECDSA", "cert-manager.io/private-key-size": "384"],
                .ecdsaP384
            ),
        ])
    func keys(annotations: [String: String], type: KeyType) throws {
        let settings = try Self.read(annotations).get()
        #expect(settings.keyType == type)
        #expect(settings.effects == ["key \(type.rawValue) (private-key-algorithm/-size)"])
    }

    @Test(
        "values certctl cannot honour are refused by annotation, with what to do",
        arguments: [
            ("cert-manager.io/private-key-algorithm", "Ed25519", "Ed25519 keys are not issued by Let's Encrypt"),
            ("cert-manager.io/private-key-algorithm", "DSA", "\"DSA\" is not RSA, ECDSA or Ed25519"),
            ("cert-manager.io/private-key-size", "1024", "RSA keys of 1024 bits are not made; use 2048, 3072 or 4096"),
            ("cert-manager.io/private-key-size", "big", "\"big\" is not a number of bits"),
            ("cert-manager.io/private-key-encoding", "DER", "\"DER\" is not PKCS1 or PKCS8"),
            ("cert-manager.io/private-key-rotation-policy", "Sometimes", "\"Sometimes\" is not Always or Never"),
            ("cert-manager.io/common-name", "other.example.org", "is not one of the hosts"),
            ("cert-manager.io/renew-before", "a week", "is not a duration like 720h or 360h30m"),
            ("cert-manager.io/renew-before-percentage", "100", "is not a whole percentage from 1 to 99"),
            ("cert-manager.io/duration", "90 days", "is not a duration like 2160h"),
        ])
    func refused(annotation: String, value: String, message: String) {
        guard case .failure(let problem) = Self.read([annotation: value]) else {
            Issue.record("\(annotation): \(value) was accepted")
            return
        }
        #expect(problem.annotation == annotation)
        #expect(problem.message.contains(message), "\(problem.message)")
    }

    @Test("ECDSA P-521 is refused (Let's Encrypt takes P-256 and P-384); both solver classes at once too")
    func moreRefusals() {
        guard
            case .failure(let curve) = Self.read([
                "cert-manager.io/private-key-algorithm": "ECDSA", "cert-manager.io/private-key-size": "521",
            ])
        else {
            Issue.record("P-521 accepted")
            return
        }
        #expect(curve.message.contains("Let's Encrypt takes P-256 and P-384"))
        guard
            case .failure(let both) = Self.read([
                "acme.cert-manager.io/http01-ingress-class": "nginx",
                "acme.cert-manager.io/http01-ingress-ingressclassname": "nginx",
            ])
        else {
            Issue.record("both classes accepted")
            return
        }
        #expect(both.annotation == "acme.cert-manager.io/http01-ingress-class")
    }

    @Test("renewal, CN, encoding, rotation and the solver's class are honoured and said")
    func honoured() throws {
        let settings = try Self.read([
            "cert-manager.io/renew-before": "360h30m", "cert-manager.io/renew-before-percentage": "40",
            "cert-manager.io/common-name": "www.mybinder.org", "cert-manager.io/private-key-encoding": "PKCS8",
            "cert-manager.io/private-key-rotation-policy": "Never",
            "acme.cert-manager.io/http01-ingress-ingressclassname": "nginx-public",
        ]).get()
        #expect(abs((settings.renewBefore ?? 0) - (360 * 3600 + 30 * 60)) < 0.001)
        #expect(settings.renewBeforeShare == 0.4)
        #expect(settings.commonName == "www.mybinder.org")
        #expect(settings.keyEncoding == .pkcs8)
        #expect(settings.keepsKey)
        #expect(settings.http01IngressClassName == "nginx-public")
        #expect(settings.effects.count == 6, "\(settings.effects)")
        #expect(settings.ignored.isEmpty)
    }

    @Test("annotations with no meaning for an ACME CA are warnings naming them; unknown ones too")
    func ignored() throws {
        let settings = try Self.read([
            "cert-manager.io/duration": "2160h", "cert-manager.io/usages": "server auth,client auth",
            "cert-manager.io/revision-history-limit": "3", "cert-manager.io/subject-organizations": "Binder",
            "cert-manager.io/made-up": "x", "cert-manager.io/cluster-issuer": "letsencrypt-prod",
        ]).get()
        let text = settings.ignored.joined(separator: "\n")
        for name in [
            "cert-manager.io/duration: 2160h is not requested", "cert-manager.io/usages:",
            "cert-manager.io/revision-history-limit: not applicable", "cert-manager.io/subject-organizations:",
            "cert-manager.io/made-up: not an ingress-shim annotation certctl knows",
        ] {
            #expect(text.contains(name), "\(name) in \(text)")
        }
        #expect(!text.contains("cluster-issuer"))
    }

    @Test("an object with none of the settings' annotations reads as the defaults; any one of them is read")
    func noSettings() throws {
        let unrelated = [
            "cert-manager.io/cluster-issuer": "letsencrypt-prod", "cert-manager.io/issuer-kind": "ClusterIssuer",
            "kubernetes.io/tls-acme": "true", "nginx.ingress.kubernetes.io/ssl-redirect": "true",
        ]
        #expect(try Self.read(unrelated).get() == CertificateSettings())
        #expect(try Self.read([:]).get() == CertificateSettings())
        // The first of each family alone still counts: an unknown cert-manager.io/ one, an acme. one.
        let unknown = try Self.read(unrelated.merging(["cert-manager.io/made-up": "x"]) { $1 }).get()
        #expect(unknown.ignored == ["cert-manager.io/made-up: not an ingress-shim annotation certctl knows; ignored"])
        let editInPlace = try Self.read(["acme.cert-manager.io/http01-edit-in-place": "true"]).get()
        #expect(editInPlace.editInPlace)
        guard case .failure(let problem) = Self.read(["acme.cert-manager.io/http01-ingress-class": "not a class!"])
        else {
            Issue.record("a bad solver class alone was not refused")
            return
        }
        #expect(problem.annotation == "acme.cert-manager.io/http01-ingress-class")
    }

    @Test("the CSR's subject CN is the common-name asked, the SANs every host")
    func commonName() async throws {
        let key = try PrivateKey(generating: .ecdsaP256)
        let subject = ["req", "-inform", "DER", "-noout", "-subject"]
        let csr = try key.makeCSR(for: Self.hosts, commonName: "www.mybinder.org")
        let text = try await ExternalTool.run("/usr/bin/openssl", subject, bytes: csr).output
        #expect(text.contains("CN = www.mybinder.org") || text.contains("CN=www.mybinder.org"), "\(text)")
        let plain = try await ExternalTool.run("/usr/bin/openssl", subject, bytes: try key.makeCSR(for: Self.hosts))
        #expect(plain.output.contains("hub.mybinder.org"), "\(plain.output)")
    }

    @Test("tls.key encodings read back and as openssl reads them: PKCS#1/SEC1 and PKCS#8", arguments: KeyType.allCases)
    func encodings(type: KeyType) async throws {
        let key = try PrivateKey(generating: type)
        let pkcs1 = try key.pkcs1PEMRepresentation()
        let pkcs8 = try key.pkcs8PEMRepresentation()
        #expect(
            pkcs1.hasPrefix(
                type.rawValue.hasPrefix("rsa") ? "-----BEGIN RSA PRIVATE KEY-----" : "-----BEGIN EC PRIVATE KEY-----"))
        #expect(pkcs8.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        for pem in [pkcs1, pkcs8] {
            let check = try await ExternalTool.run("/usr/bin/openssl", ["pkey", "-noout", "-check"], input: pem).output
            #expect(check.contains("valid"), "\(type) \(pem.prefix(30)): \(check)")
            let back = try PrivateKey(pem: pem)
            #expect(back.type == type)
            #expect(back.publicKey == key.publicKey, "the same key")
        }
    }

    @Test("Go durations as cert-manager writes them")
    func durations() {
        let hour = 3600.0
        #expect(CertificateSettings.parseDuration("720h") == 720 * hour)
        #expect(CertificateSettings.parseDuration("1h30m") == 1.5 * hour)
        #expect(CertificateSettings.parseDuration("90s") == 90)
        #expect(CertificateSettings.parseDuration("1.5h") == 1.5 * hour)
        #expect(CertificateSettings.parseDuration("500ms") == 0.5)
        #expect(CertificateSettings.parseDuration("") == nil)
        #expect(CertificateSettings.parseDuration("10d") == nil)
        #expect(CertificateSettings.parseDuration("h") == nil)
    }

    @Test("discovery: a refused annotation is the Ingress's problem (kind annotation, its field); issuer-kind is read")
    func discovery() {
        let refused = ingress(
            "prod", "hub",
            annotations: ["kubernetes.io/tls-acme": "true", "cert-manager.io/private-key-algorithm": "Ed25519"],
            tls: [(["hub.mybinder.org"], "tls-hub")])
        let clusterKind = ingress(
            "prod", "www",
            annotations: [
                "cert-manager.io/issuer": "letsencrypt-prod", "cert-manager.io/issuer-kind": "ClusterIssuer",
            ],
            tls: [(["www.mybinder.org"], "tls-www")])
        let external = ingress(
            "prod", "ext",
            annotations: ["cert-manager.io/issuer": "vault", "cert-manager.io/issuer-group": "vault.example.org"],
            tls: [(["ext.mybinder.org"], "tls-ext")])
        let found = Discovery.certificates(
            for: [refused, clusterKind, external], issuers: ["letsencrypt-prod", "vault"],
            defaultIssuer: "letsencrypt-prod")
        #expect(found.certificates.map(\.secretName) == ["tls-www"])
        #expect(found.certificates.first?.issuerKind == "ClusterIssuer")
        let problem = found.problems.first { $0.object == "Secret prod/tls-hub" }
        #expect(problem?.kind == .annotation)
        #expect(problem?.field == "metadata.annotations[cert-manager.io/private-key-algorithm]")
        let group = found.problems.first { $0.object == "Ingress prod/ext" }
        #expect(group?.reason.contains("only cert-manager.io's ACME Issuer and ClusterIssuer") == true)

        // Two Ingresses naming one Secret with different key settings: a conflict, not a guess.
        let one = ingress(
            "prod", "a", annotations: ["kubernetes.io/tls-acme": "true", "cert-manager.io/private-key-size": "4096"],
            tls: [(["a.mybinder.org"], "tls-a")])
        let two = ingress("prod", "b", tls: [(["a.mybinder.org"], "tls-a")])
        let conflict = Discovery.certificates(for: [one, two], issuers: ["pebble"], defaultIssuer: "pebble")
        #expect(conflict.certificates.isEmpty)
        #expect(conflict.problems.first?.kind == .conflict)
    }

    @Test("renew-before and renew-before-percentage move the renewal time earlier, never later")
    func renewalTime() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let entry = try StatusTests.entry("hub", start: -10, days: 90)
        func decide(_ settings: CertificateSettings) -> PlannedAction {
            var desired = entry.desired
            desired.settings = settings
            return RenewalPlan.decide(desired: desired, current: entry.current, profile: nil, now: now)
        }
        let notAfter = now.addingTimeInterval(80 * 86_400)
        let plain = decide(CertificateSettings())
        #expect(plain.renewalTime == now.addingTimeInterval(50 * 86_400), "2/3 of 90 days")
        var early = CertificateSettings()
        early.renewBefore = 85 * 86_400  // renew 85 days before expiry: 5 days ago
        let due = decide(early)
        #expect(due.kind == .issue && due.reason == .renewBefore, "\(due)")
        #expect(due.renewalTime == notAfter.addingTimeInterval(-85 * 86_400))
        var late = CertificateSettings()
        late.renewBefore = 5 * 86_400  // later than the 2/3 rule: the rule wins
        #expect(decide(late).renewalTime == plain.renewalTime)
        var share = CertificateSettings()
        share.renewBeforeShare = 0.5  // half of 90 days left: at 45 days, before the 2/3 rule's 60
        #expect(decide(share).renewalTime == notAfter.addingTimeInterval(-45 * 86_400))
        var key = CertificateSettings()
        key.keyType = .rsa2048
        #expect(decide(key).reason == .keyChanged, "an Ingress asking for another key type re-issues")
    }
}

@Suite("cert-manager annotations through a run against Pebble", .serialized)
struct AnnotationRunTests {
    @Test("RSA 3072 in PKCS#8 with the CN asked, ECDSA P-384; at renewal Never keeps the key, Always makes a new one")
    func keys() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let keep = ingress(
            "prod", "keep",
            annotations: [
                "kubernetes.io/tls-acme": "true", "cert-manager.io/private-key-algorithm": "RSA",
                "cert-manager.io/private-key-size": "3072", "cert-manager.io/private-key-encoding": "PKCS8",
                "cert-manager.io/common-name": "www.mybinder.org",
                "cert-manager.io/private-key-rotation-policy": "Never",
            ],
            tls: [(["hub.mybinder.org", "www.mybinder.org"], "tls-keep")])
        let rotate = ingress(
            "prod", "rotate",
            annotations: [
                "kubernetes.io/tls-acme": "true", "cert-manager.io/private-key-algorithm": "ECDSA",
                "cert-manager.io/private-key-size": "384",
            ],
            tls: [(["rotate.mybinder.org"], "tls-rotate")])
        let run = try await RunFixture.make(
            .local, ingresses: [keep, rotate], server: pebble.directoryURL, caBundle: Pebble.caBundle, port: port)
        defer { Task { await run.fixture.stop() } }
        let (first, _) = try await run.runOnce()
        #expect(first.certificates.allSatisfy { $0.outcome == .issued }, "\(first.certificates.map(\.outcome))")

        let store = run.fixture.store
        let kept = try #require(try await store.secret(namespace: "prod", name: "tls-keep"))
        let keptCurrent = CurrentCertificate(secret: kept)
        #expect(keptCurrent.isUsable, "the PKCS#8 key reads back: \(keptCurrent.problems)")
        #expect(keptCurrent.summary?.keyType == .rsa3072)
        let keptKey = String(decoding: kept.data?["tls.key"] ?? Data(), as: UTF8.self)
        #expect(keptKey.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        let check = try await ExternalTool.run("/usr/bin/openssl", ["pkey", "-noout", "-text"], input: keptKey)
        #expect(check.status == 0 && check.output.contains("Private-Key: (3072 bit"), "\(check.output)")
        let rotated = try #require(try await store.secret(namespace: "prod", name: "tls-rotate"))
        #expect(CurrentCertificate(secret: rotated).summary?.keyType == .ecdsaP384)
        let rotatedKey = String(decoding: rotated.data?["tls.key"] ?? Data(), as: UTF8.self)
        #expect(rotatedKey.hasPrefix("-----BEGIN EC PRIVATE KEY-----"), "PKCS1/SEC1 by default")

        for var secret in [kept, rotated] {
            secret.metadata.annotations?["certctl.io/renew-requested"] = "true"
            _ = try await store.update(secret)
        }
        let (second, _) = try await run.runOnce()
        #expect(second.certificates.allSatisfy { $0.outcome == .issued }, "\(second.certificates.map(\.outcome))")
        let keptAgain = try #require(try await store.secret(namespace: "prod", name: "tls-keep"))
        let rotatedAgain = try #require(try await store.secret(namespace: "prod", name: "tls-rotate"))
        #expect(keptAgain.data?["tls.crt"] != kept.data?["tls.crt"], "a new certificate")
        #expect(keptAgain.data?["tls.key"] == kept.data?["tls.key"], "private-key-rotation-policy: Never keeps the key")
        #expect(rotatedAgain.data?["tls.key"] != rotated.data?["tls.key"], "Always (the default) makes a new one")
    }

    @Test("an ignored annotation is one warning of the run naming the Ingress")
    func warning() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let site = ingress(
            "prod", "site",
            annotations: ["kubernetes.io/tls-acme": "true", "cert-manager.io/duration": "2160h"],
            tls: [(["site.mybinder.org"], "tls-site")])
        let run = try await RunFixture.make(
            .local, ingresses: [site], server: pebble.directoryURL, caBundle: Pebble.caBundle, port: port)
        defer { Task { await run.fixture.stop() } }
        let (report, _) = try await run.runOnce()
        #expect(
            report.warnings == [
                "Ingress prod/site cert-manager.io/duration: 2160h is not requested; the ACME CA chooses the lifetime (Let's Encrypt: its profile's)"
            ], "\(report.warnings)")
    }
}
