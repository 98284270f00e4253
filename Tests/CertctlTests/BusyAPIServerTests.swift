import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing

/// certctl run through the binary against a fake API server that throttles, fails and restarts
/// as a loaded cluster's does, with the in-process CA: every certificate stored, none ordered
/// twice.
@Suite("A busy or restarting API server", .serialized)
struct BusyAPIServerTests {
    struct Cluster {
        let server: FakeAPIServer
        let ca: TestACMEServer
        let project: PodProject
        let port: Int
        let count: Int

        static func make(certificates count: Int, name: String) async throws -> Cluster {
            let port = freeLoopbackPort()
            let ca = try await TestACMEServer.start(validationPort: port)
            let server = try await FakeAPIServer.start()
            let admin = fakeClient(server)
            for ingress in siteIngresses(count) { _ = try await admin.create(ingress) }
            let project = try PodProject.make(server, name: name)
            try project.writeIssuer("test-ca", server: ca.directoryURL)
            return Cluster(server: server, ca: ca, project: project, port: port, count: count)
        }

        func stop() async {
            await server.stop()
            await ca.stop()
        }

        /// One `certctl run` as the CronJob's pod, with its metrics written to `metrics.prom`.
        func run() async throws -> CertctlProcess.Result {
            try await CertctlProcess.run(
                project.runArguments(
                    issuer: "test-ca", port: port,
                    ["--http01-self-check-passes", "0", "--metrics-file", "metrics.prom"]),
                environment: project.environment(pod: "certctl-1"), directory: project.folder)
        }

        var metrics: String {
            (try? String(contentsOf: project.folder.appendingPathComponent("metrics.prom"), encoding: .utf8)) ?? ""
        }

        /// Orders the CA accepted, by certificate name.
        func ordersByName() async -> [String: Int] {
            var counts: [String: Int] = [:]
            for order in await ca.orders where order.status == 201 {
                counts[order.identifiers.joined(separator: ","), default: 0] += 1
            }
            return counts
        }

        /// Every certificate's Secret holds a valid certificate for its name (read with no faults).
        func everyCertificateStored() async throws -> Bool {
            server.schedule(FakeAPIFaults())
            let secrets = try await fakeClient(server).list(Secret.self, namespace: "prod")
            let valid = secrets.filter { secret in
                let current = CurrentCertificate(secret: secret)
                let site = (secret.metadata.name ?? "").replacingOccurrences(of: "kubelego-tls-", with: "")
                return current.isValid(at: Date()) && current.summary?.dnsNames == ["\(site).mybinder.org"]
            }
            return valid.count == count
        }

        /// `certctl_kubernetes_retries_total` of the metrics file, by reason.
        var retries: [String: Int] {
            var found: [String: Int] = [:]
            for line in metrics.split(separator: "\n") where line.hasPrefix("certctl_kubernetes_retries_total{") {
                let reason = line.split(separator: "\"")[1]
                found[String(reason)] = Int(line.split(separator: " ").last ?? "")
            }
            return found
        }
    }

    @Test(
        "20% 429 (Retry-After 1), 5% 503 and 3% closed connections: every certificate issued, exit 0, none ordered twice"
    )
    func throttled() async throws {
        let cluster = try await Cluster.make(certificates: 30, name: "busy-api")
        defer { Task { await cluster.stop() } }
        cluster.server.schedule(FakeAPIFaults(tooManyRequests: 0.2, unavailable: 0.05, closed: 0.03, seed: 20_261_203))
        let started = ContinuousClock.now
        let result = try await cluster.run()
        let wall = ContinuousClock.now - started
        let injected = cluster.server.faultsInjected
        let requests = await cluster.server.requestCounts.values.reduce(0, +)
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        #expect(try await cluster.everyCertificateStored())
        let orders = await cluster.ordersByName()
        #expect(orders.count == 30)
        #expect(orders.values.allSatisfy { $0 == 1 }, "no certificate ordered twice: \(orders.filter { $0.value > 1 })")
        #expect(injected["429", default: 0] > 0 && injected["503", default: 0] > 0, "\(injected)")
        let retries = cluster.retries
        #expect(retries["throttled", default: 0] > 0, "the retries are in the metrics: \(cluster.metrics)")
        #expect(retries["unavailable", default: 0] > 0)
        #expect(cluster.metrics.contains(#"certctl_kubernetes_requests_total{verb="create",code="429"}"#))
        print(
            "busy API server soak: \(requests) API requests served, faults injected \(injected), retries \(retries), 30 certificates, \(orders.values.reduce(0, +)) orders, \(wall)"
        )
    }

    @Test(
        "an 8-second outage in the middle of a run: nothing lost; with the next run every certificate stored, none ordered twice"
    )
    func outage() async throws {
        let cluster = try await Cluster.make(certificates: 24, name: "api-outage")
        defer { Task { await cluster.stop() } }
        let started = ContinuousClock.now
        async let first = cluster.run()
        // The outage begins once some certificates were ordered (waiting for that, not for a time).
        var ordered = 0
        while ordered < 6, ContinuousClock.now - started < .seconds(60) {
            try await Task.sleep(for: .milliseconds(20))
            ordered = await cluster.ca.orders.count
        }
        cluster.server.outage(for: .seconds(8))
        let during = try await first
        let firstWall = ContinuousClock.now - started
        let injected = cluster.server.faultsInjected["outage", default: 0]
        #expect(ordered >= 6, "the outage began after \(ordered) orders")
        #expect(injected > 0, "requests met the outage")
        #expect(
            during.standardOutput.contains("s for the API server to answer"),
            "the wait is shown: \(during.standardOutput)")
        let second = try await cluster.run()
        #expect(second.status == 0, "\(second.standardOutput)\(second.standardError)")
        #expect(try await cluster.everyCertificateStored())
        let orders = await cluster.ordersByName()
        #expect(orders.count == 24)
        #expect(orders.values.allSatisfy { $0 == 1 }, "no certificate ordered twice: \(orders.filter { $0.value > 1 })")
        print(
            "API server outage: first run exit \(during.status) after \(firstWall) (\(injected) requests met the outage), second run exit \(second.status); 24 certificates, \(orders.values.reduce(0, +)) orders; retries \(cluster.retries)"
        )
    }

    @Test(
        "an outage longer than the retries: the run stops, exit non-zero naming the API server; the next run does the work"
    )
    func longOutage() async throws {
        let cluster = try await Cluster.make(certificates: 4, name: "api-down")
        defer { Task { await cluster.stop() } }
        cluster.server.outage(for: .seconds(120))
        let started = ContinuousClock.now
        let down = try await cluster.run()
        let waited = ContinuousClock.now - started
        #expect(down.status != 0)
        #expect(
            down.standardError.contains("cannot reach the API server at \(cluster.server.url)"), "\(down.standardError)"
        )
        #expect(waited > .seconds(20), "the retries rode for a while first: \(waited)")
        #expect(await cluster.ca.orders.isEmpty, "nothing ordered without the cluster")
        cluster.server.outage(for: .zero)
        let after = try await cluster.run()
        #expect(after.status == 0, "\(after.standardOutput)\(after.standardError)")
        #expect(try await cluster.everyCertificateStored())
        #expect(await cluster.ordersByName().values.allSatisfy { $0 == 1 })
        print(
            "API server down for the whole run: exit \(down.status) after \(waited); the next run exit \(after.status)")
    }
}
