import Certificates
import Foundation
public import Kubernetes
import Logging

/// Kubernetes Events (`events.k8s.io/v1`) on the objects that ask for a certificate (its
/// Ingresses, Gateways, ListenerSets, each in its own namespace): issued, renewed,
/// failed with the CA's problem. A failed Event never fails the run, but it is a warning of the
/// run (logged once, in the summary), never a silent debug line.
public struct EventRecorder: Sendable {
    public let client: KubernetesClient
    public let instance: String
    public let warnings: RunWarnings

    /// The API server's limits (`k8s.io/api` validation): note 1 kB, reportingInstance 128 bytes.
    static let noteLimit = 1024
    static let instanceLimit = 128

    public init(client: KubernetesClient, instance: String, warnings: RunWarnings) {
        self.client = client
        self.instance = instance
        self.warnings = warnings
    }

    /// At most `limit` bytes of UTF-8, never cutting a character.
    static func prefix(_ text: String, bytes limit: Int) -> String {
        var result = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            guard used + size <= limit else { break }
            result.append(character)
            used += size
        }
        return result
    }

    /// The Event of a certificate the store stage stored or failed: Issued or Renewed (when it
    /// `replaced` one), Failed with its kind and next attempt; nothing for the others.
    func record(_ report: CertificateReport, replaced: Bool) async {
        let desired = report.desired
        switch report.outcome {
        case .issued:
            let until = report.summary.map { " valid until \(RenewalRecord.format($0.notAfter))" } ?? ""
            await record(
                desired, warning: false, reason: replaced ? "Renewed" : "Issued",
                note:
                    "certificate for \(desired.hosts.joined(separator: ", "))\(until) (\(report.action.reason.rawValue))"
            )
        case .failed(let failure, _):
            await record(
                desired, warning: true, reason: "Failed",
                note:
                    "\(failure); next attempt \(report.nextAttempt.map(RenewalRecord.format) ?? "at the next run")"
            )
        default:
            return
        }
    }

    public func record(_ desired: DesiredCertificate, warning: Bool, reason: String, note: String) async {
        for source in desired.sources {
            let apiVersion =
                switch source.kind {
                case .ingress: Ingress.apiVersion
                case .gateway: Gateway.apiVersion
                case .listenerSet: ListenerSet.apiVersion
                }
            let event = Event(
                metadata: ObjectMeta(
                    name: ObjectName.bounded(
                        "",
                        "\(source.name).\(String(UInt64.random(in: 0...UInt64.max) & 0xffff_ffff_ffff, radix: 16))"),
                    namespace: source.namespace),
                eventTime: MicroTime(Date()),
                reportingController: "certctl.io/certctl",
                reportingInstance: Self.prefix(instance, bytes: Self.instanceLimit),
                action: "Issue",
                reason: reason,
                regarding: .init(
                    apiVersion: apiVersion, kind: source.kind.rawValue, name: source.name,
                    namespace: source.namespace, uid: nil),
                // The Secret's namespace is named where it is not the object's own.
                note: Self.prefix(
                    "\(source.namespace == desired.namespace ? desired.secretName : desired.id): \(note)",
                    bytes: Self.noteLimit),
                type: warning ? "Warning" : "Normal"
            )
            do {
                _ = try await client.create(event)
            } catch {
                warnings.add(
                    "event", "cannot record Events (first refused: \(source)): \(error)",
                    metadata: ["object": "\(source)"])
            }
        }
    }
}
