import ArgumentParser
import CertctlCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "One table of every certificate, most urgent first; exit code 0 ok, 1 warning, 2 critical.",
        discussion: """
            States: Expired, Missing, Invalid, Expiring (under a tenth of its lifetime left), Failing \
            (the last renewal failed), Due, Renewing (renewal requested), Ready.
            """
    )

    @Argument(help: "One Secret to show in full.")
    var secret: String?

    @OptionGroup var cluster: ClusterOptions

    @Option(name: [.customShort("o"), .customLong("output")], help: "table, wide or json")
    var output = "table"

    @Flag(help: "Connect to each host (SNI) and compare the certificate it serves with the Secret's.")
    var probe = false

    @Option(name: .customLong("probe-port"), help: "The port --probe connects to.")
    var probePort = 443

    @Option(
        name: .customLong("probe-address"),
        help: ArgumentHelp("Connect --probe here instead of resolving each host.", valueName: "address"))
    var probeAddress: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard ["table", "wide", "json"].contains(output) else {
            throw ValidationError("-o \(output): use table, wide or json")
        }
    }

    func run() async throws {
        let logger = logging.makeLogger()
        let worst: Int32
        do {
            let (issuers, defaultIssuer) = try cluster.loadIssuers()
            // One view over every cluster asked for (a federation), or the one chosen.
            let names: [String?] = cluster.contexts.count > 1 ? cluster.contexts : [cluster.context]
            var inventories: [Inventory] = []
            for name in names {
                let context = try cluster.makeContext(logger: logger, contextName: name)
                inventories.append(
                    try await Inventory.load(
                        from: context.store, scope: context.scope, issuers: issuers,
                        defaultIssuer: defaultIssuer)
                )
            }
            let now = Date()
            var statuses = CertificateStatus.merged(
                inventories.map { CertificateStatus.all(in: $0, issuers: issuers, now: now) }, now: now)
            if probe {
                statuses = await ServedCertificateProbe.check(statuses, port: probePort, address: probeAddress)
                statuses = CertificateStatus.merged([statuses], now: now)
            }
            if let secret {
                statuses = statuses.filter { $0.desired.secretName == secret }
                guard !statuses.isEmpty else {
                    throw CertctlError(
                        .invalidArgument, object: "Secret \(secret)",
                        "is not a certificate certctl manages in \(inventories.map { $0.cluster }.joined(separator: ", ")); see certctl discover"
                    )
                }
                print(statuses.map { StatusTable.detail($0, now: now) }.joined(separator: "\n"), terminator: "")
            } else if output == "json" {
                print(try StatusTable.json(statuses, now: now), terminator: "")
            } else {
                let colour = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
                let style = StatusTable.Style(
                    colour: colour, wide: output == "wide", showCluster: inventories.count > 1)
                print(StatusTable.render(statuses, now: now, style: style), terminator: "")
                for inventory in inventories {
                    for problem in inventory.problems { print("problem  \(inventory.cluster): \(problem)") }
                }
            }
            worst = statuses.map(\.state.severity).max() ?? 0
        } catch {
            throw CertctlExit.report(error)
        }
        if worst != 0 { throw ExitCode(worst) }
    }
}
