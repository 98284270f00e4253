import ACME
import Foundation
import Kubernetes

extension Preflight {
    /// What the probe needs: the pod (as the solver Service selects it), where the responder
    /// listens, and optionally where to connect instead of each host (a test, an internal address).
    public struct HTTP01Probe: Sendable {
        public var pod: IngressSolver.Pod
        public var listen: ListenAddress
        public var address: String?

        public init(pod: IngressSolver.Pod, listen: ListenAddress, address: String?) {
            self.pod = pod
            self.listen = listen
            self.address = address
        }
    }

    /// For every HTTP-01 host: a probe token answered by this pod's responder, published the way
    /// a run publishes a challenge (the solver Service and Ingress, or HTTPRoute), fetched through
    /// the host (`http://HOST/.well-known/acme-challenge/TOKEN`), then removed.
    func probe(_ inventory: Inventory, client: KubernetesClient, with probe: HTTP01Probe) async -> [Result] {
        let setup = HTTP01Setup(
            listen: probe.listen, route: .cluster(client: client, pod: probe.pod, selfCheckPasses: 1),
            selfCheckAddress: probe.address, transport: transport, logger: logger)
        let session: HTTP01Session
        do {
            session = try await setup.start()
        } catch {
            return [Result(.failed, "HTTP-01", "cannot start the responder: \(error)")]
        }
        var results: [Result] = []
        var seen = Set<String>()
        for entry in inventory.entries {
            let desired = entry.desired
            guard let issuer = issuers[desired.issuerKey] else { continue }
            for host in desired.hosts where !seen.contains(host) {
                guard let settings = issuer.solver(for: host, labels: desired.labels)?.http01 else { continue }
                seen.insert(host)
                let solver = session.solver(for: desired, settings: settings)
                let token = "certctl-probe-" + UUID().uuidString.lowercased()
                do {
                    try await solver.present(identifier: .dns(host), token: token, keyAuthorization: token + ".probe")
                    let path = settings.gatewayHTTPRoute == nil ? "the Ingress" : "an HTTPRoute"
                    results.append(Result(.ok, "HTTP-01", "\(host): the probe token came back through \(path)"))
                } catch {
                    results.append(Result(.failed, "HTTP-01", "\(host): \(error)"))
                }
                await solver.cleanUp(identifier: .dns(host), token: token)
            }
        }
        await session.stop()
        return results
    }

    /// Whether the cluster serves the Gateway API, how many certificates its objects ask for,
    /// and what of it could not be read.
    func gatewayAPI(_ inventory: Inventory) -> [Result] {
        guard inventory.servesGatewayAPI else {
            return [Result(.ok, "Gateway API", "not served by this cluster: no Gateways to manage")]
        }
        let count = inventory.entries.filter { $0.desired.sources.contains { $0.kind != .ingress } }.count
        return [Result(.ok, "Gateway API", "served: \(counted(count, "certificate")) from Gateways and ListenerSets")]
            + inventory.notes.map { Result(.warning, "Gateway API", $0) }
    }
}
