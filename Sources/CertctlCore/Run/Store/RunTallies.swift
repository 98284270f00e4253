import ACME
public import Kubernetes
import Synchronization

/// The entries as the store stage left them, gathered across concurrent issuances.
final class StoredEntries: Sendable {
    private let stored = Mutex<[String: Inventory.Entry]>([:])

    func add(_ entry: Inventory.Entry) { stored.withLock { $0[entry.desired.id] = entry } }
    var entries: [String: Inventory.Entry] { stored.withLock { $0 } }
}

/// Counts the run's requests to the API server by verb and answer, and those sent again by why.
public final class KubernetesTally: Sendable {
    private let counts = Mutex<(requests: [CertificateMetrics.RequestKey: Int], retries: [String: Int])>(([:], [:]))

    public init() {}

    /// Counts on `client`'s answers and retries, besides what it already tells.
    public func watch(_ client: inout KubernetesClient) {
        let (observer, onRetry) = (client.observer, client.onRetry)
        client.observer = { [self] verb, status in
            let key = CertificateMetrics.RequestKey(action: verb, status: status.map(String.init) ?? "error")
            counts.withLock { $0.requests[key, default: 0] += 1 }
            observer?(verb, status)
        }
        client.onRetry = { [self] event in
            counts.withLock { $0.retries[event.reason.rawValue, default: 0] += 1 }
            onRetry?(event)
        }
    }

    var requests: [CertificateMetrics.RequestKey: Int] { counts.withLock { $0.requests } }
    var retries: [String: Int] { counts.withLock { $0.retries } }
}

/// Counts ACME requests across concurrent issuances, by action and status.
final class RequestTally: Sendable {
    private let counts = Mutex<[CertificateMetrics.RequestKey: Int]>([:])

    func add(_ record: ACMERequestRecord) {
        let key = CertificateMetrics.RequestKey(
            action: record.action, status: record.status.map(String.init) ?? "error")
        counts.withLock { $0[key, default: 0] += 1 }
    }

    var value: Int { counts.withLock { $0.values.reduce(0, +) } }
    var byAction: [CertificateMetrics.RequestKey: Int] { counts.withLock { $0 } }
}
