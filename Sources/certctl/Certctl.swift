import ArgumentParser
import CertctlCore

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

@main
struct Certctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certctl",
        abstract: "Obtain, renew and watch the TLS certificates of a Kubernetes deployment over ACME.",
        version: VersionCommand.text,
        subcommands: [
            RunCommand.self, StatusCommand.self, ServeCommand.self, NotifyCommand.self, RenewCommand.self,
            RevokeCommand.self, PruneCommand.self,
            DiscoverCommand.self,
            CheckCommand.self, MigrateCommand.self, IssueCommand.self, DNSPersistRecordCommand.self,
            CAARecordCommand.self,
            AccountCommand.self, VersionCommand.self,
        ]
    )

    /// Standard output line by line even into a pipe or a file (`kubectl logs`, CI): each line
    /// as it is written, not a block when the process ends.
    static func main() async {
        setvbuf(stdout, nil, _IOLBF, 0)
        await main(nil)
    }
}
