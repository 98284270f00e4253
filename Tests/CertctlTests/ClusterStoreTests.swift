import Basics
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing

@testable import CertctlCore

@Suite("Cluster seam: the same behaviour from the API server and the local directory")
struct ClusterStoreTests {
    @Test("discovery of a meta chart deployment", arguments: StoreKind.allCases)
    func discovery(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.make(kind, ingresses: metaChartIngresses)
        defer { Task { await fixture.stop() } }
        let inventory = try await Inventory.load(
            from: fixture.store, scope: .all, issuers: fixtureIssuers, defaultIssuer: "pebble")
        let ids = inventory.entries.map(\.desired.id)
        #expect(
            ids == [
                "prod/kubelego-tls-binder", "prod/kubelego-tls-grafana", "prod/kubelego-tls-hub",
                "prod/kubelego-tls-redirector",
                "prod/kubelego-tls-static", "staging/kubelego-tls-binder", "staging/multi-a", "staging/multi-b",
            ])
        let redirector = try #require(inventory.entries.first { $0.desired.id == "prod/kubelego-tls-redirector" })
        #expect(redirector.desired.hosts == ["www.mybinder.org", "beta.mybinder.org"])
        #expect(redirector.desired.ingresses == ["redirector", "redirector-docs"])
        #expect(
            inventory.entries.first { $0.desired.secretName == "kubelego-tls-static" }?.desired.issuer
                == "letsencrypt-prod")
        #expect(
            inventory.entries.first { $0.desired.id == "prod/kubelego-tls-grafana" }?.desired.ingressClass == "traefik")
        #expect(
            inventory.entries.first { $0.desired.id == "staging/multi-b" }?.desired.hosts == [
                "b.staging.mybinder.org", "c.staging.mybinder.org",
            ])
        #expect(inventory.entries.allSatisfy { $0.current == nil })

        let problems = inventory.problems.map(\.description)
        // The API server refuses the host with an underscore: only a local manifest can hold it.
        let badHostKnown = kind == .local
        #expect(fixture.refused == (badHostKnown ? [:] : ["bad-host": ["spec.rules[0].host", "spec.tls[0].hosts[0]"]]))
        #expect(problems.count == (badHostKnown ? 3 : 2), "\(problems)")
        #expect(
            problems.contains {
                $0.hasPrefix("Secret prod/kubelego-tls-shared:") && $0.contains("give each its own secretName")
            })
        #expect(
            problems.contains {
                $0.hasPrefix("Ingress prod/bad-host:") && $0.contains("under_score.mybinder.org")
                    && $0.contains("Secret prod/kubelego-tls-bad gets no certificate until it is fixed")
            } == badHostKnown)
        #expect(problems.contains { $0.hasPrefix("Ingress staging/other-issuer:") && $0.contains("\"venafi\"") })
        #expect(inventory.withoutTLS == ["Ingress prod/no-tls"])
    }

    @Test("discovery's list of Ingresses leaves out the rules' paths, in small pages and large; a get keeps them")
    func ingressesWithoutPaths() async throws {
        // 130 in one namespace: a page of 128 or more is decoded in chunks, a smaller one whole.
        let many = (0..<130).map { ingress("prod", "site\($0)", tls: [(["site\($0).mybinder.org"], "tls-\($0)")]) }
        for (ingresses, scope) in [(metaChartIngresses, NamespaceScope.all), (many, .only(["prod"]))] {
            let fixture = try await StoreFixture.make(.kubernetes, ingresses: ingresses)
            defer { Task { await fixture.stop() } }
            let listed = try await fixture.store.ingresses(in: scope).items
            #expect(listed.count == ingresses.count - fixture.refused.count)
            let rules = listed.flatMap { $0.spec?.rules ?? [] }
            #expect(!rules.isEmpty && rules.allSatisfy { $0.http == nil })
            let ruleHosts = Set(rules.compactMap(\.host))
            let tlsHosts: Set<String> = Set(
                listed.flatMap { ingress -> [String] in
                    (ingress.spec?.tls ?? []).flatMap { $0.hosts ?? [] }
                })
            #expect(ruleHosts == tlsHosts)
            let store = try #require(fixture.store as? KubernetesStore)
            let first = try #require(listed.first)
            let whole = try await store.client.get(
                Ingress.self, namespace: first.metadata.namespace, name: first.metadata.name ?? "")
            #expect(whole.spec?.rules?.first?.http?.paths.first?.backend.service?.name == "web")
        }
    }

    @Test("namespaces narrow the scope", arguments: StoreKind.allCases)
    func namespaces(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.make(kind, ingresses: metaChartIngresses)
        defer { Task { await fixture.stop() } }
        let inventory = try await Inventory.load(
            from: fixture.store, scope: .only(["staging"]), issuers: fixtureIssuers, defaultIssuer: "pebble")
        #expect(inventory.entries.map(\.desired.namespace).allSatisfy { $0 == "staging" })
        #expect(inventory.entries.count == 3)
    }

    @Test(
        "Secrets: create, read, conflict on a stale version, AlreadyExists, tls validation",
        arguments: StoreKind.allCases)
    func secrets(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.make(kind)
        defer { Task { await fixture.stop() } }
        let store = fixture.store
        let created = try await store.create(tlsSecret("prod", "kubelego-tls-hub"))
        #expect(created.metadata.resourceVersion != nil)
        let read = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-hub"))
        #expect(read.data?["tls.crt"] == Data("crt".utf8))
        #expect(read.metadata.resourceVersion == created.metadata.resourceVersion)
        #expect(try await store.secret(namespace: "prod", name: "nope") == nil)

        var changed = read
        changed.data?["tls.crt"] = Data("new".utf8)
        let updated = try await store.update(changed)
        #expect(updated.metadata.resourceVersion != read.metadata.resourceVersion)
        await #expect(throws: KubernetesError.self) { _ = try await store.update(changed) }
        do {
            _ = try await store.update(changed)
        } catch let error as KubernetesError {
            #expect(error.isConflict)
        }
        do {
            _ = try await store.create(tlsSecret("prod", "kubelego-tls-hub"))
            Issue.record("must exist already")
        } catch let error as KubernetesError {
            #expect(error.isAlreadyExists)
        }
        do {
            _ = try await store.create(tlsSecret("prod", "half", data: ["tls.crt": Data("x".utf8)]))
            Issue.record("a tls Secret without tls.key is invalid")
        } catch let error as KubernetesError {
            #expect(error.httpStatus == 422)
        }
        _ = try await store.create(
            Secret(metadata: ObjectMeta(name: "opaque", namespace: "prod"), type: "Opaque", data: ["a": Data()]))
        let listed = try await store.tlsSecrets(in: .all).items.compactMap(\.metadata.name)
        #expect(listed == ["kubelego-tls-hub"])
        #expect(try await store.secret(namespace: "prod", name: "opaque")?.type == "Opaque")
    }

    @Test("the writer stores cert-manager's format and re-applies after a conflict", arguments: StoreKind.allCases)
    func writer(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.make(kind)
        defer { Task { await fixture.stop() } }
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let now = Date()
        let chain = try CertificateChain(
            pem: try authority.issuePEM(
                for: key, names: ["hub.mybinder.org"], notBefore: now, notAfter: now.addingTimeInterval(90 * 86_400)))
        let desired = DesiredCertificate(
            namespace: "prod", secretName: "kubelego-tls-hub", hosts: ["hub.mybinder.org"], issuer: "pebble",
            issuerKind: "ClusterIssuer", ingresses: ["hub"], ingressClass: nil)
        var record = RenewalRecord()
        record.issuer = "pebble"
        record.renewalTime = now.addingTimeInterval(60 * 86_400)
        let stored = try await SecretWriter.store(desired, chain: chain, key: key, record: record, in: fixture.store)
        #expect(stored.type == Secret.tlsType)
        #expect(stored.metadata.labels?["app.kubernetes.io/managed-by"] == "certctl")
        #expect(stored.metadata.annotations?["cert-manager.io/alt-names"] == "hub.mybinder.org")
        #expect(stored.metadata.annotations?["cert-manager.io/issuer-name"] == "pebble")
        #expect(stored.metadata.annotations?["cert-manager.io/issuer-kind"] == "ClusterIssuer")
        #expect(stored.data?["ca.crt"] == nil)

        let current = CurrentCertificate(
            secret: try #require(try await fixture.store.secret(namespace: "prod", name: "kubelego-tls-hub")))
        #expect(current.isUsable)
        #expect(current.keyMatches)
        #expect(current.record.issuer == "pebble")
        #expect(
            abs((current.record.renewalTime ?? .distantPast).timeIntervalSince(now.addingTimeInterval(60 * 86_400))) < 1
        )

        if let server = fixture.server {
            await server.failNext("update", collection: "v1/secrets", status: 409)
        }
        record.failureCount = 2
        record.lastFailure = "rateLimited"
        let recorded = try await SecretWriter.storeRecord(
            record, for: desired, over: .read(current.record), in: fixture.store)
        #expect(recorded?.metadata.annotations?["certctl.io/failure-count"] == "2")
        #expect(recorded?.data?["tls.key"] == stored.data?["tls.key"])

        var other = desired
        other.secretName = "not-there"
        #expect(try await SecretWriter.storeRecord(record, for: other, over: .read(nil), in: fixture.store) == nil)

        // A record made from an older read (another run recorded since) never lands over the newer one.
        func superseded(_ write: () async throws -> Secret?) async -> Bool {
            do {
                _ = try await write()
                return false
            } catch {
                return (error as? CertctlError)?.code == .superseded
            }
        }
        var stale = current.record
        stale.lastFailure = "stale"
        #expect(
            await superseded {
                try await SecretWriter.storeRecord(stale, for: desired, over: .read(current.record), in: fixture.store)
            })
        let kept = try #require(try await fixture.store.secret(namespace: "prod", name: "kubelego-tls-hub"))
        #expect(kept.metadata.annotations?["certctl.io/failure-count"] == "2")
        // Made from the record as it is now, it goes through.
        let fresh = RenewalRecord(annotations: kept.metadata.annotations ?? [:])
        var next = fresh
        next.failureCount = 3
        let written = try await SecretWriter.storeRecord(next, for: desired, over: .read(fresh), in: fixture.store)
        #expect(written?.metadata.annotations?["certctl.io/failure-count"] == "3")
        // A Secret created since a read that found none is not recorded on.
        #expect(
            await superseded {
                try await SecretWriter.storeRecord(next, for: desired, over: .read(nil), in: fixture.store)
            })
    }

    @Test("a Secret of another type is never overwritten", arguments: StoreKind.allCases)
    func wrongType(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.make(kind)
        defer { Task { await fixture.stop() } }
        _ = try await fixture.store.create(
            Secret(
                metadata: ObjectMeta(name: "kubelego-tls-hub", namespace: "prod"), type: "Opaque",
                data: ["password": Data("x".utf8)]))
        let key = try PrivateKey(generating: .ecdsaP256)
        let chain = try CertificateChain(
            pem: try TestCertificateAuthority().issuePEM(
                for: key, names: ["hub.mybinder.org"], notBefore: Date(), notAfter: Date().addingTimeInterval(86_400)))
        let desired = DesiredCertificate(
            namespace: "prod", secretName: "kubelego-tls-hub", hosts: ["hub.mybinder.org"], issuer: "pebble",
            issuerKind: "ClusterIssuer", ingresses: ["hub"], ingressClass: nil)
        do {
            try await SecretWriter.store(desired, chain: chain, key: key, record: RenewalRecord(), in: fixture.store)
            Issue.record("must refuse")
        } catch let error as CertctlError {
            #expect(error.description.contains("Opaque"))
        }
        #expect(
            try await fixture.store.secret(namespace: "prod", name: "kubelego-tls-hub")?.data?["password"]
                == Data("x".utf8))
    }

    @Test(
        "a new certificate keeps what others put on the Secret; an immutable one is refused, not fought",
        arguments: StoreKind.allCases)
    func keepsForeignFields(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.make(kind)
        defer { Task { await fixture.stop() } }
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let pem = try authority.issuePEM(
            for: key, names: ["a.mybinder.org"], notBefore: Date(), notAfter: Date().addingTimeInterval(86_400))
        let data = ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]
        let foreign = """
            {"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/tls","immutable":false,
             "metadata":{"name":"tls-a","namespace":"prod","finalizers":["example.org/keep"],
               "ownerReferences":[{"apiVersion":"cert-manager.io/v1","kind":"Certificate","name":"tls-a","uid":"0b9e1a4c-1111-4222-8333-444455556666"}],
               "labels":{"tier":"web"},"annotations":{"team":"binder"}},
             "data":{"tls.crt":"\(data["tls.crt"]!.base64EncodedString())","tls.key":"\(data["tls.key"]!.base64EncodedString())","extra":"eA=="}}
            """
        let immutable = foreign.replacingOccurrences(of: "tls-a", with: "tls-b").replacingOccurrences(
            of: "\"immutable\":false", with: "\"immutable\":true")
        if let server = fixture.server {
            for text in [foreign, immutable] {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                try await server.seed("/api/v1/namespaces/prod/secrets", object)
            }
        } else {
            let folder = fixture.directory.appendingPathComponent("state/secrets/prod")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try foreign.write(to: folder.appendingPathComponent("tls-a.yaml"), atomically: true, encoding: .utf8)
            try immutable.write(to: folder.appendingPathComponent("tls-b.yaml"), atomically: true, encoding: .utf8)
        }
        func desired(_ secret: String) -> DesiredCertificate {
            DesiredCertificate(
                namespace: "prod", secretName: secret, hosts: ["a.mybinder.org"], issuer: "pebble",
                issuerKind: "ClusterIssuer", ingresses: ["a"], ingressClass: nil)
        }
        let newKey = try PrivateKey(generating: .ecdsaP256)
        let chain = try CertificateChain(
            pem: try authority.issuePEM(
                for: newKey, names: ["a.mybinder.org"], notBefore: Date(), notAfter: Date().addingTimeInterval(86_400)))
        let stored = try await SecretWriter.store(
            desired("tls-a"), chain: chain, key: newKey, record: RenewalRecord(), in: fixture.store)
        #expect(stored.data?["tls.crt"] != data["tls.crt"])
        #expect(stored.data?["extra"] == Data("x".utf8))
        #expect(stored.metadata.labels?["tier"] == "web")
        #expect(stored.metadata.annotations?["team"] == "binder")
        #expect(stored.metadata.finalizers == ["example.org/keep"])
        #expect(stored.metadata.ownerReferences?.first?.kind == "Certificate")
        #expect(stored.immutable == false)

        do {
            try await SecretWriter.store(
                desired("tls-b"), chain: chain, key: newKey, record: RenewalRecord(), in: fixture.store)
            Issue.record("an immutable Secret was written")
        } catch let error as CertctlError {
            #expect(error.description.contains("Secret prod/tls-b") && error.description.contains("immutable"))
        }
        let untouched = try #require(try await fixture.store.secret(namespace: "prod", name: "tls-b"))
        #expect(untouched.data?["tls.crt"] == data["tls.crt"])
        // Its record may still change: only data is immutable.
        var record = RenewalRecord()
        record.failureCount = 1
        let recorded = try await SecretWriter.storeRecord(
            record, for: desired("tls-b"),
            over: .read(RenewalRecord(annotations: untouched.metadata.annotations ?? [:])),
            in: fixture.store)
        #expect(recorded?.metadata.annotations?["certctl.io/failure-count"] == "1")
        #expect(recorded?.metadata.finalizers == ["example.org/keep"])
    }
}
