import CertctlCore
import CertctlTestSupport
import Foundation
import Logging
import Synchronization
import Testing
import Transport

@Suite("Metrics and the exporter")
struct MetricsTests {
    static let problem = ObjectProblem(
        object: "Ingress prod/shouty", reason: "\"Hub.example.org\" is not a valid host name: use lower case",
        kind: .invalidHost, namespace: "prod", field: "spec.tls[0].hosts[0]")

    static func exposition() throws -> String {
        let statuses = try StatusTests.fixture()
        let run = CertificateMetrics.RunFigures(
            finished: StatusTests.now,
            duration: .milliseconds(1500),
            succeeded: true,
            acmeRequests: [.init(action: "newOrder", status: "201"): 3, .init(action: "newOrder", status: "429"): 1],
            issued: 3,
            failed: 1,
            rateLimited: 1
        )
        var figures = run
        figures.failuresByReason = ["rate_limited": 1]
        return CertificateMetrics.render(statuses, problems: [problem, problem], run: figures)
    }

    /// The samples of the exposition, as "name{labels} value" lines, sorted.
    static func samples(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }.sorted()
    }

    @Test("names and labels of the README, values from the certificates, never key material")
    func names() throws {
        let text = try Self.exposition()
        let samples = Self.samples(text)
        let ready =
            #"certctl_certificate_ready{namespace="prod",secret="ready",ingress="ready",issuer="letsencrypt-prod",object_kind="Ingress"} 1.0"#
        #expect(samples.contains(ready))
        #expect(
            samples.contains(
                #"certctl_certificate_ready{namespace="prod",secret="expired",ingress="expired",issuer="letsencrypt-prod",object_kind="Ingress"} 0.0"#
            ))
        #expect(
            samples.contains(
                #"certctl_certificate_ready{namespace="prod",secret="missing",ingress="missing",issuer="letsencrypt-prod",object_kind="Ingress"} 0.0"#
            ))
        let notAfter = StatusTests.now.addingTimeInterval(80 * 86_400).timeIntervalSince1970
        #expect(
            samples.contains(
                #"certctl_certificate_not_after_timestamp_seconds{namespace="prod",secret="ready",ingress="ready",issuer="letsencrypt-prod",object_kind="Ingress"} \#(notAfter)"#
            ))
        #expect(
            samples.contains(
                #"certctl_certificate_failures{namespace="prod",secret="failing",ingress="failing",issuer="letsencrypt-prod",object_kind="Ingress"} 3.0"#
            ))
        #expect(samples.contains(#"certctl_certificates{state="Expired"} 1.0"#))
        #expect(samples.contains(#"certctl_problems{namespace="prod",kind="invalid_host"} 2.0"#))
        #expect(samples.contains(#"certctl_acme_requests_total{action="newOrder",status="429"} 1"#))
        #expect(samples.contains(#"certctl_issuances_total{result="issued"} 3"#))
        #expect(samples.contains("certctl_rate_limited_total 1"))
        #expect(samples.contains(#"certctl_run_failures_total{reason="rate_limited"} 1"#))
        #expect(samples.contains("certctl_run_duration_seconds 1.5"))
        #expect(samples.contains("certctl_run_last_success_timestamp_seconds \(StatusTests.now.timeIntervalSince1970)"))
        #expect(
            samples.contains { $0.hasPrefix("certctl_certificate_info{") && $0.contains(#"key_type="ecdsa-p256""#) })
        for name in ["not_before_timestamp_seconds", "renewal_timestamp_seconds"] {
            #expect(samples.contains { $0.hasPrefix("certctl_certificate_\(name){") })
        }
        #expect(!text.contains("PRIVATE KEY"))
    }

    @Test("promtool check metrics accepts the exposition")
    func promtool() async throws {
        let text = try Self.exposition()
        let result = try await ExternalTool.run("/usr/bin/promtool", ["check", "metrics"], input: text)
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("a label value with quotes, backslashes and a line feed is escaped; a repeated series keeps its last value")
    func escapedLabels() async throws {
        var statuses = try StatusTests.fixture()
        statuses[0].desired.ingresses = ["a\"b\\c\nd"]
        statuses.append(statuses[1])
        let text = CertificateMetrics.render(statuses)
        #expect(text.contains(#"ingress="a\"b\\c\nd""#), "\(text.prefix(2000))")
        let ready = Self.samples(text).filter { $0.hasPrefix("certctl_certificate_ready{") }
        #expect(ready.count == statuses.count - 1, "the repeated certificate is one series")
        #expect(text.components(separatedBy: "# TYPE certctl_certificate_ready gauge").count == 2)
        let result = try await ExternalTool.run("/usr/bin/promtool", ["check", "metrics"], input: text)
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("a real Prometheus scrapes the exporter and stores every series of the exposition")
    func prometheusScrapes() async throws {
        let exporter = Exporter(cacheFor: 60, logger: Logger(label: "t")) {
            Overview(
                certificates: try StatusTests.fixture(),
                problems: [ClusterProblem(cluster: "prod-cluster", problem: MetricsTests.problem)])
        }
        let server = try await exporter.start(ListenAddress(host: "127.0.0.1", port: 0))
        defer { Task { await server.stop() } }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try """
        global: {scrape_interval: 2s, scrape_timeout: 2s}
        scrape_configs:
          - job_name: certctl
            static_configs: [{targets: ['127.0.0.1:\(server.port)']}]
        """.write(to: folder.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let port = freeLoopbackPort()
        let prometheus = try await ExternalServer.start(
            "/usr/bin/prometheus",
            [
                "--config.file=\(folder.path)/prometheus.yml", "--storage.tsdb.path=\(folder.path)/data",
                "--web.listen-address=127.0.0.1:\(port)",
            ],
            readyURL: "http://127.0.0.1:\(port)/-/ready"
        )
        defer { prometheus.stop() }
        let transport = CurlTransport(userAgent: "t")
        func query(_ expression: String) async throws -> [[String: Any]] {
            let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let response = try await transport.send(
                HTTPRequest(url: "http://127.0.0.1:\(port)/api/v1/query?query=\(encoded)"))
            let body = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            return (body?["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
        }
        // Prometheus scrapes every 2 s; wait (up to a minute) for a scrape that stored samples. A
        // scrape that failed (a loaded machine) is tried again at the next interval.
        let expected = Self.samples(
            String(
                decoding: await exporter.handle(ServerRequest(method: "GET", uri: "/metrics", headers: [:], body: []))
                    .body, as: UTF8.self)
        ).count
        var stored = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            stored =
                Int(
                    (try await query(#"count({__name__=~"certctl_.+"})"#).first?["value"] as? [Any])?.last as? String
                        ?? "") ?? 0
            if stored > 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let targets = try await transport.send(HTTPRequest(url: "http://127.0.0.1:\(port)/api/v1/targets"))
        #expect(
            stored == expected,
            "Prometheus stored \(stored) of the exposition's \(expected) series; its target: \(String(decoding: targets.body, as: UTF8.self))"
        )
        let ready = try await query(#"certctl_certificate_ready{secret="ready"}"#)
        #expect((ready.first?["value"] as? [Any])?.last as? String == "1")
        let labels = ready.first?["metric"] as? [String: String]
        #expect(labels?["namespace"] == "prod" && labels?["issuer"] == "letsencrypt-prod")
        let problems = try await query(#"certctl_problems{kind="invalid_host"}"#)
        #expect((problems.first?["value"] as? [Any])?.last as? String == "1")
    }

    @Test("the exporter serves /metrics, / and /healthz, reading the Secrets once per cache period")
    func exporter() async throws {
        let reads = ReadCounter()
        let exporter = Exporter(
            cacheFor: 60,
            logger: Logger(label: "t"),
            lastSuccess: { Date(timeIntervalSince1970: 1_800_000_000) },
            load: {
                reads.add()
                return Overview(
                    certificates: try StatusTests.fixture(),
                    problems: [ClusterProblem(cluster: "prod-cluster", problem: MetricsTests.problem)])
            }
        )
        let server = try await exporter.start(ListenAddress(host: "127.0.0.1", port: 0))
        defer { Task { await server.stop() } }
        let transport = CurlTransport(userAgent: "t")
        let base = "http://127.0.0.1:\(server.port)"
        let metrics = try await transport.send(HTTPRequest(url: base + "/metrics"))
        #expect(metrics.status == 200)
        #expect(metrics.headers["Content-Type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(
            String(decoding: metrics.body, as: UTF8.self).contains("certctl_certificate_not_after_timestamp_seconds{"))
        let page = try await transport.send(HTTPRequest(url: base + "/"))
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(page.status == 200)
        #expect(html.contains("<title>certctl: 8 certificates</title>"))
        #expect(html.contains(#"<tr class="expired" data-rank="0">"#))
        #expect(html.contains(#"<h2 id="problems">1 problem</h2>"#) && html.contains("Ingress prod/shouty"))
        #expect(
            String(decoding: metrics.body, as: UTF8.self).contains(
                #"certctl_problems{namespace="prod",kind="invalid_host"} 1.0"#))
        #expect(html.contains("rateLimited: too many certificates"))
        #expect(try await transport.send(HTTPRequest(url: base + "/healthz")).status == 200)
        #expect(try await transport.send(HTTPRequest(url: base + "/other")).status == 404)
        _ = try await transport.send(HTTPRequest(url: base + "/metrics"))
        #expect(reads.value == 1, "scrapes within the cache period read the Secrets once")
    }

    @Test("concurrent scrapes of an expired cache share one reading of the Secrets")
    func oneReadingForConcurrentScrapes() async throws {
        let reads = ReadCounter()
        let gate = Gate()
        let exporter = Exporter(cacheFor: 60, logger: Logger(label: "t")) {
            reads.add()
            await gate.wait()
            return Overview(certificates: try StatusTests.fixture())
        }
        let request = ServerRequest(method: "GET", uri: "/metrics", headers: [:], body: [])
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 { group.addTask { await exporter.handle(request).status } }
            // Seven scrapes wait for the first one's reading: then it may finish.
            let deadline = ContinuousClock.now + .seconds(20)
            while exporter.scrapesWaiting < 7, ContinuousClock.now < deadline { await Task.yield() }
            #expect(exporter.scrapesWaiting == 7)
            await gate.open()
            for try await status in group { #expect(status == 200) }
        }
        #expect(reads.value == 1)
    }

    @Test("the first reading starts with the exporter, and the first scrape waits for that one")
    func firstReadingAtStart() async throws {
        let reads = ReadCounter()
        let gate = Gate()
        let exporter = Exporter(cacheFor: 60, logger: Logger(label: "t")) {
            reads.add()
            await gate.wait()
            return Overview(certificates: try StatusTests.fixture())
        }
        exporter.startReading()
        let deadline = ContinuousClock.now + .seconds(20)
        while reads.value == 0, ContinuousClock.now < deadline { await Task.yield() }
        #expect(reads.value == 1, "the Secrets are being read before anyone scraped")
        let request = ServerRequest(method: "GET", uri: "/metrics", headers: [:], body: [])
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask { await exporter.handle(request).status }
            while exporter.scrapesWaiting < 1, ContinuousClock.now < deadline { await Task.yield() }
            #expect(exporter.scrapesWaiting == 1, "the scrape joins the reading under way")
            await gate.open()
            for try await status in group { #expect(status == 200) }
        }
        #expect(reads.value == 1 && exporter.readingsStarted == 1)
    }

    @Test("HTML escapes what comes from the cluster")
    func escaping() {
        #expect(StatusPage.escape("<script>&\"") == "&lt;script&gt;&amp;&quot;")
    }
}

final class ReadCounter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// Holds whoever waits until it is opened.
actor Gate {
    private var opened = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if opened { return }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// How many wait at the gate now.
    var held: Int { waiting.count }

    func open() {
        opened = true
        for continuation in waiting { continuation.resume() }
        waiting = []
    }
}
