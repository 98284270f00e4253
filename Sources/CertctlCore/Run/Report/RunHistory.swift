import Basics
public import Foundation
public import Kubernetes
import Transport

/// What runs leave for the runs after them and for the exporter: the counters across runs (what
/// the `_total` metrics export) and when a run last succeeded
/// (`certctl_run_last_success_timestamp_seconds`). Kept apart from the run's lock, so that
/// `serve` reads it without building a lock (README, "Metrics").
public protocol RunHistory: Sendable {
    /// When a run last finished with every certificate valid, if recorded.
    func lastSuccess() async -> Date?
    /// Adds one run's counts to the totals (counts of zero add nothing) and, when it succeeded,
    /// its time; returns the totals, nil when they cannot be read or kept.
    func record(_ counts: [String: Int], succeededAt success: Date?) async -> [String: Int]?
}

/// The history as the ConfigMap `certctl-run-history` in certctl's own namespace (the chart's
/// Role there names it): `data.counters` and `data.last-success`.
public struct ConfigMapRunHistory: RunHistory {
    public let client: KubernetesClient
    public let namespace: String
    public let name: String
    /// The Lease where earlier certctl versions kept the same two values as annotations, read once
    /// while the ConfigMap does not exist, so that the counters go on from there.
    public let formerLease: String

    /// The ConfigMap's name unless told otherwise.
    public static let defaultName = "certctl-run-history"
    static let countersKey = "counters"
    static let successKey = "last-success"

    public init(
        client: KubernetesClient, namespace: String, name: String = ConfigMapRunHistory.defaultName,
        formerLease: String = "certctl-run"
    ) {
        self.client = client
        self.namespace = namespace
        self.name = name
        self.formerLease = formerLease
    }

    public func lastSuccess() async -> Date? {
        guard let values = try? await read() else { return nil }
        return values.data[Self.successKey].flatMap(RenewalRecord.parseDate)
    }

    public func record(_ counts: [String: Int], succeededAt success: Date?) async -> [String: Int]? {
        // The resourceVersion read is the write's precondition: two writers never lose a count.
        for _ in 0..<3 {
            guard let current = try? await read() else { return nil }
            let totals = RunCounters.decode(current.data[Self.countersKey])
            var data: [String: String] = [:]
            if counts.contains(where: { $0.value != 0 }) || current.resourceVersion == nil {
                data[Self.countersKey] = RunCounters.encode(RunCounters.adding(counts, to: totals))
            }
            if let success { data[Self.successKey] = RenewalRecord.format(success) }
            guard !data.isEmpty else { return totals }
            do {
                try await write(data, over: current)
                return RunCounters.decode(data[Self.countersKey] ?? current.data[Self.countersKey])
            } catch let error as KubernetesError where error.isConflict || error.isAlreadyExists {
                continue
            } catch {
                return nil
            }
        }
        return nil
    }

    /// The ConfigMap's data and resourceVersion; without it, what the former Lease kept.
    private func read() async throws -> (data: [String: String], resourceVersion: String?) {
        do {
            let map = try await client.get(ConfigMap.self, namespace: namespace, name: name)
            return (map.data ?? [:], map.metadata.resourceVersion)
        } catch let error as KubernetesError where error.isNotFound {
            var data: [String: String] = [:]
            if let lease = try? await client.get(Lease.self, namespace: namespace, name: formerLease) {
                let annotations = lease.metadata.annotations ?? [:]
                data[Self.countersKey] = annotations["certctl.io/counters"]
                data[Self.successKey] = annotations["certctl.io/last-success"]
            }
            return (data, nil)
        }
    }

    private func write(_ data: [String: String], over current: (data: [String: String], resourceVersion: String?))
        async throws
    {
        guard let version = current.resourceVersion else {
            let metadata = ObjectMeta(
                name: name, namespace: namespace, labels: ["app.kubernetes.io/managed-by": "certctl"])
            _ = try await client.create(ConfigMap(metadata: metadata, data: current.data.merging(data) { $1 }))
            return
        }
        let patch: JSONValue = .object([
            "metadata": .object(["resourceVersion": .string(version)]),
            "data": .object(data.mapValues { .string($0) }),
        ])
        _ = try await client.mergePatch(ConfigMap.self, namespace: namespace, name: name, patch: patch)
    }
}

/// The history as two files in the state directory: `counters.json` and `last-success`.
public struct FileRunHistory: RunHistory {
    public let directory: String

    public init(stateDirectory: String) { directory = stateDirectory }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    public func lastSuccess() async -> Date? {
        AtomicFile.read(path("last-success")).flatMap { RenewalRecord.parseDate(String(decoding: $0, as: UTF8.self)) }
    }

    public func record(_ counts: [String: Int], succeededAt success: Date?) async -> [String: Int]? {
        if let success { try? AtomicFile.write(RenewalRecord.format(success), to: path("last-success"), mode: 0o644) }
        let totals = RunCounters.decode(
            AtomicFile.read(path("counters.json")).map { String(decoding: $0, as: UTF8.self) })
        guard counts.contains(where: { $0.value != 0 }) else { return totals }
        let updated = RunCounters.adding(counts, to: totals)
        do {
            try AtomicFile.createDirectory(directory)
            try AtomicFile.write(RunCounters.encode(updated), to: path("counters.json"), mode: 0o644)
        } catch {
            return nil
        }
        return updated
    }
}

/// The totals as JSON text (`{"rate_limited":3}`), and back.
enum RunCounters {
    /// The totals kept, each held to 0 ... 2^53 (what a metric's float keeps exactly): a
    /// count edited to Int.max, or below zero, never overflows the next run's sum.
    static func decode(_ text: String?) -> [String: Int] {
        guard let text, let value = try? JSONDecoder().decode([String: Int].self, from: Data(text.utf8)) else {
            return [:]
        }
        return value.mapValues { min(max($0, 0), largest) }
    }

    static let largest = 1 << 53

    static func encode(_ totals: [String: Int]) -> String {
        (try? JSONText.encode(totals)) ?? "{}"
    }

    static func adding(_ counts: [String: Int], to totals: [String: Int]) -> [String: Int] {
        totals.merging(counts.filter { $0.value != 0 }) { min($0, largest) &+ min(max($1, 0), largest) }
    }
}
