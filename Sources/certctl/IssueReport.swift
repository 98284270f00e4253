import Basics
import CertctlCore
import Certificates
import Foundation
import Transport

enum IssueReport {
    static func render(_ outcome: IssueWorkflow.Outcome, requests: Int, elapsed: Duration) -> String {
        let days = outcome.summary.lifetime / 86_400
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return """
            issued   \(outcome.names.joined(separator: ", ")) from \(outcome.issuer)
            serial   \(outcome.summary.serialHex) (\(outcome.summary.keyType?.rawValue ?? "unknown key"), chain of \(outcome.chainLength))
            valid    \(Timestamp.rfc3339(outcome.summary.notBefore)) to \(Timestamp.rfc3339(outcome.summary.notAfter)) (\(String(format: "%.1f", days)) days)
            wrote    \(outcome.certificatePath), \(outcome.keyPath) (0600)
            took     \(String(format: "%.2f", seconds)) s, \(requests) ACME requests
            """
    }
}
