import Basics
import CertctlCore
import CertctlTestSupport
import Foundation
import Kubernetes
import Testing
import Transport

@Suite("The run history: counters across runs and the last success, apart from the lock")
struct RunHistoryTests {
    let moment = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("a ConfigMap keeps the totals and the last success; the Lease is not touched")
    func configMap() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        let history = ConfigMapRunHistory(client: client, namespace: "prod")
        #expect(await history.lastSuccess() == nil)

        #expect(await history.record(["issued": 2, "failed": 0], succeededAt: moment) == ["issued": 2])
        #expect(await history.record(["issued": 1, "failed": 1], succeededAt: nil) == ["issued": 3, "failed": 1])
        #expect(await history.record([:], succeededAt: nil) == ["issued": 3, "failed": 1], "nothing to add: no write")
        #expect(await history.lastSuccess() == moment, "a failed run leaves the last success standing")

        let later = moment.addingTimeInterval(3600)
        #expect(await history.record([:], succeededAt: later) == ["issued": 3, "failed": 1])
        #expect(await history.lastSuccess() == later)

        let map = try await client.get(ConfigMap.self, namespace: "prod", name: "certctl-run-history")
        #expect(map.data?["counters"] == #"{"failed":1,"issued":3}"#)
        await #expect(throws: KubernetesError.self) {
            _ = try await client.get(Lease.self, namespace: "prod", name: "certctl-run")
        }
    }

    @Test("two runs adding at once lose neither count (the resourceVersion precondition)")
    func concurrent() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let history = ConfigMapRunHistory(client: fakeClient(server), namespace: "prod")
        _ = await history.record(["issued": 1], succeededAt: nil)
        async let first = history.record(["issued": 1], succeededAt: nil)
        async let second = history.record(["issued": 1], succeededAt: nil)
        let answers = await [first, second]
        #expect(answers.allSatisfy { $0 != nil }, "\(answers)")
        #expect(await history.record([:], succeededAt: nil) == ["issued": 3])
    }

    @Test("the counters and last success an earlier version kept on the Lease carry over once")
    func fromLease() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        let annotations = ["certctl.io/counters": #"{"issued":40}"#, "certctl.io/last-success": "2027-01-15T08:00:00Z"]
        _ = try await client.create(
            Lease(
                metadata: ObjectMeta(name: "certctl-run", namespace: "prod", annotations: annotations),
                spec: .init(holderIdentity: nil, leaseDurationSeconds: 900, acquireTime: nil, renewTime: nil)))
        let history = ConfigMapRunHistory(client: client, namespace: "prod")
        let january = moment  // 2027-01-15T08:00:00Z
        #expect(await history.lastSuccess() == january)
        #expect(await history.record(["issued": 2], succeededAt: nil) == ["issued": 42])
        #expect(await history.lastSuccess() == january, "carried into the ConfigMap")
        // From now on the ConfigMap is what counts, whatever the Lease says.
        _ = try await client.mergePatch(
            Lease.self, namespace: "prod", name: "certctl-run",
            patch: .object(["metadata": .object(["annotations": .object(["certctl.io/counters": .null])])]))
        #expect(await history.record(["issued": 1], succeededAt: nil) == ["issued": 43])
    }

    @Test("the state directory keeps them locally")
    func file() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let history = FileRunHistory(stateDirectory: folder)
        #expect(await history.lastSuccess() == nil)
        #expect(await history.record(["issued": 2], succeededAt: moment) == ["issued": 2])
        #expect(await history.record(["issued": 1], succeededAt: nil) == ["issued": 3])
        #expect(await FileRunHistory(stateDirectory: folder).lastSuccess() == moment)
    }
}
