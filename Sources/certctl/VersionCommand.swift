import ArgumentParser
import CertctlCore

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "The version and the git commit certctl was built from.")

    /// "0.1.0 (commit 1a2b3c4d5e6f)": `--version` and `certctl version` print the same.
    static var text: String { "\(CertctlVersion.current) (commit \(GitCommit.id))" }

    func run() {
        print("certctl \(Self.text)")
    }
}
