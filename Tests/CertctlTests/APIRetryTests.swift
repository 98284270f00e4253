import Basics
import CertctlTestSupport
import Foundation
import Kubernetes
import Synchronization
import Testing
import Transport

@Suite("The API client's retries: what is sent again, how often, after how long")
struct APIRetryRuleTests {
    typealias Outcome = RequestRetry.Outcome
    let rules = RequestRetry()

    struct Case: CustomTestStringConvertible, Sendable {
        var outcome: Outcome
        var safety: RequestRetry.Safety
        var attempt = 1
        var expected: RequestRetry.Decision
        var testDescription: String { "\(outcome) \(safety.rawValue) attempt \(attempt)" }
    }

    static let cases: [Case] = [
        // The server did not act: any verb, after the time it asks (at least 1 s, at most 30 s).
        Case(outcome: .answered(status: 429, retryAfter: "1"), safety: .unsafe, expected: .retry(after: 1, .throttled)),
        Case(outcome: .answered(status: 429, retryAfter: "0"), safety: .create, expected: .retry(after: 1, .throttled)),
        Case(
            outcome: .answered(status: 429, retryAfter: "600"), safety: .read, expected: .retry(after: 30, .throttled)),
        Case(outcome: .answered(status: 429, retryAfter: nil), safety: .read, expected: .retry(after: 0.5, .throttled)),
        Case(
            outcome: .answered(status: 503, retryAfter: "2"), safety: .unsafe, expected: .retry(after: 2, .unavailable)),
        // A 5xx without Retry-After may have acted: sent again only when that is safe.
        Case(
            outcome: .answered(status: 500, retryAfter: nil), safety: .read, expected: .retry(after: 0.5, .unavailable)),
        Case(
            outcome: .answered(status: 504, retryAfter: nil), safety: .create, attempt: 2,
            expected: .retry(after: 1, .unavailable)),
        Case(outcome: .answered(status: 500, retryAfter: nil), safety: .unsafe, expected: .stop),
        // Refusals stand.
        Case(outcome: .answered(status: 409, retryAfter: nil), safety: .preconditioned, expected: .stop),
        Case(outcome: .answered(status: 404, retryAfter: nil), safety: .read, expected: .stop),
        Case(outcome: .answered(status: 403, retryAfter: "1"), safety: .read, expected: .stop),
        Case(outcome: .answered(status: 422, retryAfter: nil), safety: .create, expected: .stop),
        // Nothing sent: any verb, with back-off doubling to 8 s.
        Case(outcome: .notConnected, safety: .unsafe, expected: .retry(after: 0.5, .unreachable)),
        Case(outcome: .notConnected, safety: .read, attempt: 3, expected: .retry(after: 2, .unreachable)),
        Case(outcome: .notConnected, safety: .read, attempt: 6, expected: .retry(after: 8, .unreachable)),
        // Sent, no answer: only where sending again is safe.
        Case(outcome: .noAnswer, safety: .read, expected: .retry(after: 0.5, .noAnswer)),
        Case(outcome: .noAnswer, safety: .create, expected: .retry(after: 0.5, .noAnswer)),
        Case(outcome: .noAnswer, safety: .preconditioned, expected: .retry(after: 0.5, .noAnswer)),
        Case(outcome: .noAnswer, safety: .idempotent, expected: .retry(after: 0.5, .noAnswer)),
        Case(outcome: .noAnswer, safety: .delete, expected: .retry(after: 0.5, .noAnswer)),
        Case(outcome: .noAnswer, safety: .unsafe, expected: .stop),
        // Bounded: the eighth attempt is the last.
        Case(
            outcome: .answered(status: 429, retryAfter: "1"), safety: .read, attempt: 7,
            expected: .retry(after: 1, .throttled)),
        Case(outcome: .answered(status: 429, retryAfter: "1"), safety: .read, attempt: 8, expected: .stop),
        Case(outcome: .notConnected, safety: .read, attempt: 8, expected: .stop),
    ]

    @Test("each outcome and verb", arguments: cases)
    func decide(_ testCase: Case) {
        #expect(rules.decide(testCase.outcome, safety: testCase.safety, attempt: testCase.attempt) == testCase.expected)
    }

    @Test("a Retry-After date is followed to that instant, within the bounds")
    func retryAfterDate() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let inFive = "Fri, 15 Jan 2027 08:00:05 GMT"
        #expect(
            rules.decide(.answered(status: 429, retryAfter: inFive), safety: .read, attempt: 1, now: now)
                == .retry(after: 5, .throttled))
        #expect(RequestRetry.never.decide(.notConnected, safety: .read, attempt: 1) == .stop)
    }

    @Test("the waiting line says why, how long and which try")
    func describe() {
        let event = RetryEvent(
            verb: "list", object: "Secret list", reason: .throttled, status: 429, attempt: 3, delay: 1)
        #expect(event.description == "the API server asked to retry after 1.0 s (429), 3rd try")
        let unreachable = RetryEvent(
            verb: "get", object: "Lease certctl/certctl-run", reason: .unreachable, status: nil, attempt: 2, delay: 0.5)
        #expect(unreachable.description == "the API server could not be reached; again in 0.5 s, 2nd try")
        #expect(
            [1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(RetryEvent.ordinal) == [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
            ])
    }
}

@Suite("The API client against a busy fake API server", .serialized)
struct APIRetryClientTests {
    func secret(_ name: String, _ value: String) -> Secret {
        Secret(
            metadata: ObjectMeta(name: name, namespace: "prod"), type: "Opaque", data: ["k": Data(value.utf8)])
    }

    /// The retries a client told of.
    final class Events: Sendable {
        let list = Mutex<[RetryEvent]>([])
        func withLock<T: Sendable>(_ body: @Sendable ([RetryEvent]) -> T) -> T { list.withLock { body($0) } }
    }

    /// A client of `server` that tries `attempts` times and counts its retries.
    func client(_ server: FakeAPIServer, attempts: Int = 3, timeout: Duration = .seconds(30))
        -> (KubernetesClient, Events)
    {
        let events = Events()
        var client = fakeClient(server)
        client.retry = RequestRetry(maximumAttempts: attempts, firstBackOff: 0.1, longestBackOff: 0.2)
        client.requestTimeout = timeout
        client.onRetry = { event in events.list.withLock { $0.append(event) } }
        return (client, events)
    }

    @Test("throttled on every request: tried as often as allowed, then the 429 is the error")
    func throttled() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        server.schedule(FakeAPIFaults(tooManyRequests: 1))
        let (client, events) = client(server)
        await #expect {
            _ = try await client.get(Secret.self, namespace: "prod", name: "x")
        } throws: { error in
            (error as? KubernetesError)?.httpStatus == 429
        }
        #expect(events.withLock { $0.map(\.reason) } == [.throttled, .throttled])
        #expect(events.withLock { $0.map(\.attempt) } == [2, 3])
        #expect(events.withLock { $0.map(\.delay) } == [1, 1], "the Retry-After the server sent")
        #expect(server.faultsInjected["429"] == 3)
    }

    @Test("a create carried out but not answered is sent again and finds its own object")
    func createOwn() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let (client, events) = client(server, timeout: .seconds(1))
        await server.answerLate("create", collection: "v1/secrets")
        let created = try await client.create(secret("mine", "one"))
        #expect(created.data?["k"] == Data("one".utf8))
        #expect(events.withLock { $0.map(\.reason) } == [.noAnswer])
        #expect(await server.requestLog.filter { $0.hasPrefix("create v1/secrets prod/") }.count == 2, "sent twice")
        #expect(try await client.list(Secret.self, namespace: "prod").map(\.metadata.name) == ["mine"], "made once")
    }

    @Test("a create sent again that meets someone else's object is AlreadyExists")
    func createOther() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let (admin, _) = client(server)
        _ = try await admin.create(secret("theirs", "other"))
        let (client, events) = client(server)
        // A 500 without Retry-After: the server may have acted, so the create is sent again.
        await server.failNext("create", collection: "v1/secrets", status: 500)
        await #expect {
            _ = try await client.create(secret("theirs", "mine"))
        } throws: { error in
            (error as? KubernetesError)?.isAlreadyExists == true
        }
        #expect(events.withLock { $0.count } == 1)
        let stored = try await admin.get(Secret.self, namespace: "prod", name: "theirs")
        #expect(stored.data?["k"] == Data("other".utf8), "not touched")
    }

    @Test("a delete carried out but not answered is done when the next one finds nothing")
    func deleteDone() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let (client, events) = client(server, timeout: .seconds(1))
        _ = try await client.create(secret("gone", "x"))
        await server.answerLate("delete", collection: "v1/secrets")
        try await client.delete(Secret.self, namespace: "prod", name: "gone")
        #expect(events.withLock { $0.map(\.reason) } == [.noAnswer])
        await #expect(throws: KubernetesError.self) {
            _ = try await client.get(Secret.self, namespace: "prod", name: "gone")
        }
    }

    @Test("a JSON patch without precondition is not sent again after a 500; after a 429 it is")
    func unsafePatch() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let (client, events) = client(server)
        _ = try await client.create(secret("p", "x"))
        let add: [JSONValue] = [
            .object(["op": .string("add"), "path": .string("/metadata/labels"), "value": .object(["a": .string("b")])])
        ]
        await server.failNext("patch", collection: "v1/secrets", status: 500)
        await #expect(throws: KubernetesError.self) {
            _ = try await client.jsonPatch(Secret.self, namespace: "prod", name: "p", operations: add)
        }
        #expect(events.withLock { $0.isEmpty })
        server.schedule(FakeAPIFaults(tooManyRequests: 0.999, seed: 3))
        await #expect(throws: KubernetesError.self) {
            _ = try await client.jsonPatch(Secret.self, namespace: "prod", name: "p", operations: add)
        }
        #expect(events.withLock { $0.map(\.reason) } == [.throttled, .throttled])
    }

    @Test("an API server that does not listen: retried with back-off, then named in the error")
    func unreachable() async throws {
        let server = try await FakeAPIServer.start()
        await server.stop()
        let (client, events) = client(server)
        await #expect {
            _ = try await client.list(Secret.self, namespace: "prod")
        } throws: { error in
            (error as? KubernetesError)?.code == .transport
                && "\(error)".contains("cannot reach the API server at \(server.url)")
        }
        #expect(events.withLock { $0.map(\.reason) } == [.unreachable, .unreachable])
        #expect(events.withLock { $0.map(\.delay) } == [0.1, 0.2], "doubling back-off")
    }
}
