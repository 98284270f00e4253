import ACME
import ArgumentParser
import Basics
import CertctlCore
import Kubernetes

/// The exit codes of the README (`certctl run`, step 8): 0 fine, 1 a renewal failed, 2 critical, 64+ usage and configuration.
enum CertctlExit {
    static let renewalFailed = ExitCode(1)
    static let critical = ExitCode(2)
    static let configuration = ExitCode(64)

    /// Prints `error` for the operator and returns the exit code it maps to.
    static func report(_ error: any Error) -> ExitCode {
        var standardError = StandardError()
        print("certctl: error: \(error)", to: &standardError)
        guard let reported = error as? any ReportedError else { return renewalFailed }
        return reported.isConfigurationError ? configuration : renewalFailed
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleStandardError.write(string)
    }
}
