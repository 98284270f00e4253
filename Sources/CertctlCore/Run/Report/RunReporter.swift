import Foundation
public import Logging
public import Transport

/// The report stage of a run: metrics (a textfile for a collector, a Pushgateway) and
/// notifications, from the certificates as the run left them, handed the run's outcome by the
/// run itself while it still holds its lock, so that every way of running (the CronJob,
/// `renew --now`, the tests) reports the same thing.
public struct RunReporter: Sendable {
    public var metricsFile: String?
    public var pushgateway: String?
    public var notifications: NotificationConfig?
    public var transport: any HTTPTransport
    public var logger: Logger

    public init(
        metricsFile: String?, pushgateway: String?, notifications: NotificationConfig?,
        transport: any HTTPTransport, logger: Logger
    ) {
        self.metricsFile = metricsFile
        self.pushgateway = pushgateway
        self.notifications = notifications
        self.transport = transport
        self.logger = logger
    }

    var isEmpty: Bool { metricsFile == nil && pushgateway == nil && notifications == nil }

    /// Publishes and notifies for `statuses` (the run's certificates after it) and `report`;
    /// returns the records of what was announced, for the store stage to keep (so that the next
    /// run does not repeat it).
    func report(_ report: RunReport, statuses: [CertificateStatus], duration: Duration, now: Date) async throws
        -> [(DesiredCertificate, RenewalRecord)]
    {
        if metricsFile != nil || pushgateway != nil {
            try await publish(statuses, report: report, duration: duration, finished: now)
        }
        guard let notifications else { return [] }
        return await notify(statuses, config: notifications, cluster: report.cluster, now: now)
    }

    /// Sends what changed state; the records saying it was sent, none when nobody heard it.
    func notify(_ statuses: [CertificateStatus], config: NotificationConfig, cluster: String, now: Date) async
        -> [(DesiredCertificate, RenewalRecord)]
    {
        let due = NotificationPolicy.notices(for: statuses, interval: config.interval, now: now)
        guard !due.isEmpty else { return [] }
        let notifier = Notifier(config: config, transport: transport, cluster: cluster, logger: logger)
        let failed = await notifier.send(due.map(\.notice), now: now)
        guard failed.count < config.channels.count else { return [] }  // nobody heard it: try again next run
        return due.map { ($0.status.desired, $0.record) }
    }

    /// Metrics of the certificates as the run left them, plus the run's own figures.
    func publish(_ statuses: [CertificateStatus], report: RunReport, duration: Duration, finished: Date) async throws {
        let text = CertificateMetrics.render(
            statuses, problems: report.problems, run: report.figures(finished: finished, duration: duration))
        if let metricsFile {
            try AtomicFile.write(text, to: metricsFile, mode: 0o644)
        }
        if let gateway = pushgateway {
            let base = gateway.hasSuffix("/") ? String(gateway.dropLast()) : gateway
            let cluster = report.cluster.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "cluster"
            let url = "\(base)/metrics/job/certctl/cluster/\(cluster)"
            let response = try await transport.send(
                HTTPRequest(
                    method: .put, url: url, headers: ["Content-Type": "text/plain; version=0.0.4"],
                    body: Array(text.utf8), timeout: .seconds(10))
            )
            guard response.isSuccess else {
                throw CertctlError(
                    .io, object: url,
                    "the Pushgateway answered HTTP \(response.status): \(String(decoding: response.body.prefix(200), as: UTF8.self))"
                )
            }
        }
    }
}
