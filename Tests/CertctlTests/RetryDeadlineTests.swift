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
        defer { keeper.stop() }
        var iterator = renewals.makeAsyncIterator()
        _ = await iterator.next()
        #expect(deadline.instant > .now + .seconds(30))
        await server.failNext("list", collection: "v1/secrets", status: 429)
        let listed = try await client.list(Secret.self, namespace: "prod")
        #expect(listed.isEmpty, "retried after the 429 and answered")
    }
}
