import ArgumentParser
import CertctlCore
import Foundation
import Logging
import Transport

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "A preflight after deploying: what a run needs, checked without making a certificate.",
        discussion: """
            One line per check: the cluster's Ingresses and Secrets read, each misconfigured \
            object, every issuer's CA directory (and the profile it asks for), its account (looked \
            up by its key, never created), in a cluster the job's permissions in each namespace \
            (SelfSubjectAccessReview), every host HTTP-01 validates resolving, and for every name \
            whether its CAA records let each issuer of its chain issue (the CA's caaIdentities, \
            accounturi, validationmethods). Exit code 0 all ok, 1 a warning, 2 a failure.
            """
    )

    @OptionGroup var cluster: ClusterOptions

    @Option(
        name: .customLong("resolver"),
        help: ArgumentHelp(
            "Resolve the hosts and read their CAA records at this DNS server (default: the system's resolver).",
            valueName: "host:port"))
    var resolver: String?

    @Option(
        name: .customLong("acme-timeout"),
        parsing: .unconditional,
        help: ArgumentHelp("Seconds one request may take.", valueName: "seconds"))
    var acmeTimeout = 15

    @Option(
        name: .customLong("http01-listen"),
        help: ArgumentHelp("In a pod: where the probe's HTTP-01 responder listens (as run's).", valueName: "host:port"))
    var http01Listen = "0.0.0.0:8089"

    @Option(
        name: .customLong("http01-probe-address"),
        help: ArgumentHelp(
            "Connect the HTTP-01 probe here instead of each host's address (an ingress controller's).",
            valueName: "host:port"))
    var http01ProbeAddress: String?

    @Option(
        help: ArgumentHelp(
            "The CronJob's schedule, checked against the shortest renewal window (the chart's test hook passes it).",
            valueName: "cron"))
    var schedule: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...600).contains(acmeTimeout) else {
            throw ValidationError("--acme-timeout must be 1 to 600 seconds (the default is 15)")
        }
    }

    func run() async throws {
        let logger = logging.makeLogger()
        let results: [Preflight.Result]
        var probing = false
        do {
            try cluster.requireSingleCluster()
            let opened = try await cluster.open(logger: logger)
            let (context, issuers, defaultIssuer) = (opened.context, opened.issuers, opened.defaultIssuer)
            let setAside = opened.issuerNotes
            let place = cluster.accountPlace(context)
            var preflight = Preflight(
                store: context.store, scope: context.scope, issuers: issuers, defaultIssuer: defaultIssuer,
                place: place, transport: CurlTransport(userAgent: CertctlVersion.userAgent), client: context.client,
                namespace: context.namespace, resolver: resolver, requestTimeout: .seconds(acmeTimeout),
                logger: logger)
            preflight.issuerNotes = setAside
            preflight.schedule = try schedule.map { try CronSchedule(parsing: $0) }
            let pod = PodEnvironment.read()
            if context.client != nil, let namespace = context.namespace, let name = pod.name {
                let listen = try ListenAddress(parsing: http01Listen)
                preflight.http01Probe = Preflight.HTTP01Probe(
                    pod: IngressSolver.Pod(
                        name: name, namespace: namespace, labels: pod.labels, port: listen.port, ip: pod.ip),
                    listen: listen, address: http01ProbeAddress)
            }
            probing = preflight.http01Probe != nil
            results = await preflight.run { result in
                print(
                    "\(result.outcome.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(result.check.padding(toLength: 12, withPad: " ", startingAt: 0)) \(result.message)"
                )
            }
        } catch {
            throw CertctlExit.report(error)
        }
        let failed = results.filter { $0.outcome == .failed }.count
        let warnings = results.filter { $0.outcome == .warning }.count
        print(
            "\(counted(results.count, "check")): \(results.count - failed - warnings) ok, \(counted(warnings, "warning")), \(failed) failed"
        )
        if !probing {
            print(
                "not checked: the HTTP-01 path through each Ingress to the job (only in the pod, where the solver objects point at it)"
            )
        }
        if failed > 0 { throw CertctlExit.critical }
        if warnings > 0 { throw CertctlExit.renewalFailed }
    }
}
