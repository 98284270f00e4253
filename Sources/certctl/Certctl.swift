import ArgumentParser
import CertctlCore

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif
#if canImport(CMalloc)
    @preconcurrency import CMalloc
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
        // Two malloc arenas, not glibc's eight per core: a run decodes its pages on every core,
        // and each thread's own arena kept its high-water mark; at 10,000 certificates this cut
        // the median peak by about 6 MB with no loss of speed (bench/BASELINE.md).
        #if canImport(CMalloc)
            if getenv("MALLOC_ARENA_MAX") == nil, getenv("GLIBC_TUNABLES") == nil {
                _ = mallopt(M_ARENA_MAX, 2)  // an operator's own setting wins
            }
        #endif
        await main(nil)
    }
}
