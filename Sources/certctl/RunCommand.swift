import ACME
import ArgumentParser
import CertctlCore
import Certificates
import DNS
import Foundation
import Kubernetes
import Logging
import Transport

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The CronJob's job: renew every managed certificate that is due, store it, report.",
        discussion: """
            Exit codes: 0 every certificate valid and none overdue; 1 a renewal failed but the \
            certificate is still valid (or an object is misconfigured); 2 a certificate is expired, \
            missing or close to expiry; 64 usage or configuration errors.
            """
    )

    @OptionGroup var cluster: ClusterOptions

    @Option(
        parsing: .unconditional, help: "Certificates issued at the same time, per issuer.")
    var concurrency = 8

    @Option(
        name: .customLong("lease-seconds"),
        parsing: .unconditional,
        help:
            "Cluster mode: the run's Lease lasts this long unless renewed; a run killed without releasing it holds off the next runs as long."
    )
    var leaseSeconds = 900

    @Option(
        name: .customLong("acme-timeout"),
        parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds one ACME request may take before it is abandoned (retried twice, then the certificate fails).",
            valueName: "seconds"))
    var acmeTimeout = 30

    @Option(
        name: .customLong("dns01-check-nameserver"),
        help: ArgumentHelp(
            "DNS-01: a server that must answer the TXT record before the CA is told; repeat for more (default: every NS of the zone, on port 53).",
            valueName: "host:port"))
    var dns01CheckNameservers: [String] = []

    @Option(
        name: .customLong("dns01-propagation-timeout"),
        parsing: .unconditional,
        help: ArgumentHelp("DNS-01: seconds those servers may take to answer the record.", valueName: "seconds"))
    var dns01PropagationTimeout = 120

    func validate() throws {
        for server in dns01CheckNameservers where (try? DNSClient(parsing: server)) == nil {
            throw ValidationError("--dns01-check-nameserver \(server) is not host:port")
        }
        guard (1...3600).contains(dns01PropagationTimeout) else {
            throw ValidationError("--dns01-propagation-timeout must be 1 to 3600 seconds (the default is 120)")
        }
        guard (1...64).contains(concurrency) else {
            throw ValidationError("--concurrency must be 1 to 64 (the default is 8)")
        }
        guard (0...50).contains(selfCheckPasses) else {
            throw ValidationError("--http01-self-check-passes must be 0 to 50 (the default is 5)")
        }
        guard (2...86_400).contains(leaseSeconds) else {
            throw ValidationError("--lease-seconds must be 2 to 86400 (the default is 900)")
        }
        guard (1...600).contains(acmeTimeout) else {
            throw ValidationError("--acme-timeout must be 1 to 600 seconds (the default is 30)")
        }
    }

    @Flag(name: .customLong("dry-run"), help: "Print the plan and change nothing.")
    var dryRun = false

    @Option(
        name: .customLong("http01-listen"),
        help: ArgumentHelp("Where the HTTP-01 responder listens.", valueName: "host:port"))
    var http01Listen = "0.0.0.0:8089"

    @Option(
        name: .customLong("http01-self-check-passes"),
        parsing: .unconditional,
        help: "Self-checks through the ingress before the CA is told (0: none).")
    var selfCheckPasses = 5

    @Option(
        name: .customLong("key-type"), help: ArgumentHelp("Certificate key: \(KeyType.names).", valueName: "type"),
        completion: .list(KeyType.allCases.map(\.rawValue)))
    var keyType = "ecdsa-p256"

    @Option(
        name: .customLong("metrics-file"),
        help: ArgumentHelp("Write the metrics here (atomically) for a textfile collector.", valueName: "path"))
    var metricsFile: String?

    @Option(
        help: ArgumentHelp("Push the metrics to this Pushgateway (job certctl, grouped by cluster).", valueName: "url"))
    var pushgateway: String?

    @Option(
        name: .customLong("notify-config"),
        help: ArgumentHelp("Send what changed state to the channels of this file.", valueName: "path"),
        completion: .file(extensions: ["yaml", "yml"]))
    var notifyConfig: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger()
        let code: Int32
        do {
            try cluster.requireSingleCluster()
            code = try await RunCommand.execute(
                cluster: cluster,
                options: { issuers, defaultIssuer, scope in
                    guard let keyType = KeyType(name: keyType) else {
                        throw CertctlError(
                            .invalidArgument, object: "--key-type \(keyType)",
                            "unknown key type; use one of \(KeyType.names)")
                    }
                    var options = CertificateRun.Options(
                        scope: scope,
                        issuers: issuers,
                        defaultIssuer: defaultIssuer,
                        concurrency: concurrency,
                        dryRun: dryRun,
                        http01Listen: try ListenAddress(parsing: http01Listen),
                        keyType: keyType
                    )
                    options.acmeRequestTimeout = .seconds(acmeTimeout)
                    options.dns01CheckServers = dns01CheckNameservers.isEmpty ? nil : dns01CheckNameservers
                    options.dns01PropagationTimeout = .seconds(dns01PropagationTimeout)
                    return options
                },
                selfCheckPasses: selfCheckPasses,
                leaseSeconds: leaseSeconds,
                metrics: MetricsOutput(file: metricsFile, pushgateway: pushgateway),
                notifications: try notifyConfig.map(NotificationConfig.load(file:)),
                logger: logger
            )
        } catch {
            throw CertctlExit.report(error)
        }
        if code != 0 { throw ExitCode(code) }
    }

    /// Where a run's metrics go.
    struct MetricsOutput {
        var file: String?
        var pushgateway: String?

        var isEmpty: Bool { file == nil && pushgateway == nil }
    }

    /// What `execute` prints of the report: the run's summary, `certctl renew`'s marks, or both.
    enum Printing {
        case summary, marks, marksAndSummary
    }

    /// `renew` and `revoke`: a run limited to the request's certificates that carries it out
    /// under its lock; its exit code.
    static func execute(
        _ request: RenewalRequest, cluster: ClusterOptions, http01Listen: String, selfCheckPasses: Int,
        printing: Printing, logger: Logger
    ) async throws -> Int32 {
        try await execute(
            cluster: cluster,
            options: { issuers, defaultIssuer, scope in
                var options = CertificateRun.Options(
                    scope: scope, issuers: issuers, defaultIssuer: defaultIssuer,
                    http01Listen: try ListenAddress(parsing: http01Listen), only: request.certificates)
                options.renewal = request
                return options
            },
            selfCheckPasses: selfCheckPasses, printing: printing, fresh: .refuse, logger: logger)
    }

    /// Builds the run for the chosen cluster, runs it (cancelled by SIGTERM), prints the report.
    static func execute(
        cluster: ClusterOptions,
        options makeOptions: ([IssuerKey: Issuer], String?, NamespaceScope) throws -> CertificateRun.Options,
        selfCheckPasses: Int,
        leaseSeconds: Int = 900,
        metrics: MetricsOutput = MetricsOutput(),
        notifications: NotificationConfig? = nil,
        printing: Printing = .summary,
        fresh: ClusterOptions.Fresh = .mayStart,
        logger: Logger
    ) async throws -> Int32 {
        let opened = try await cluster.open(logger: logger, ownNamespace: fresh)
        let context = opened.context
        var chosen = try makeOptions(opened.issuers, opened.defaultIssuer, context.scope)
        chosen.issuerNotes = opened.issuerNotes
        let options = chosen
        let transport = CurlTransport(userAgent: CertctlVersion.userAgent)
        var run: CertificateRun
        if let client = context.client, let namespace = context.namespace {
            run = CertificateRun.inCluster(
                client: client, namespace: namespace, pod: PodEnvironment.read(),
                issuers: opened.issuers, http01Port: options.http01Listen.port, selfCheckPasses: selfCheckPasses,
                leaseSeconds: leaseSeconds, transport: transport, logger: logger)
        } else {
            run = CertificateRun.local(store: context.store, state: cluster.state, transport: transport, logger: logger)
        }
        if !metrics.isEmpty || notifications != nil {
            run.reporter = RunReporter(
                metricsFile: metrics.file, pushgateway: metrics.pushgateway, notifications: notifications,
                transport: transport, logger: logger)
        }
        let progress = ProgressPrinter()
        run.progress = progress
        let notices = progress.noticeLongWaits()
        defer { notices.cancel() }
        let started = ContinuousClock.now
        let report = try await withSIGTERMCancellation(logger: logger) { [run] in
            try await run.run(options)
        }
        notices.cancel()
        let elapsed = ContinuousClock.now - started
        if printing != .summary {
            print(RunSummary.refusal(report), terminator: "")
            // Marks only: refused (exit 1) when another run holds the lock or a mark was not stored.
            if printing == .marks { return report.lockHeld || report.marks.contains { $0.notStored != nil } ? 1 : 0 }
            if report.lockHeld { return 1 }
        }
        print(
            RunSummary.render(
                report, elapsed: elapsed, now: Date(), printed: progress.finishedIDs, width: Terminal.width),
            terminator: "")
        return exitCode(report, namedOnly: options.only != nil)
    }

    /// The run's exit code. `renew NAME` and `revoke NAME` (`namedOnly`) exit by their
    /// certificates' outcome: the problems of other objects are printed, not theirs to fail on.
    /// A mark they needed and could not store fails them too.
    static func exitCode(_ report: RunReport, namedOnly: Bool) -> Int32 {
        var judged = report
        if namedOnly {
            // Their own problems still count: those of their Secrets and of the objects naming them.
            let targets = report.certificates.map(\.desired)
            let own = Set(targets.map { "Secret \($0.id)" } + targets.flatMap { $0.sources.map(\.description) })
            let secrets = targets.map { "Secret \($0.id) " }
            judged.problems = report.problems.filter { problem in
                own.contains(problem.object) || secrets.contains { problem.reason.contains($0) }
            }
        }
        let code = judged.exitCode(at: Date())
        return code == 0 && report.marks.contains { $0.notStored != nil } ? 1 : code
    }
}
