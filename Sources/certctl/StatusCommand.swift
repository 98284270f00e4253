import ArgumentParser
import Basics
import CertctlCore
import Foundation
import Kubernetes
import Logging

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "One table of every certificate, most urgent first; exit code 0 ok, 1 warning, 2 critical.",
        discussion: """
            States: Expired, Missing, Invalid, Expiring (under a tenth of its lifetime left), Failing \
            (the last renewal failed), Due, Renewing (renewal requested), Ready. The table fits the \
            terminal (COLUMNS, 100 when not a terminal); certctl status SECRET explains one \
            certificate in full: what the next run does with it, by which rule, and the last error. \
            Exit code 2 also when a cluster cannot be reached (the others are still shown).
            """
    )

    @Argument(help: "One Secret to explain in full.")
    var secret: String?

    @OptionGroup var cluster: ClusterOptions

    @Option(
        name: [.customShort("o"), .customLong("output")], help: "table, wide or json",
        completion: .list(["table", "wide", "json"]))
    var output = "table"

    @Flag(help: "Connect to each host (SNI) and compare the certificate it serves with the Secret's.")
    var probe = false

    @Option(
        name: .customLong("probe-port"), parsing: .unconditional, help: "The port --probe connects to.")
    var probePort = 443

    @Option(
        name: .customLong("probe-address"),
        help: ArgumentHelp("Connect --probe here instead of resolving each host.", valueName: "address"))
    var probeAddress: String?

    @Flag(name: [.customShort("w"), .customLong("watch")], help: "Read and redraw every --interval seconds.")
    var watch = false

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Seconds between redraws of --watch.", valueName: "seconds"))
    var interval = 5

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard ["table", "wide", "json"].contains(output) else {
            throw ValidationError("-o \(output): use table, wide or json")
        }
        guard (1...65535).contains(probePort) else {
            throw ValidationError("--probe-port must be 1 to 65535 (the default is 443)")
        }
        guard (1...3600).contains(interval) else {
            throw ValidationError("--interval must be 1 to 3600 seconds (the default is 5)")
        }
    }

    func run() async throws {
        let logger = logging.makeLogger()
        var worst: Int32 = 0
        do {
            // One view over every cluster asked for (a federation), or the one chosen. A
            // cluster's configuration is checked before any is read.
            let names: [String?] = cluster.contexts.count > 1 ? cluster.contexts : [cluster.context]
            let contexts = try names.map { try cluster.makeContext(logger: logger, contextName: $0) }
            if cluster.issuersFromCluster, contexts.count > 1 {
                throw CertctlError(
                    .invalidArgument, object: "--issuers-from-cluster",
                    "reads one cluster's issuers; with several --context give the issuers as files (--issuers)")
            }
            let (issuers, defaultIssuer, _) = try await cluster.loadIssuers(contexts[0], logger: logger)
            repeat {
                let text: String
                (text, worst) = try await draw(contexts, issuers: issuers, defaultIssuer: defaultIssuer)
                if watch {
                    // A terminal is redrawn in place; a pipe gets one table after another.
                    print(Terminal.isTerminal ? "\u{1B}[H\u{1B}[2J" + text : text + "\n", terminator: "")
                    try await Task.sleep(for: .seconds(interval))
                } else {
                    print(text, terminator: "")
                }
            } while watch
        } catch is CancellationError {
            return
        } catch {
            throw CertctlExit.report(error)
        }
        if worst != 0 { throw ExitCode(worst) }
    }

    /// One reading of every cluster: the text to show and the exit code.
    private func draw(_ contexts: [ClusterOptions.Context], issuers: [IssuerKey: Issuer], defaultIssuer: String?)
        async throws -> (String, Int32)
    {
        let (inventories, ledgers, unreachable, warnings) = try await read(
            contexts, issuers: issuers, defaultIssuer: defaultIssuer)
        let now = Date()
        var overview = Overview(inventories, issuers: issuers, ledgers: ledgers, now: now)
        if probe {
            overview.certificates = CertificateStatus.merged(
                [await ServedCertificateProbe.check(overview.certificates, port: probePort, address: probeAddress)],
                now: now)
        }
        var text = ""
        if let secret {
            let matching = overview.certificates.filter { $0.desired.secretName == secret }
            guard !matching.isEmpty || !unreachable.isEmpty else {
                throw CertctlError(
                    .invalidArgument, object: "Secret \(secret)",
                    "is not a certificate certctl manages in \(inventories.map(\.cluster).joined(separator: ", ")) (\(contexts.first.map { describe($0.scope) } ?? "")); see certctl discover, or pass -n NAMESPACE"
                )
            }
            overview.certificates = matching
            // -o json: the same objects as the full list, this Secret's only (its problems too).
            overview.problems = overview.problems.filter { $0.problem.object.hasSuffix("/\(secret)") }
            text =
                output == "json"
                ? try StatusTable.json(overview, now: now)
                : matching.map { StatusTable.detail($0, now: now, columns: Terminal.width) }.joined(separator: "\n")
        } else if output == "json" {
            text = try StatusTable.json(overview, now: now)
        } else {
            let style = StatusTable.Style(
                colour: Terminal.colour, wide: output == "wide", showCluster: contexts.count > 1,
                width: Terminal.width)
            text = StatusTable.render(overview, now: now, style: style)
        }
        text += notes(errors: unreachable, warnings: warnings)
        var worst = overview.certificates.map(\.state.severity).max() ?? 0
        if !overview.problems.isEmpty { worst = max(worst, 1) }
        if !unreachable.isEmpty { worst = 2 }
        return (text, worst)
    }

    /// Every cluster's inventory and ledgers; a cluster that cannot be read is named, and
    /// with several clusters the others are still shown.
    private func read(_ contexts: [ClusterOptions.Context], issuers: [IssuerKey: Issuer], defaultIssuer: String?)
        async throws -> (
            inventories: [Inventory], ledgers: [String: [IssuerKey: RateLedger]], unreachable: [String],
            warnings: [String]
        )
    {
        var inventories: [Inventory] = []
        var ledgers: [String: [IssuerKey: RateLedger]] = [:]
        var unreachable: [String] = []
        var warnings: [String] = []
        for context in contexts {
            do {
                let inventory = try await Inventory.load(
                    from: context.store, scope: context.scope, issuers: issuers, defaultIssuer: defaultIssuer)
                inventories.append(inventory)
                // What the CA's limits hold back, from the accounts' ledgers.
                let (read, notes) = await RateLedgers.read(
                    issuers: issuers, from: cluster.accountPlace(context).ledgers, now: Date())
                ledgers[inventory.cluster] = read
                warnings += notes
            } catch let error as KubernetesError where contexts.count > 1 || error.isUnreachable {
                // One cluster down does not hide the others; it is critical (nobody sees its certificates).
                unreachable.append("cluster \(context.store.name) cannot be read: \(error.description)")
            }
        }
        return (inventories, ledgers, unreachable, warnings)
    }

    /// The lines under the table (on standard error with `-o json`).
    private func notes(errors: [String], warnings: [String]) -> String {
        let lines = errors.map { ("error", $0) } + warnings.map { ("warning", $0) }
        guard output != "json" else {
            for (level, line) in lines { FileHandleStandardError.write("certctl: \(level): \(line)\n") }
            return ""
        }
        return lines.map { level, line in level.padding(toLength: 9, withPad: " ", startingAt: 0) + line + "\n" }
            .joined()
    }

    private func describe(_ scope: NamespaceScope) -> String {
        switch scope {
        case .all: "all namespaces"
        case .only(let namespaces):
            "\(namespaces.count == 1 ? "namespace" : "namespaces") \(namespaces.joined(separator: ", "))"
        }
    }
}
