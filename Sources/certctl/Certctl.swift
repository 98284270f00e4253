import ArgumentParser
import CertctlCore

@main
struct Certctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certctl",
        abstract: "Obtain, renew and watch the TLS certificates of a Kubernetes deployment over ACME.",
        version: CertctlVersion.current,
        subcommands: [
            RunCommand.self, StatusCommand.self, ServeCommand.self, NotifyCommand.self, RenewCommand.self,
            DiscoverCommand.self,
            IssueCommand.self, DNSPersistRecordCommand.self,
        ]
    )
}
