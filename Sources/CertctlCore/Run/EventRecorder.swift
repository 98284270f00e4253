import Foundation
public import Kubernetes
public import Logging
import Transport

/// Kubernetes Events (`events.k8s.io/v1`) on the Ingresses of a certificate: issued, renewed,
/// failed with the CA's problem. Best effort: a failed Event never fails the run.
public struct EventRecorder: Sendable {
    public let client: KubernetesClient
    public let instance: String
    public let logger: Logger

    public init(client: KubernetesClient, instance: String, logger: Logger) {
        self.client = client
        self.instance = instance
        self.logger = logger
    }

    public func record(_ desired: DesiredCertificate, warning: Bool, reason: String, note: String) async {
        for ingress in desired.ingresses {
            let event = Event(
                metadata: ObjectMeta(
                    name: "\(ingress).\(UInt64.random(in: 0...UInt64.max) & 0xffff_ffff_ffff)",
                    namespace: desired.namespace),
                eventTime: Timestamp.rfc3339(Date(), milliseconds: true),
                reportingController: "certctl.io/certctl",
                reportingInstance: instance,
                action: "Issue",
                reason: reason,
                regarding: .init(
                    apiVersion: Ingress.apiVersion, kind: Ingress.kind, name: ingress, namespace: desired.namespace,
                    uid: nil),
                note: String("\(desired.secretName): \(note)".prefix(1024)),
                type: warning ? "Warning" : "Normal"
            )
            do {
                _ = try await client.create(event)
            } catch {
                logger.debug(
                    "cannot record an Event",
                    metadata: ["ingress": "\(desired.namespace)/\(ingress)", "error": "\(error)"])
            }
        }
    }
}
