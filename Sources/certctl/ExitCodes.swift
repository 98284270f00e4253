import ACME
import ArgumentParser
import CertctlCore
import Kubernetes

/// The exit codes of the README (`certctl run`, step 8): 0 fine, 1 a renewal failed, 2 critical, 64+ usage and configuration.
enum CertctlExit {
    static let renewalFailed = ExitCode(1)
    static let critical = ExitCode(2)
    static let configuration = ExitCode(64)

    /// Prints `error` for the operator and returns the exit code it maps to.
    static func report(_ error: any Error) -> ExitCode {
        let message: String
        let code: ExitCode
        switch error {
        case let error as CertctlError:
            message = error.description
            code = error.isConfigurationError ? configuration : renewalFailed
        case let error as KubernetesError:
            message = error.description
            code = error.code == .configuration || error.code == .credentials ? configuration : renewalFailed
        case let error as ACMEError:
            message = error.description
            code = error.code == .invalidConfiguration ? configuration : renewalFailed
        default:
            message = "\(error)"
            code = renewalFailed
        }
        var standardError = StandardError()
        print("certctl: error: \(message)", to: &standardError)
        return code
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleStandardError.write(string)
    }
}
