import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Logging
import Synchronization
import Testing
import Transport

@Suite("Notifications: what, when, and through real receivers", .serialized)
struct NotificationTests {
    static func statuses(annotations: [String: String] = [:]) throws -> [CertificateStatus] {
        try StatusTests.fixture()
    }

    @Test("announced once, repeated after the interval, recovered once")
    func policy() throws {
        let now = StatusTests.now
        let statuses = try StatusTests.fixture()
        let first = NotificationPolicy.notices(for: statuses, interval: 86_400, now: now)
        #expect(Set(first.map(\.notice.kind)) == [.expired, .expiring, .failing])
        #expect(first.map(\.notice.secret).sorted() == ["expired", "failing", "invalid", "missing", "short"])
        #expect(first.allSatisfy { $0.record.notifiedAt == now })

        // The same states with the records stored: nothing until the interval has passed.
        func withRecords(
            _ base: [CertificateStatus], _ sent: [(notice: Notice, status: CertificateStatus, record: RenewalRecord)]
        ) -> [CertificateStatus] {
            base.map { status in
                var copy = status
                if let record = sent.first(where: { $0.status.desired.id == status.desired.id })?.record {
                    copy.record = record
                }
                return copy
            }
        }
        let remembered = withRecords(statuses, first)
        #expect(
            NotificationPolicy.notices(for: remembered, interval: 86_400, now: now.addingTimeInterval(3600)).isEmpty)
        #expect(
            NotificationPolicy.notices(for: remembered, interval: 86_400, now: now.addingTimeInterval(86_401)).count
                == 5)

        // The failing one recovers: one "recovered", then silence.
        var healed = remembered
        let index = try #require(healed.firstIndex { $0.desired.secretName == "failing" })
        healed[index].state = .ready
        let recovered = NotificationPolicy.notices(for: healed, interval: 86_400, now: now.addingTimeInterval(7200))
        #expect(recovered.map(\.notice.kind) == [.recovered])
        #expect(recovered.first?.record.notifiedState == nil)
        healed[index].record = try #require(recovered.first?.record)
        #expect(NotificationPolicy.notices(for: healed, interval: 86_400, now: now.addingTimeInterval(9000)).isEmpty)
    }

    @Test("config: channels, credentials from files only, clear errors")
    func config() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "https://chat.example.org/api/v1/external/slack_incoming?api_key=SECRET\n".write(
            to: folder.appendingPathComponent("url"), atomically: true, encoding: .utf8)
        let config = try NotificationConfig.parse(
            """
            interval: 6h
            channels:
              - name: chat
                webhook: {urlFile: \(folder.path)/url, format: zulip}
              - name: am
                alertmanager: {url: "http://127.0.0.1:9093"}
            """,
            source: "notify.yaml"
        )
        #expect(config.interval == 6 * 3600)
        #expect(config.channels.map(\.name) == ["chat", "am"])
        for (yaml, message) in [
            (
                "channels: [{name: m, email: {smtp: 'smtp://x', from: a@b.c, to: [d@e.f], password: hunter2}}]",
                "passwordFile"
            ),
            ("channels: [{name: w, webhook: {url: 'http://x', format: teams}}]", "generic, slack or zulip"),
            ("channels: [{name: z, pager: {}}]", "webhook, alertmanager or email"),
            ("interval: soon\nchannels: [{name: a, alertmanager: {url: 'http://x'}}]", "duration"),
        ] {
            do {
                _ = try NotificationConfig.parse(yaml, source: "notify.yaml")
                Issue.record("\(message): must fail")
            } catch let error as CertctlError {
                #expect(error.description.contains(message), "\(error.description)")
                #expect(!error.description.contains("hunter2"))
            }
        }
    }

    @Test("a webhook receives generic JSON and Slack/Zulip text; the URL's key is never logged")
    func webhook() async throws {
        let bodies = Mutex<[String]>([])
        let receiver = try await HTTPServer.start(host: "127.0.0.1", port: 0) { request in
            bodies.withLock { $0.append(String(decoding: request.body, as: UTF8.self)) }
            return ServerResponse(status: 200)
        }
        defer { Task { await receiver.stop() } }
        let url = "http://127.0.0.1:\(receiver.port)/hook?api_key=SECRET"
        let config = NotificationConfig(channels: [
            ("generic", .webhook(url: url, format: .generic)), ("zulip", .webhook(url: url, format: .zulip)),
        ])
        let notices = NotificationPolicy.notices(for: try StatusTests.fixture(), interval: 86_400, now: StatusTests.now)
            .map(\.notice)
        let failed = await Notifier(
            config: config, transport: CurlTransport(userAgent: "t"), cluster: "prod-cluster",
            logger: Logger(label: "t")
        ).send(notices)
        #expect(failed.isEmpty)
        let received = bodies.withLock { $0 }
        #expect(received.count == 2)
        let generic = try #require(try JSONSerialization.jsonObject(with: Data(received[0].utf8)) as? [String: Any])
        #expect(generic["cluster"] as? String == "prod-cluster")
        #expect((generic["notices"] as? [[String: Any]])?.count == 5)
        let zulip = try #require(try JSONSerialization.jsonObject(with: Data(received[1].utf8)) as? [String: String])
        #expect(zulip.keys.sorted() == ["text"])
        #expect(zulip["text"]?.contains("EXPIRED: prod/expired for expired.mybinder.org is Expired") == true)
        #expect(Notifier.redacted(url) == "http://127.0.0.1:\(receiver.port)/…")
        #expect(Notifier.redacted("https://hooks.slack.com/services/T0/B0/XyZ") == "https://hooks.slack.com/…")
        #expect(Notifier.redacted("https://user:pw@am.example.org:9093/") == "https://am.example.org:9093")
        #expect(Notifier.redacted("https://am.example.org") == "https://am.example.org")
        #expect(Notifier.redacted("not a url with a key") == "(a webhook URL)")
    }

    @Test("Alertmanager (Debian's) receives the alerts on its v2 API, and the resolved one ends")
    func alertmanager() async throws {
        let port = freeLoopbackPort()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("am-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "route: {receiver: sink}\nreceivers: [{name: sink}]\n".write(
            to: folder.appendingPathComponent("am.yml"), atomically: true, encoding: .utf8)
        let alertmanager = try await ExternalServer.start(
            "/usr/bin/prometheus-alertmanager",
            [
                "--config.file=\(folder.path)/am.yml", "--storage.path=\(folder.path)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address=",
            ],
            readyURL: "http://127.0.0.1:\(port)/-/ready"
        )
        defer { alertmanager.stop() }
        let transport = CurlTransport(userAgent: "t")
        let config = NotificationConfig(channels: [("am", .alertmanager(url: "http://127.0.0.1:\(port)"))])
        let notices = NotificationPolicy.notices(for: try StatusTests.fixture(), interval: 86_400, now: Date()).map(
            \.notice)
        let notifier = Notifier(
            config: config, transport: transport, cluster: "prod-cluster", logger: Logger(label: "t"))
        #expect(await notifier.send(notices).isEmpty)
        let listed = try await transport.send(HTTPRequest(url: "http://127.0.0.1:\(port)/api/v2/alerts"))
        let alerts = try #require(try JSONSerialization.jsonObject(with: Data(listed.body)) as? [[String: Any]])
        let labels = alerts.compactMap { $0["labels"] as? [String: String] }
        #expect(
            labels.contains {
                $0["alertname"] == "CertificateExpired" && $0["secret"] == "expired" && $0["severity"] == "critical"
            })
        #expect(labels.contains { $0["alertname"] == "CertificateRenewalFailing" && $0["secret"] == "failing" })
        #expect(alerts.count == 5)
    }

    @Test("e-mail over SMTP with STARTTLS to a real server (aiosmtpd)")
    func email() async throws {
        let port = freeLoopbackPort()
        let assets = Pebble.assets
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-u", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)",
            "--tlscert", assets.appendingPathComponent("cert.pem").path, "--tlskey",
            assets.appendingPathComponent("key.pem").path,
        ]
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        // SIGKILL: aiosmtpd outlived a SIGTERM here, one server left behind per test run.
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        #expect(await RawConnection.waitForGreeting(port: port, greeting: "220"), "aiosmtpd started")

        let config = NotificationConfig(channels: [
            (
                "mail",
                .email(
                    smtp: "smtp://localhost:\(port)", starttls: true, from: "certctl@mybinder.org",
                    to: ["ops@mybinder.org"], username: nil, password: nil, caBundle: Pebble.caBundle)
            )
        ])
        let notices = NotificationPolicy.notices(for: try StatusTests.fixture(), interval: 86_400, now: Date()).map(
            \.notice)
        let failed = await Notifier(
            config: config, transport: CurlTransport(userAgent: "t"), cluster: "prod-cluster",
            logger: Logger(label: "t")
        ).send(notices)
        #expect(failed.isEmpty)
        // aiosmtpd prints the message once it has it: wait for that, not for a fixed time.
        var log = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !log.contains("EXPIRED: prod/expired") {
            try await Task.sleep(for: .milliseconds(50))
            log = try String(contentsOf: output, encoding: .utf8)
        }
        #expect(log.contains("Subject: [certctl] prod-cluster: 5 certificates EXPIRED"), "\(log.suffix(2000))")
        #expect(log.contains("EXPIRED: prod/expired for expired.mybinder.org"))
        #expect(log.contains("X-Peer") || log.contains("ops@mybinder.org"))

        // Without STARTTLS support on the server side a required STARTTLS fails instead of sending in clear.
        let plainPort = freeLoopbackPort()
        let plain = Process()
        plain.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        plain.arguments = ["python3", "-u", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(plainPort)"]
        plain.standardOutput = FileHandle.nullDevice
        plain.standardError = FileHandle.nullDevice
        try plain.run()
        defer {
            kill(plain.processIdentifier, SIGKILL)
            plain.waitUntilExit()
        }
        #expect(await RawConnection.waitForGreeting(port: plainPort, greeting: "220"), "aiosmtpd started")
        let refusing = NotificationConfig(channels: [
            (
                "mail",
                .email(
                    smtp: "smtp://127.0.0.1:\(plainPort)", starttls: true, from: "certctl@mybinder.org",
                    to: ["ops@mybinder.org"], username: nil, password: nil, caBundle: nil)
            )
        ])
        #expect(
            await Notifier(
                config: refusing, transport: CurlTransport(userAgent: "t"), cluster: "c", logger: Logger(label: "t")
            ).send(notices) == ["mail"])
    }
}

@Suite("certctl run --notify-config", .serialized)
struct RunNotificationTests {
    @Test("an expired certificate is announced by the run once, not again by the next run")
    func once() async throws {
        let bodies = Mutex<[String]>([])
        let receiver = try await HTTPServer.start(host: "127.0.0.1", port: 0) { request in
            bodies.withLock { $0.append(String(decoding: request.body, as: UTF8.self)) }
            return ServerResponse(status: 204)
        }
        defer { Task { await receiver.stop() } }
        // The CA is unreachable: the expired certificate cannot be renewed.
        let project = try LocalProject.make(server: "https://127.0.0.1:\(freeLoopbackPort())/dir", sites: ["old"])
        let directory = project.directory
        try await project.seedCertificate("old", startDays: -100, authority: try TestCertificateAuthority())
        try "channels: [{name: hook, webhook: {url: 'http://127.0.0.1:\(receiver.port)/hook', format: slack}}]\n"
            .write(to: directory.appendingPathComponent("notify.yaml"), atomically: true, encoding: .utf8)
        let arguments = [
            "run", "--manifests", "ingress", "--state", "state", "--issuers", "issuers", "--default-issuer", "local",
            "--http01-listen", "127.0.0.1:0", "--notify-config", "notify.yaml", "--metrics-file", "metrics.prom",
        ]
        let first = try await CertctlProcess.run(arguments, directory: directory)
        #expect(first.status == 2, "\(first.standardError)")
        #expect(bodies.withLock { $0.count } == 1)
        #expect(bodies.withLock { $0.first }?.contains("EXPIRED: prod/tls-old") == true)
        let metrics = try String(contentsOf: directory.appendingPathComponent("metrics.prom"), encoding: .utf8)
        #expect(metrics.contains(#"certctl_certificates{state="Expired"} 1.0"#))

        let second = try await CertctlProcess.run(arguments, directory: directory)
        #expect(second.status == 2)
        #expect(bodies.withLock { $0.count } == 1, "not repeated within the interval")
    }
}

@Suite("certctl run --pushgateway", .serialized)
struct PushgatewayTests {
    @Test("a run pushes its metrics to a real Pushgateway, grouped by job and cluster")
    func push() async throws {
        let port = freeLoopbackPort()
        let gateway = try await ExternalServer.start(
            "/usr/bin/prometheus-pushgateway",
            ["--web.listen-address=127.0.0.1:\(port)"],
            readyURL: "http://127.0.0.1:\(port)/-/ready"
        )
        defer { gateway.stop() }
        let transport = CurlTransport(userAgent: "t")
        let directory = try IssueCommandTests.scratch(
            issuer: IssueCommandTests.issuerYAML(server: "https://127.0.0.1:1/dir"))
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("ingress"), withIntermediateDirectories: true)
        let result = try await CertctlProcess.run(
            [
                "run", "--manifests", "ingress", "--state", "state", "--issuers", "issuers", "--pushgateway",
                "http://127.0.0.1:\(port)",
            ],
            directory: directory
        )
        #expect(result.status == 0, "\(result.standardError)")
        let metrics = String(
            decoding: try await transport.send(HTTPRequest(url: "http://127.0.0.1:\(port)/metrics")).body, as: UTF8.self
        )
        #expect(
            metrics.contains(#"certctl_certificates{cluster="local",instance="",job="certctl",state="Ready"} 0"#),
            "\(metrics.prefix(3000))")
        #expect(
            metrics.contains(#"certctl_run_last_success_timestamp_seconds{cluster="local",instance="",job="certctl"}"#))
    }
}

@Suite("certctl notify --test", .serialized)
struct NotifyCommandTests {
    @Test("one test message per channel; a dead channel is named and exits 1")
    func test() async throws {
        let bodies = Mutex<[String]>([])
        let receiver = try await HTTPServer.start(host: "127.0.0.1", port: 0) { request in
            bodies.withLock { $0.append(String(decoding: request.body, as: UTF8.self)) }
            return ServerResponse(status: 200)
        }
        defer { Task { await receiver.stop() } }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("notify-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try """
        channels:
          - {name: chat, webhook: {url: 'http://127.0.0.1:\(receiver.port)/hook', format: slack}}
          - {name: dead, alertmanager: {url: 'http://127.0.0.1:\(freeLoopbackPort())'}}
        """.write(to: folder.appendingPathComponent("notify.yaml"), atomically: true, encoding: .utf8)
        let result = try await CertctlProcess.run([
            "notify", "--test", "--notify-config", folder.appendingPathComponent("notify.yaml").path,
        ])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("sent    chat"))
        #expect(result.standardOutput.contains("failed  dead"))
        #expect(bodies.withLock { $0 }.first?.contains("certctl can reach this channel") == true)
    }
}
