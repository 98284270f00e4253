import ArgumentParser
import CertctlCore
import Foundation
import Kubernetes
import Transport

struct RenewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Mark certificates for re-issue by the next run (or this one, with --now).",
        discussion:
            "The mark is the annotation certctl.io/renew-requested on the Secret; a successful issuance clears it."
    )

    @Argument(help: "The Secret to renew: NAME (in the one namespace of -n, or the context's) or NAMESPACE/NAME.")
    var secret: String?

    @Flag(help: "Every managed certificate in scope.")
    var all = false

    @Flag(help: "Run now and re-issue at once.")
    var now = false

    @OptionGroup var cluster: ClusterOptions

    @Option(
        name: .customLong("http01-listen"),
        help: ArgumentHelp("Where the HTTP-01 responder listens (with --now).", valueName: "host:port"))
    var http01Listen = "0.0.0.0:8089"

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (secret != nil) != all else {
            throw ValidationError("name one Secret or pass --all")
        }
    }

    func run() async throws {
        let logger = logging.makeLogger()
        let code: Int32
        do {
            // Read to name what is asked for; the marks are stored by the run, under its lock.
            let inventory = try await cluster.inventory(logger: logger).inventory
            var chosen = inventory.entries
            if let secret {
                chosen = try inventory.entries(named: secret)
                guard !chosen.isEmpty else {
                    throw CertctlError(
                        .invalidArgument,
                        object: "Secret \(secret)",
                        "is not a certificate certctl manages in \(inventory.cluster); see certctl discover"
                    )
                }
            }
            let request = RenewalRequest(certificates: Set(chosen.map(\.desired.id)), issueNow: now)
            code = try await RunCommand.execute(
                request, cluster: cluster, http01Listen: http01Listen, selfCheckPasses: 5,
                printing: now ? .marksAndSummary : .marks, logger: logger)
        } catch {
            throw CertctlExit.report(error)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
