import ArgumentParser
import CertctlCore
import Foundation

struct DiscoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discover",
        abstract: "List the certificates certctl would manage: one per spec.tls[] of each managed Ingress.",
        discussion: """
            An Ingress is managed when it has kubernetes.io/tls-acme: "true" (the default issuer), \
            cert-manager.io/cluster-issuer or cert-manager.io/issuer. Problems with single objects \
            are listed after the table; the exit code is 1 when there are any, as for run and status.
            """
    )

    @OptionGroup var cluster: ClusterOptions

    @Option(
        name: [.customShort("o"), .customLong("output")], help: "table or json", completion: .list(["table", "json"]))
    var output = "table"

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard ["table", "json"].contains(output) else {
            throw ValidationError("-o \(output): use table or json")
        }
    }

    func run() async throws {
        let logger = logging.makeLogger()
        do {
            try cluster.requireSingleCluster()
            let opened = try await cluster.open(logger: logger)
            let (issuers, inventory) = (opened.issuers, try await opened.inventory())
            print(
                output == "json"
                    ? try DiscoverReport.json(inventory, issuers: issuers)
                    : DiscoverReport.table(inventory, issuers: issuers), terminator: "")
            // The same code as run and status give a misconfigured object: 1, a warning.
            if !inventory.problems.isEmpty {
                throw CertctlExit.renewalFailed
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw CertctlExit.report(error)
        }
    }
}
