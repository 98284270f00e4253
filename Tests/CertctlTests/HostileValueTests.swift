import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing
import Transport

/// Every annotation and record key certctl reads, each given every hostile value, through the
/// binary as a pod against the fake API server and the in-process CA: discover, plan, the run,
/// status (table and JSON), the metrics file (promtool) and the page. No value stops a run:
/// each object is issued or reported with its field, every other certificate is issued, and a
/// valid certificate is never made worse (README, "Hostile values").
@Suite("Hostile values in every key certctl reads", .serialized)
struct HostileValueTests {
    /// Where a key is read, so where the test puts the hostile value.
    enum Target: Equatable {
        /// An annotation of an Ingress (its tenant's to write).
        case ingress
        /// An annotation of a certificate's Secret (its record).
        case record
        /// Not on a tenant's object, and why it is not driven here.
        case notTenant(String)
    }

    /// Every key, with where it is read. `everyKeyHasACase` fails when the code reads one that
    /// is not here.
    static let keys: [String: Target] = {
        var keys: [String: Target] = [
            Discovery.tlsACME: .ingress, Discovery.clusterIssuer: .ingress, Discovery.namespacedIssuer: .ingress,
            Discovery.issuerKind: .ingress, Discovery.issuerGroup: .ingress, Discovery.ingressClass: .ingress,
            "cert-manager.io/issuer-name": .record, "cert-manager.io/alt-names": .record,
            "cert-manager.io/certificate-name": .record,
            "cert-manager.io/v1": .notTenant("an apiVersion, not a key"),
            "kubernetes.io/tls": .notTenant("a Secret type, not a key"),
            "kubernetes.io/service-name": .notTenant("a label certctl sets on its solver EndpointSlice"),
            "certctl.io/account-url": .notTenant("on the account Secret in certctl's own namespace"),
            "certctl.io/account-server": .notTenant("on the account Secret in certctl's own namespace"),
            "certctl.io/counters": .notTenant("certctl's run history (bounded: RunCounters, BoundedTests)"),
            "certctl.io/last-success": .notTenant("certctl's run history, read as an RFC 3339 date"),
            "certctl.io/http01-solver": .notTenant("a label certctl sets on its solver objects"),
            "certctl.io/local-revision": .notTenant("local mode's revision of a manifest it wrote"),
            "certctl.io/certctl": .notTenant("a field manager's name"),
            "certctl.io/fallback-issuers": .notTenant(
                "on an Issuer, not an Ingress or a Secret: ClusterIssuerTests.hostileFallbacks gives a tenant's Issuer every value here"
            ),
            "certctl.io/rate-limits": .notTenant(
                "on an Issuer, not an Ingress or a Secret: ClusterIssuerTests.hostileFallbacks gives a tenant's Issuer every value here"
            ),
        ]
        for key in CertificateSettings.annotationsRead { keys[key] = .ingress }
        for key in RenewalRecord.annotationKeys { keys[key] = .record }
        return keys
    }()

    /// The keys the code reads: its constants and lists, and every literal of the form
    /// `DOMAIN/NAME` for the four annotation domains in Sources/ (the test support aside).
    static func keysInCode() throws -> Set<String> {
        var found = Set([
            Discovery.tlsACME, Discovery.clusterIssuer, Discovery.namespacedIssuer, Discovery.issuerKind,
            Discovery.issuerGroup, Discovery.ingressClass,
        ])
        found.formUnion(CertificateSettings.annotationsRead)
        found.formUnion(RenewalRecord.annotationKeys)
        let pattern = try Regex(#""((?:acme\.)?cert-manager\.io|certctl\.io|kubernetes\.io)/[A-Za-z0-9.-]+""#)
        let sources = CertctlProcess.repository.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            let path = file.path
            guard path.hasSuffix(".swift"), !path.contains("/CertctlTestSupport/"), !path.contains("/certctl-fakeapi/")
            else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: pattern) { found.insert(String(text[match.range].dropFirst().dropLast())) }
        }
        return found
    }

    @Test("every key certctl reads has a case here, and none is left over")
    func everyKeyHasACase() throws {
        let inCode = try Self.keysInCode()
        let missing = inCode.subtracting(Self.keys.keys).sorted()
        #expect(missing.isEmpty, "keys read by the code with no case in HostileValueTests.keys: \(missing)")
        let leftOver = Set(Self.keys.keys).subtracting(inCode).sorted()
        #expect(leftOver.isEmpty, "cases for keys the code no longer reads: \(leftOver)")
        #expect(Self.keys.values.filter { $0 == .ingress }.count >= 25)
        #expect(Self.keys.values.filter { $0 == .record }.count >= 21)
    }

    struct Value: CustomTestStringConvertible, Sendable {
        var what: String
        var text: String
        var testDescription: String { what }
    }

    static let values: [Value] = [
        Value(what: "empty", text: ""),
        Value(what: "64 KB", text: String(repeating: "9", count: 65_536)),
        Value(what: "negative", text: "-1"),
        Value(what: "zero", text: "0"),
        Value(what: "Int.max", text: "9223372036854775807"),
        Value(what: "a huge duration", text: "999999999999999999999h"),
        Value(what: "fractional", text: "1.5"),
        Value(what: "not a number", text: "NaN"),
        Value(what: "unicode", text: "ü٣😀\u{202E}"),
        Value(what: "escape sequences", text: "\u{1B}[2J\u{1B}]0;owned\u{07}"),
        Value(what: "far past", text: "0001-01-01T00:00:00Z"),
        Value(what: "far future", text: "9999-12-31T23:59:59Z"),
        Value(what: "YAML's -Int.min", text: "-0x-8000000000000000"),
    ]

    @Test(
        "a hostile value in each key: no crash, the object reported with its field, the others issued",
        arguments: values)
    func throughEverything(_ value: Value) async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let admin = fakeClient(server)
        let project = try PodProject.make(server, name: "hostile")
        try project.writeIssuer("local", server: ca.directoryURL)

        _ = try await admin.create(ingress("prod", "clean", tls: [(["clean.mybinder.org"], "tls-clean")]))
        let ingressKeys = Self.keys.filter { $0.value == .ingress }.map(\.key).sorted()
        for (index, key) in ingressKeys.enumerated() {
            var annotations = [key: value.text]
            if key != Discovery.tlsACME { annotations[Discovery.tlsACME] = "true" }
            _ = try await admin.create(
                ingress(
                    "prod", "a\(index)", annotations: annotations, tls: [(["a\(index).mybinder.org"], "tls-a\(index)")])
            )
        }
        // A valid certificate, not due, whose record holds the hostile value.
        let authority = try TestCertificateAuthority()
        let recordKeys = Self.keys.filter { $0.value == .record }.map(\.key).sorted()
        var before: [String: Data] = [:]
        for (index, key) in recordKeys.enumerated() {
            _ = try await admin.create(
                ingress("prod", "r\(index)", tls: [(["r\(index).mybinder.org"], "tls-r\(index)")]))
            let leaf = try PrivateKey(generating: .ecdsaP256)
            let notBefore = Date().addingTimeInterval(-86_400)
            let pem = try authority.issuePEM(
                for: leaf, names: ["r\(index).mybinder.org"], notBefore: notBefore,
                notAfter: notBefore.addingTimeInterval(90 * 86_400))
            var secret = tlsSecret(
                "prod", "tls-r\(index)",
                data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try leaf.pemRepresentation().utf8)])
            var annotations = ["cert-manager.io/issuer-name": "local"]
            annotations[key] = value.text
            secret.metadata.annotations = annotations
            _ = try await admin.create(secret)
            before["tls-r\(index)"] = Data(pem.utf8)
        }

        let common = ["--kubeconfig", "kubeconfig", "--issuers", "issuers", "--default-issuer", "local", "-n", "prod"]
        let environment = project.environment(pod: "certctl-1").merging(["COLUMNS": "120"]) { $1 }
        func certctl(_ arguments: [String]) async throws -> CertctlProcess.Result {
            let result = try await CertctlProcess.run(
                arguments + common, environment: environment, directory: project.folder)
            // 0 ok, 1 a failure or a misconfigured object, 2 critical; a trap is a signal (128+).
            #expect(
                (0...2).contains(result.status), "\(arguments.first ?? ""): \(result.status)\n\(result.standardError)")
            #expect(!result.standardError.contains("Fatal error"), "\(result.standardError)")
            return result
        }
        _ = try await certctl(["discover"])
        _ = try await certctl(["discover", "-o", "json"])
        _ = try await certctl(["run", "--dry-run"])
        let run = try await certctl([
            "run", "--http01-listen", "127.0.0.1:\(port)", "--http01-self-check-passes", "0",
            "--metrics-file", "metrics.prom",
        ])
        let table = try await certctl(["status"])
        #expect(!table.standardOutput.contains("\u{1B}[2J"), "no escape sequence of a value reaches the terminal")
        let json = try await certctl(["status", "-o", "json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any]
        let problems = (parsed?["problems"] as? [[String: Any]]) ?? []

        // The other certificates are issued; the clean one first of all.
        func stored(_ name: String) async throws -> Secret? {
            try? await admin.get(Secret.self, namespace: "prod", name: name)
        }
        #expect(try await stored("tls-clean")?.data?["tls.crt"] != nil, "\(run.standardOutput)")
        // Each annotated object: issued, or reported with the key as its field (tls-acme's
        // value alone may also leave the Ingress unmanaged).
        for (index, key) in ingressKeys.enumerated() {
            let issued = try await stored("tls-a\(index)")?.data?["tls.crt"] != nil
            let reported = problems.contains { problem in
                let object = problem["object"] as? String ?? ""
                let field = problem["field"] as? String ?? ""
                return (object == "Ingress prod/a\(index)" || object == "Secret prod/tls-a\(index)")
                    && field.contains(key)
            }
            let unmanaged = key == Discovery.tlsACME && value.text != "true"
            #expect(issued || reported || unmanaged, "\(key) = \(value.what): neither issued nor reported")
        }
        // A record's value never makes its certificate worse: the one it had, or a new one.
        for (index, key) in recordKeys.enumerated() {
            let secret = try #require(try await stored("tls-r\(index)"))
            let summary = CurrentCertificate(secret: secret).summary
            #expect(summary?.names == ["r\(index).mybinder.org"], "\(key) = \(value.what)")
            #expect((summary?.notAfter ?? .distantPast) > Date().addingTimeInterval(80 * 86_400), "\(key)")
            #expect(CurrentCertificate(secret: secret).keyMatches, "\(key) = \(value.what)")
        }

        // The metrics file, as Prometheus reads it.
        let metrics = try String(contentsOf: project.folder.appendingPathComponent("metrics.prom"), encoding: .utf8)
        let promtool = try await ExternalTool.run("/usr/bin/promtool", ["check", "metrics"], input: metrics)
        #expect(promtool.status == 0, "\(promtool.output)")

        // The page, from the same read the exporter makes.
        let issuers = try IssuerLoader.load(directory: project.folder.appendingPathComponent("issuers").path)
        let inventory = try await Inventory.load(
            from: KubernetesStore(client: admin), scope: .only(["prod"]), issuers: issuers, defaultIssuer: "local")
        let page = StatusPage.render(
            Overview([inventory], issuers: issuers, now: Date()), now: Date(), refreshed: Date())
        #expect(page.contains("clean.mybinder.org"))
        #expect(!page.contains("\u{1B}"), "no raw escape in the page")
    }
}
