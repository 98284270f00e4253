import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Synchronization
import Testing
import Transport

/// Each certificate's line as the run tells it, in the order told.
final class FinishedLines: RunProgress {
    let lines: AsyncStream<CertificateReport>
    private let continuation: AsyncStream<CertificateReport>.Continuation

    init() {
        (lines, continuation) = AsyncStream.makeStream()
    }

    func began(_ id: String) {}
    func waiting(_ id: String, for what: String) {}
    func ended(_ id: String) {}
    func finished(_ report: CertificateReport) { continuation.yield(report) }
}

@Suite("The run's lock is known to be held; issuers do not wait for each other", .serialized)
struct RunLockHeldTests {
    /// Two issuers: the healthy CA (`pebble`, Ingress `fast`) and `held`, whose CA holds every
    /// request until `gate` opens, then answers 503 (Ingress `name`, Secret `tls-NAME`). "held"
    /// sorts before "pebble": an issuer-by-issuer run would wait for it first.
    static func heldBeside(name: String, timeout: Duration) async throws -> (
        TestACMEServer, Gate, HTTPServer, RunFixture
    ) {
        let port = freeLoopbackPort()
        let healthy = try await TestACMEServer.start(validationPort: port)
        let gate = Gate()
        let held = try await HTTPServer.start(host: "127.0.0.1", port: freeLoopbackPort()) { _ in
            await gate.wait()
            return ServerResponse(status: 503, contentType: "text/plain", text: "held, then down")
        }
        let ingresses = [
            ingress("prod", "fast", tls: [(["fast.mybinder.org"], "tls-fast")]),
            ingress(
                "prod", name, annotations: ["cert-manager.io/cluster-issuer": "held"],
                tls: [(["\(name).mybinder.org"], "tls-\(name)")]),
        ]
        let heldIssuer = try #require(
            try IssuerLoader.parse(
                """
                kind: ClusterIssuer
                metadata: {name: held}
                spec: {acme: {server: "http://127.0.0.1:\(held.port)/dir", privateKeySecretRef: {name: held-account}}}
                """, source: "issuers/held.yaml"
            ).first)
        let fixture = try await RunFixture.make(
            .local, ingresses: ingresses, server: healthy.directoryURL, caBundle: nil, port: port
        ).with {
            $0.issuers["held"] = heldIssuer
            $0.acmeRequestTimeout = timeout
        }
        return (healthy, gate, held, fixture)
    }

    @Test("two issuers, one whose CA holds every request: the other's certificate is stored and told meanwhile")
    func independentIssuers() async throws {
        let (healthy, gate, held, fixture) = try await Self.heldBeside(name: "slow", timeout: .seconds(5))
        defer {
            Task {
                await healthy.stop()
                await held.stop()
                await fixture.fixture.stop()
            }
        }
        let lines = FinishedLines()
        var run = fixture.run
        run.progress = lines
        let running = Task { [run] in try await run.run(fixture.options) }
        var told = lines.lines.makeAsyncIterator()

        let first = try #require(await told.next())
        #expect(first.desired.id == "prod/tls-fast" && first.outcome == .issued, "\(first.outcome)")
        #expect(
            try await fixture.fixture.store.secret(namespace: "prod", name: "tls-fast") != nil,
            "stored while the other CA holds its request")
        #expect(await gate.held > 0, "the other issuer's CA has not answered yet")

        await gate.open()
        let report = try await running.value
        let slow = try #require(report.certificates.first { $0.desired.id == "prod/tls-slow" })
        guard case .failed = slow.outcome else {
            Issue.record("the held issuer's certificate fails: \(slow.outcome)")
            return
        }
        let second = try #require(await told.next())
        #expect(second.desired.id == "prod/tls-slow")
    }

    @Test(
        "two issuers with ARI, one whose CA holds its re-check: the other's certificate is stored and told meanwhile"
    )
    func recheckBesideIssuance() async throws {
        let (healthy, gate, held, fixture) = try await Self.heldBeside(name: "adopted", timeout: .seconds(60))
        defer {
            Task {
                await healthy.stop()
                await held.stop()
                await fixture.fixture.stop()
            }
        }
        // A run that waited for the held CA before issuing would wait for ever: after 15 s the
        // gate opens on its own, and says so.
        let watchdog = Shared(false)
        let opener = Task {
            try await Task.sleep(for: .seconds(15))
            watchdog.value.withLock { $0 = true }
            await gate.open()
        }
        defer { opener.cancel() }
        // Adopted from kube-lego, valid and not due: its window is asked of the held CA first.
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let pem = try authority.issuePEM(
            for: key, names: ["adopted.mybinder.org"], notBefore: Date().addingTimeInterval(-86_400),
            notAfter: Date().addingTimeInterval(80 * 86_400))
        _ = try await fixture.fixture.store.create(
            tlsSecret(
                "prod", "tls-adopted",
                data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]))
        let lines = FinishedLines()
        var run = fixture.run
        run.progress = lines
        let running = Task { [run] in try await run.run(fixture.options) }
        var told = lines.lines.makeAsyncIterator()

        let first = try #require(await told.next())
        #expect(first.desired.id == "prod/tls-fast" && first.outcome == .issued, "\(first.outcome)")
        #expect(try await fixture.fixture.store.secret(namespace: "prod", name: "tls-fast") != nil)
        #expect(await gate.held > 0, "stored while the held CA has not answered the re-check")
        #expect(!watchdog.value.withLock { $0 }, "the held CA's re-check did not hold the other issuer back")

        await gate.open()
        let report = try await running.value
        let adopted = try #require(report.certificates.first { $0.desired.id == "prod/tls-adopted" })
        #expect(adopted.outcome != .issued, "left as it is: \(adopted.outcome)")
        #expect(
            report.warnings.contains { $0.contains("cannot read the directory of issuer held") }, "\(report.warnings)")
    }

    @Test(
        "a Lease taken over mid-run: no finalize, no order and no cluster write after the renewal sees it, what was issued stored, the holder named"
    )
    func leaseTakenOver() async throws {
        let port = freeLoopbackPort()
        var behaviour = TestACMEServer.Behaviour()
        behaviour.stalledNames = ["site1.mybinder.org"]
        let acme = try await TestACMEServer.start(validationPort: port, behaviour: behaviour)
        let server = try await FakeAPIServer.start()
        defer {
            Task {
                await acme.stop()
                await server.stop()
            }
        }
        let client = fakeClient(server)
        for site in siteIngresses(3) { _ = try await client.create(site) }
        let project = try PodProject.make(server, name: "lease-lost")
        try project.writeIssuer("local", server: acme.directoryURL)
        let output = project.folder.appendingPathComponent("output")
        #expect(FileManager.default.createFile(atPath: output.path, contents: nil))
        let process = Process()
        process.executableURL = CertctlProcess.binary
        // One certificate at a time: site0 is issued, site1's newOrder is held, site2 waits its turn.
        process.arguments = project.runArguments(
            issuer: "local", port: port,
            ["--concurrency", "1", "--lease-seconds", "3", "--http01-self-check-passes", "0"])
        process.currentDirectoryURL = project.folder
        process.environment = ProcessInfo.processInfo.environment.merging(project.environment(pod: "certctl-1")) {
            $1
        }
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = FileHandle.nullDevice
        try process.run()

        func until(_ what: String, _ condition: () async throws -> Bool) async throws {
            for _ in 0..<600 {
                if try await condition() { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            Issue.record("timed out waiting for \(what)")
        }
        try await until("site1's held newOrder") { await acme.stalledOrders == 1 }
        #expect(try await client.get(Secret.self, namespace: "prod", name: "kubelego-tls-site0").type == Secret.tlsType)

        // Another holder takes the Lease, as a run that found it expired would (again when the
        // run's own renewal came between its read and its write: a 409).
        for attempt in 1...5 {
            var lease = try await client.get(Lease.self, namespace: "prod", name: "certctl-run")
            #expect(lease.spec?.holderIdentity?.isEmpty == false)
            lease.spec?.holderIdentity = "intruder"
            lease.spec?.renewTime = MicroTime(Date())
            do {
                _ = try await client.update(lease)
                break
            } catch let error as KubernetesError where error.isConflict && attempt < 5 {
                continue
            }
        }
        // The run's next renewal: a read of the Lease after the takeover, in the server's order.
        try await until("the run's next renewal") {
            let log = await server.requestLog
            guard let taken = log.lastIndex(where: { $0.hasPrefix("update coordination.k8s.io/v1/leases") }) else {
                return false
            }
            return log[(taken + 1)...].contains { $0.hasPrefix("get coordination.k8s.io/v1/leases") }
        }

        await acme.releaseStalledOrders()
        try await until("the run's end") { !process.isRunning }
        let printed = try String(contentsOf: output, encoding: .utf8)
        #expect(process.terminationStatus == 2, "site1 and site2 are still missing: \(printed)")
        #expect(printed.contains("lock lost: taken over by intruder"), "\(printed)")
        let orders = await acme.orders.map(\.identifiers)
        #expect(orders == [["site0.mybinder.org"], ["site1.mybinder.org"]], "no order for site2: \(orders)")
        let finalizes = await acme.requests.filter { $0.hasPrefix("POST /finalize/") }
        #expect(finalizes.count == 1, "site1's order was not finalized: \(finalizes)")
        for site in ["site1", "site2"] {
            await #expect(throws: KubernetesError.self) {
                try await client.get(Secret.self, namespace: "prod", name: "kubelego-tls-\(site)")
            }
            await #expect(throws: KubernetesError.self, "no failure recorded: the next run does it") {
                try await client.get(ConfigMap.self, namespace: "prod", name: "certctl-pending-kubelego-tls-\(site)")
            }
        }
        let after = try await client.get(Lease.self, namespace: "prod", name: "certctl-run")
        #expect(after.spec?.holderIdentity == "intruder", "the run left the other holder's Lease alone")
        // From the takeover on, the run wrote nothing: no solver objects for site1, no Event, no
        // record, no run history (only the Lease itself was asked, and left alone).
        let log = await server.requestLog
        let taken = try #require(log.lastIndex { $0.hasPrefix("update coordination.k8s.io/v1/leases") })
        let writes = log[(taken + 1)...].filter { line in
            ["create ", "update ", "patch ", "delete "].contains { line.hasPrefix($0) }
                && !line.contains("coordination.k8s.io/v1/leases")
        }
        #expect(writes.isEmpty, "writes after the takeover: \(writes)")
        let before = log[..<taken].filter { $0.hasPrefix("create ") }
        #expect(before.contains { $0.hasPrefix("create v1/secrets prod/ ") }, "\(before)")
    }

    @Test("renew SECRET (--now or not) while another run holds the lock: refused, naming the holder, nothing written")
    func renewWhileLocked() async throws {
        let port = freeLoopbackPort()
        let acme = try await TestACMEServer.start(validationPort: port)
        defer { Task { await acme.stop() } }
        let project = try BinaryProject(server: acme, port: port, sites: ["a"])
        let first = try await project.certctl(["run"])
        #expect(first.status == 0, "\(first.standardOutput)\(first.standardError)")
        let other = FileRunLock(stateDirectory: project.directory.appendingPathComponent("state").path)
        #expect(try await other.acquire())
        let holder =
            "refused: another run holds the lock (certctl process \(ProcessInfo.processInfo.processIdentifier) on "
        for arguments in [["renew", "tls-a", "--now"], ["renew", "tls-a"]] {
            let refused = try await project.certctl(arguments)
            #expect(refused.status == 1, "\(refused.standardOutput)\(refused.standardError)")
            #expect(refused.standardOutput.hasPrefix(holder), "\(refused.standardOutput)")
            #expect(!(try await project.record("a").renewRequested), "the mark is a write: under the lock only")
        }
        #expect(await acme.orders.count == 1, "no order without the lock")
        await other.release()
        let marked = try await project.certctl(["renew", "tls-a"])
        #expect(marked.standardOutput == "prod/tls-a: marked for renewal\n", "\(marked.standardOutput)")
        #expect(try await project.record("a").renewRequested)
    }
}
