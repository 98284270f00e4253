import CertctlTestSupport
import Foundation
import Kubernetes
import Logging
import Testing

@testable import CertctlCore

/// A lock that is always renewed, quickly.
struct RenewedLock: RunLock {
    func acquire() async throws -> Bool { true }
    func release() async {}
    func renew() async -> LockRenewal { .renewed }
    var renewalInterval: Duration? { .milliseconds(20) }
    var expiry: Duration? { .seconds(2) }
    func holder() async -> String? { nil }
}

@Suite("The API retry deadline follows the lock")
struct RetryDeadlineTests {
    @Test("past the deadline a 429 is not retried; moved on by a renewal of the lock, it is")
    func followsRenewals() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        var client = fakeClient(server)
        let deadline = RetryDeadline(.now)
        client.deadline = deadline
        await server.failNext("list", collection: "v1/secrets", status: 429)
        await #expect(throws: KubernetesError.self) { _ = try await client.list(Secret.self, namespace: "prod") }

        // The keeper's renewal moves the deadline a term on, as the run wires it.
        let (renewals, renewed) = AsyncStream.makeStream(of: Void.self)
        let keeper = LockKeeper(
            RenewedLock(), logger: Logger(label: "test"), now: { Date() },
            renewed: {
                deadline.extend(to: .now + .seconds(60))
                renewed.yield()
            })
        defer { Task { await keeper.stop() } }
        var iterator = renewals.makeAsyncIterator()
        _ = await iterator.next()
        #expect(deadline.instant > .now + .seconds(30))
        await server.failNext("list", collection: "v1/secrets", status: 429)
        let listed = try await client.list(Secret.self, namespace: "prod")
        #expect(listed.isEmpty, "retried after the 429 and answered")
    }
}

/// A lock another holder takes at its first renewal.
struct TakenLock: RunLock {
    func acquire() async throws -> Bool { true }
    func release() async {}
    func renew() async -> LockRenewal { .takenOver(by: "intruder") }
    var renewalInterval: Duration? { .milliseconds(20) }
    var expiry: Duration? { .seconds(60) }
    func holder() async -> String? { "intruder" }
}

@Suite("No write after the lock is lost")
struct WriteGateTests {
    @Test(
        "held, writes go out; lost, every write is refused before it is sent and reads go on; released, the gate lifts")
    func refusedOnceLost() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let gate = WriteGate()
        var gated = fakeClient(server)
        gated.writeGate = gate
        let client = gated
        let map: @Sendable (String) -> ConfigMap = {
            ConfigMap(metadata: ObjectMeta(name: $0, namespace: "prod"), data: ["k": "v"])
        }
        let writesSent = try await LockKeeper.holding(
            TakenLock(), gate: gate, deadline: nil, logger: Logger(label: "test")
        ) { keeper in
            _ = try await client.create(map("while-held"))
            // The keeper's first renewal finds the lock taken.
            let deadline = ContinuousClock.now + .seconds(20)
            while keeper.lostReason() == nil, ContinuousClock.now < deadline { await Task.yield() }
            #expect(keeper.lostReason() == "taken over by intruder")
            let before = await server.requestCounts
            for write in [
                { _ = try await client.create(map("after-loss")) },
                { _ = try await client.update(map("while-held")) },
                { try await client.delete(ConfigMap.self, namespace: "prod", name: "while-held") },
            ] as [() async throws -> Void] {
                do {
                    try await write()
                    Issue.record("a write went out after the lock was lost")
                } catch let error as KubernetesError {
                    #expect(error.code == .writeRefused && error.reason.contains("taken over by intruder"))
                }
            }
            _ = try await client.get(ConfigMap.self, namespace: "prod", name: "while-held")
            let after = await server.requestCounts
            #expect(after["create"] == before["create"] && after["update"] == before["update"])
            #expect(after["delete"] == before["delete"] && after["get"] == (before["get"] ?? 0) + 1)
            return true
        }
        #expect(writesSent == true)
        // Released: the gate no longer asks (a later command's writes go out).
        _ = try await client.create(map("after-release"))
        await #expect(throws: KubernetesError.self) {
            _ = try await client.get(ConfigMap.self, namespace: "prod", name: "after-loss")
        }
    }
}
