import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing

@Suite("Broken input in manifests and Secrets: reported for that object, the rest go on")
struct ClusterInputTests {
    @Test("malformed YAML and wrongly typed fields name the file and line")
    func malformedManifests() async throws {
        let good = ingress("prod", "hub", tls: [(["hub.mybinder.org"], "kubelego-tls-hub")])
        let fixture = try await StoreFixture.make(
            .local, ingresses: [good],
            rawManifests: [
                "broken.yaml": "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x\n",
                "bool.yaml": """
                ---
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: ignored}
                ---
                apiVersion: networking.k8s.io/v1
                kind: Ingress
                metadata:
                  name: unquoted
                  annotations:
                    kubernetes.io/tls-acme: true
                spec:
                  tls: [{hosts: [a.mybinder.org], secretName: a}]
                """,
            ])
        let (items, problems) = try await fixture.store.ingresses(in: .all)
        #expect(items.map(\.metadata.name) == ["hub"])
        #expect(items.first?.metadata.namespace == "prod")
        #expect(problems.count == 2)
        let broken = try #require(problems.first { $0.object.hasSuffix("broken.yaml") })
        #expect(broken.reason.contains("not valid YAML"))
        #expect(broken.reason.contains("line") || broken.reason.contains("3:"), "\(broken.reason)")
        let unquoted = try #require(problems.first { $0.object.contains("bool.yaml") })
        #expect(unquoted.object.hasSuffix("bool.yaml:6"), "\(unquoted.object)")
        #expect(unquoted.reason.contains("quoted strings"))
    }

    @Test("a missing manifests directory is a usage error")
    func missingDirectory() async {
        let store = LocalDirectoryStore(manifests: "/nonexistent/ingress", state: "/tmp/x")
        await #expect(throws: CertctlError.self) { _ = try await store.ingresses(in: .all) }
    }

    @Test("Secrets as found: wrong type, corrupt PEM, a foreign key, each named")
    func secretProblems() async throws {
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let pem = try authority.issuePEM(
            for: key, names: ["hub.mybinder.org"], notBefore: Date(), notAfter: Date().addingTimeInterval(86_400))
        func secret(type: String = Secret.tlsType, crt: String?, key: String?) -> Secret {
            var data: [String: Data] = [:]
            data["tls.crt"] = crt.map { Data($0.utf8) }
            data["tls.key"] = key.map { Data($0.utf8) }
            return Secret(metadata: ObjectMeta(name: "s", namespace: "prod"), type: type, data: data)
        }
        let good = CurrentCertificate(secret: secret(crt: pem, key: try key.pemRepresentation()))
        #expect(good.isUsable)
        #expect(good.isValid(at: Date().addingTimeInterval(60)))
        #expect(!good.isValid(at: Date().addingTimeInterval(2 * 86_400)))

        let opaque = CurrentCertificate(secret: secret(type: "Opaque", crt: pem, key: try key.pemRepresentation()))
        #expect(opaque.problems.first?.contains("not kubernetes.io/tls") == true)
        let corrupt = CurrentCertificate(
            secret: secret(
                crt: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", key: try key.pemRepresentation())
        )
        #expect(corrupt.problems.contains { $0.contains("tls.crt is unreadable") })
        let foreign = CurrentCertificate(
            secret: secret(crt: pem, key: try PrivateKey(generating: .ecdsaP256).pemRepresentation()))
        #expect(foreign.problems == ["tls.key does not belong to the certificate in tls.crt"])
        #expect(!foreign.keyMatches)
        let empty = CurrentCertificate(secret: secret(crt: nil, key: nil))
        #expect(empty.problems == ["has no tls.crt", "has no tls.key"])
    }

    @Test("a Secret written by cert-manager or kube-lego is adopted as it is")
    func adoption() async throws {
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .rsa2048)
        let pem = try authority.issuePEM(
            for: key, names: ["mybinder.org"], notBefore: Date(), notAfter: Date().addingTimeInterval(86_400))
        let secret = Secret(
            metadata: ObjectMeta(
                name: "kubelego-tls-binder",
                namespace: "prod",
                annotations: [
                    "cert-manager.io/issuer-name": "letsencrypt-prod", "cert-manager.io/alt-names": "mybinder.org",
                ]
            ),
            type: Secret.tlsType,
            data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8), "ca.crt": Data()]
        )
        let current = CurrentCertificate(secret: secret)
        #expect(current.isUsable)
        #expect(current.issuerName == "letsencrypt-prod")
        #expect(current.summary?.keyType == .rsa2048)
        #expect(current.record == RenewalRecord())
    }

    @Test("local Secrets are 0600 manifests that kubectl apply accepts (no resourceVersion)")
    func localManifest() async throws {
        let fixture = try await StoreFixture.make(.local)
        _ = try await fixture.store.create(tlsSecret("prod", "kubelego-tls-hub"))
        let path = fixture.directory.appendingPathComponent("state/secrets/prod/kubelego-tls-hub.yaml").path
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("kind: Secret"))
        #expect(text.contains("type: kubernetes.io/tls"))
        #expect(text.contains("tls.crt: Y3J0"))
        #expect(!text.contains("resourceVersion"))
    }
}

@Suite("certctl discover", .serialized)
struct DiscoverCommandTests {
    @Test("local: the table lists every certificate and exits 0")
    func localTable() async throws {
        let result = try await CertctlProcess.run(
            [
                "discover", "--manifests", "ingress", "--issuers", "issuers", "--default-issuer", "pebble", "--state",
                "/nonexistent-state",
            ],
            directory: CertctlProcess.repository
        )
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.first?.hasPrefix("NAMESPACE  INGRESS") == true)
        #expect(result.standardOutput.contains("kubelego-tls-redirector"))
        #expect(result.standardOutput.contains("beta.mybinder.org,docs.mybinder.org,www.mybinder.org"))
        #expect(result.standardOutput.contains("7 certificates in local"))
        #expect(lines.first?.contains("SOLVER") == true)
        #expect(lines.dropFirst().prefix(7).allSatisfy { $0.contains(" http-01 ") }, "each name's solver is shown")
    }

    @Test("a secretName or namespace that is not an object name is refused: no path outside the state directory")
    func namesThatEscape() async throws {
        let fixture = try await StoreFixture.make(
            .local,
            rawManifests: [
                "escape.yaml": """
                apiVersion: networking.k8s.io/v1
                kind: Ingress
                metadata: {name: escape, namespace: prod, annotations: {kubernetes.io/tls-acme: "true"}}
                spec:
                  tls: [{hosts: [a.mybinder.org], secretName: ../../escaped}, {hosts: [b.mybinder.org], secretName: /etc/x}]
                ---
                apiVersion: networking.k8s.io/v1
                kind: Ingress
                metadata: {name: up, namespace: "../..", annotations: {kubernetes.io/tls-acme: "true"}}
                spec:
                  tls: [{hosts: [c.mybinder.org], secretName: fine}]
                """
            ])
        defer { Task { await fixture.stop() } }
        let inventory = try await Inventory.load(
            from: fixture.store, scope: .all, issuers: ["pebble"], defaultIssuer: "pebble")
        #expect(inventory.entries.isEmpty)
        let problems = inventory.problems.map(\.description)
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.contains("secretName \"../../escaped\" is not a Secret name") })
        #expect(problems.contains { $0.contains("secretName \"/etc/x\" is not a Secret name") })
        #expect(problems.contains { $0.contains("metadata.namespace \"../..\" is not a namespace name") })
        // And the store itself refuses such a name, whoever asks.
        await #expect(throws: CertctlError.self) {
            _ = try await fixture.store.secret(namespace: "prod", name: "../../escaped")
        }
        await #expect(throws: CertctlError.self) {
            try await fixture.store.savePendingRecord(["a": "b"], namespace: "..", secretName: "x")
        }
        let outside = fixture.directory.appendingPathComponent("escaped.yaml")
        #expect(!FileManager.default.fileExists(atPath: outside.path))
    }

    @Test("through a kubeconfig against the fake API server, as JSON; problems exit 1, as in run and status")
    func kubeconfigJSON() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        for ingress in metaChartIngresses where ingress.metadata.name != "bad-host" {
            _ = try await client.create(ingress)
        }
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let notAfter = Date(timeIntervalSince1970: 1_900_000_000)
        let pem = try authority.issuePEM(for: key, names: ["hub.mybinder.org"], notBefore: Date(), notAfter: notAfter)
        _ = try await client.create(
            tlsSecret(
                "prod", "kubelego-tls-hub",
                data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discover-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let kubeconfig = folder.appendingPathComponent("kubeconfig")
        try server.kubeconfig(namespace: "prod").write(to: kubeconfig, atomically: true, encoding: .utf8)

        let result = try await CertctlProcess.run(
            [
                "discover", "--kubeconfig", kubeconfig.path, "--issuers",
                CertctlProcess.repository.appendingPathComponent("issuers").path, "--default-issuer", "pebble", "-o",
                "json", "-A",
            ]
        )
        #expect(result.status == 1, "\(result.standardError)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(object["cluster"] as? String == "fake")
        let certificates = try #require(object["certificates"] as? [[String: Any]])
        #expect(certificates.count == 8)
        let hub = try #require(certificates.first { $0["secret"] as? String == "kubelego-tls-hub" })
        #expect(hub["notAfter"] as? String == "2030-03-17T17:46:40Z")
        #expect((object["problems"] as? [Any])?.count == 2, "the bad host exists only in local manifests")

        let scoped = try await CertctlProcess.run(
            [
                "discover", "--kubeconfig", kubeconfig.path, "--issuers",
                CertctlProcess.repository.appendingPathComponent("issuers").path, "--default-issuer", "pebble", "-n",
                "staging",
            ]
        )
        #expect(scoped.standardOutput.contains("3 certificates in fake"), "\(scoped.standardOutput)")
    }

    @Test("an unknown context and a missing kubeconfig are configuration errors")
    func badKubeconfig() async throws {
        let result = try await CertctlProcess.run(
            ["discover", "--kubeconfig", "/nonexistent/kubeconfig"], directory: CertctlProcess.repository)
        #expect(result.status == 64)
        #expect(
            result.standardError.contains(
                "/nonexistent/kubeconfig: no kubeconfig file here (given by --kubeconfig); pass --kubeconfig FILE, set KUBECONFIG, use --manifests DIR for local mode, or run in a pod"
            ),
            "\(result.standardError)")
        // None at all, outside a pod: the default path, and the alternatives.
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("home-\(UUID().uuidString)").path
        let none = try await CertctlProcess.run(
            ["status"], environment: ["HOME": home, "KUBECONFIG": ""], directory: CertctlProcess.repository)
        #expect(none.status == 64)
        #expect(
            none.standardError.contains(
                "\(home)/.kube/config: no kubeconfig file here (the default); pass --kubeconfig"),
            "\(none.standardError)")
    }

    @Test("a kubeconfig whose server is not a URL is refused before any request, naming file and cluster")
    func serverNotURL() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("config").path
        try """
        apiVersion: v1
        kind: Config
        current-context: broken
        clusters:
        - name: typo
          cluster: {server: "kube.example.org:6443"}
        contexts:
        - name: broken
          context: {cluster: typo, user: me}
        users:
        - name: me
          user: {token: abc}
        """.write(toFile: file, atomically: true, encoding: .utf8)
        for command in [["status"], ["run"], ["discover"]] {
            let result = try await CertctlProcess.run(
                command + ["--kubeconfig", file], directory: CertctlProcess.repository)
            #expect(result.status == 64, "\(command): \(result.standardError)")
            #expect(
                result.standardError.contains(
                    "\(file): cluster typo: server \"kube.example.org:6443\" is not a URL like https://host:6443; correct its cluster.server field"
                ), "\(result.standardError)")
        }
    }
}

@Suite("Output as it happens")
struct LineBufferingTests {
    @Test("certctl serve's first line reaches a pipe while it runs (kubectl logs), not when it stops")
    func serveAnnouncesItself() async throws {
        let project = try LocalProject.make(server: "http://127.0.0.1:1/dir", sites: ["a"])
        let process = Process()
        process.executableURL = CertctlProcess.binary
        process.arguments = ["serve"] + LocalProject.flags + ["--listen", "127.0.0.1:\(freeLoopbackPort())"]
        process.currentDirectoryURL = project.directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { process.terminate() }
        // Reads what arrives (on a thread of its own) until the first line, or gives up after 60 s.
        let line = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var text = ""
                let handle = pipe.fileHandleForReading
                while !text.contains("\n") {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    text += String(decoding: chunk, as: UTF8.self)
                }
                continuation.resume(returning: text)
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + 60) { process.terminate() }  // a backstop only
        }
        #expect(process.isRunning, "the line came while serve was still running")
        #expect(line.hasPrefix("certctl serve: http://127.0.0.1:"), "\(line)")
    }

    @Test("run prints each certificate's line as it finishes and names what a stalled one waits for, while it runs")
    func runProgress() async throws {
        let port = freeLoopbackPort()
        var behaviour = TestACMEServer.Behaviour()
        behaviour.stalledNames = ["b.mybinder.org"]
        let server = try await TestACMEServer.start(validationPort: port, behaviour: behaviour)
        defer { Task { await server.stop() } }
        let project = try LocalProject.make(server: server.directoryURL, sites: ["a", "b"])
        let process = Process()
        process.executableURL = CertctlProcess.binary
        process.arguments =
            ["run", "--concurrency", "2", "--acme-timeout", "120", "--http01-listen", "127.0.0.1:\(port)"]
            + LocalProject.flags
        process.currentDirectoryURL = project.directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let lines = Self.lines(of: pipe.fileHandleForReading)
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // A backstop only: the steps below are ordered by what the pipe says, not by time.
        let backstop = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 90, execute: backstop)
        defer { backstop.cancel() }

        var iterator = lines.makeAsyncIterator()
        var seen: [String] = []
        func next(until match: (String) -> Bool) async -> String? {
            while let line = await iterator.next() {
                seen.append(line)
                if match(line) { return line }
            }
            return nil
        }
        let issued = await next { $0.hasPrefix("issued") && $0.contains("prod/tls-a") }
        #expect(issued != nil, "\(seen)")
        // The CA holds b's newOrder, and a is not held up by it (its nonce comes from elsewhere).
        #expect(process.isRunning, "a's line came while b was still stalled")
        #expect(await server.stalledOrders == 1)
        let waiting = await next { $0.hasPrefix("waiting") }
        #expect(
            waiting?.contains("prod/tls-b") == true && waiting?.contains("s for the CA to answer newOrder") == true,
            "\(seen)")
        #expect(process.isRunning)
        await server.releaseStalledOrders()
        _ = await next { _ in false }  // to the end
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(seen)")
        #expect(seen.contains { $0.hasPrefix("issued") && $0.contains("prod/tls-b") }, "\(seen)")
        #expect(seen.last?.hasPrefix("2 certificates in local: 2 issued") == true, "\(seen)")
        // Each line once: the summary does not repeat what was printed as it happened.
        #expect(seen.filter { $0.contains("prod/tls-a") && $0.hasPrefix("issued") }.count == 1)
    }

    /// The lines written into `handle`, as they arrive (read on a thread of its own).
    static func lines(of handle: FileHandle) -> AsyncStream<String> {
        AsyncStream { continuation in
            Thread.detachNewThread {
                var buffer = ""
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    buffer += String(decoding: chunk, as: UTF8.self)
                    while let end = buffer.firstIndex(of: "\n") {
                        continuation.yield(String(buffer[..<end]))
                        buffer = String(buffer[buffer.index(after: end)...])
                    }
                }
                if !buffer.isEmpty { continuation.yield(buffer) }
                continuation.finish()
            }
        }
    }
}

@Suite("Version and shell completion")
struct VersionAndCompletionTests {
    @Test("certctl version names the version and the commit it was built from")
    func version() async throws {
        let result = try await CertctlProcess.run(["version"])
        #expect(result.status == 0)
        let prefix = "certctl \(CertctlVersion.current) (commit "
        #expect(result.standardOutput.hasPrefix(prefix), "\(result.standardOutput)")
        // The binary was built from a commit of this history: HEAD in CI, HEAD or before while
        // one works on a change (then marked -modified).
        let id = String(result.standardOutput.dropFirst(prefix.count).prefix { $0.isHexDigit })
        #expect(id.count == 12, "\(result.standardOutput)")
        let ancestor = try await ExternalTool.run(
            "/usr/bin/git", ["merge-base", "--is-ancestor", id, "HEAD"], directory: CertctlProcess.repository)
        #expect(ancestor.status == 0, "\(id) is not in this repository's history: \(ancestor.output)")
        let flag = try await CertctlProcess.run(["--version"])
        #expect(flag.standardOutput.hasPrefix("\(CertctlVersion.current) (commit \(id)"))
    }

    @Test("the completion scripts complete option values; --context completes the kubeconfig's contexts")
    func completion() async throws {
        for shell in ["bash", "zsh", "fish"] {
            let script = try await CertctlProcess.run(["--generate-completion-script", shell])
            #expect(script.status == 0)
            for value in ["ecdsa-p384", "wide", "critical"] {
                #expect(script.standardOutput.contains(value), "\(shell) completes \(value)")
            }
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("config")
        try """
        apiVersion: v1
        kind: Config
        current-context: prod
        clusters: [{name: c, cluster: {server: "https://kube.example.org:6443"}}]
        contexts: [{name: prod, context: {cluster: c, user: u}}, {name: staging, context: {cluster: c, user: u}}]
        users: [{name: u, user: {token: t}}]
        """.write(to: file, atomically: true, encoding: .utf8)
        // What the scripts call for --context (ArgumentParser's ---completion protocol).
        let contexts = try await CertctlProcess.run(
            ["---completion", "status", "--", "--context", "1", "0", "certctl", "status", "--context"],
            environment: ["KUBECONFIG": file.path])
        #expect(contexts.standardOutput.split(separator: "\n") == ["prod", "staging"], "\(contexts.standardOutput)")
    }
}

@Suite("Numeric options out of range")
struct NumericOptionTests {
    @Test(
        "every numeric option is range-checked before anything runs, naming the option, its range and default",
        arguments: [
            (["run", "--concurrency", "0"], "--concurrency must be 1 to 64 (the default is 8)"),
            (["run", "--concurrency", "-3"], "--concurrency must be 1 to 64 (the default is 8)"),
            (["run", "--lease-seconds", "1"], "--lease-seconds must be 2 to 86400 (the default is 900)"),
            (["run", "--acme-timeout", "601"], "--acme-timeout must be 1 to 600 seconds (the default is 30)"),
            (
                ["run", "--http01-self-check-passes", "99"],
                "--http01-self-check-passes must be 0 to 50 (the default is 5)"
            ),
            (["run", "--dns01-propagation-timeout", "0"], "--dns01-propagation-timeout must be 1 to 3600 seconds"),
            (["serve", "--cache-seconds", "-1"], "--cache-seconds must be 0 to 3600 (the default is 30)"),
            (["status", "--probe-port", "70000"], "--probe-port must be 1 to 65535 (the default is 443)"),
            (["status", "--interval", "0"], "--interval must be 1 to 3600 seconds (the default is 5)"),
            (["check", "--acme-timeout", "0"], "--acme-timeout must be 1 to 600 seconds (the default is 15)"),
        ])
    func outOfRange(arguments: [String], message: String) async throws {
        let result = try await CertctlProcess.run(
            arguments + ["--manifests", "ingress"], directory: CertctlProcess.repository)
        #expect(result.status == 64, "\(arguments): \(result.standardError)")
        #expect(result.standardError.contains(message), "\(arguments): \(result.standardError)")
    }
}

@Suite("--state without --manifests")
struct StateWithoutManifestsTests {
    @Test(
        "means local mode: every command that reads Ingresses says to add --manifests, not that there is no kubeconfig",
        arguments: [
            ["run"], ["status"], ["discover"], ["check"], ["serve"], ["dns-persist-record", "--issuer", "pebble"],
        ])
    func refused(command: [String]) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("state-only-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let issuers = CertctlProcess.repository.appendingPathComponent("issuers").path
        let result = try await CertctlProcess.run(
            command + ["--state", folder.appendingPathComponent("state").path, "--issuers", issuers],
            environment: ["KUBECONFIG": folder.appendingPathComponent("none").path], directory: folder)
        #expect(result.status == 64, "\(command): \(result.standardError)")
        #expect(
            result.standardError.contains(
                "local mode reads Ingress manifests too: add --manifests DIR (the embedded default is --manifests ingress/)"
            ), "\(command): \(result.standardError)")
        #expect(!result.standardError.contains("kubeconfig file"), "\(result.standardError)")
    }
}
