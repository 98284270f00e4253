import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Logging
import Synchronization
import Testing
import Transport

/// Runs `body` against the in-process RFC server, with a responder it validates against and a
/// client on a test clock.
func withRFCServer<T>(
    _ behaviour: TestACMEServer.Behaviour = TestACMEServer.Behaviour(),
    orderDeadline: Duration = .seconds(300),
    _ body: (TestACMEServer, ACMEClient, TestClock, HTTP01Responder) async throws -> T
) async throws -> T {
    let responder = try await HTTP01Responder.start(host: "127.0.0.1", port: 0, logger: Logger(label: "test"))
    let server = try await TestACMEServer.start(validationPort: responder.port, behaviour: behaviour)
    let clock = TestClock()
    let client = ACMEClient(
        configuration: .init(directoryURL: server.directoryURL, orderDeadline: orderDeadline),
        accountKey: try AccountKey(generating: .ecdsaP256),
        transport: CurlTransport(userAgent: "certctl-tests"),
        clock: clock,
        now: { clock.date },
        logger: Logger(label: "test")
    )
    defer {
        Task {
            await server.stop()
            await responder.stop()
        }
    }
    _ = try await client.register()
    return try await body(server, client, clock, responder)
}

@Suite("ACME extensions against the in-process RFC server")
struct RFCServerTests {
    @Test("a CA that forgot the account: concurrent orders register the key again once, and all issue")
    func reRegisterOnce() async throws {
        try await withRFCServer { server, client, _, responder in
            await client.setAccountRecovery { client in _ = try await client.register() }
            #expect(await server.accountsCreated == 1)
            await server.forgetAccounts()
            try await withThrowingTaskGroup(of: IssuedCertificate.self) { group in
                for index in 0..<3 {
                    group.addTask { try await client.issue("site\(index).mybinder.org", responder: responder) }
                }
                var issued = 0
                for try await _ in group { issued += 1 }
                #expect(issued == 3)
            }
            #expect(await server.accountsCreated == 2, "one registration for the three orders")
            let registrations = await server.requests.filter { $0.hasSuffix("/new-account") }
            #expect(registrations.count == 2, "\(registrations)")
        }
    }

    @Test("profiles: an offered profile is sent and shapes the certificate")
    func profileSent() async throws {
        try await withRFCServer { server, client, _, responder in
            let issued = try await client.issue("hub.mybinder.org", profile: "shortlived", responder: responder)
            #expect(await server.orders.last?.profile == "shortlived")
            #expect(issued.profile == "shortlived")
            let lifetime = CertificateSummary(issued.chain.leaf).lifetime
            #expect(abs(lifetime - 160 * 3600) < 300)
        }
    }

    @Test("profiles: a profile the directory does not list fails before any order")
    func profileNotOffered() async throws {
        try await withRFCServer { server, client, _, responder in
            do {
                _ = try await client.issue("hub.mybinder.org", profile: "tlsserver", responder: responder)
                Issue.record("an unlisted profile must fail")
            } catch let error as ACMEError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.reason.contains("classic, shortlived"))
            }
            #expect(await server.orders.isEmpty)
        }
    }

    @Test("profiles: invalidProfile from the CA is a configuration error")
    func invalidProfile() async throws {
        try await withRFCServer { server, client, _, responder in
            _ = try await client.directory()
            await server.update { $0.profiles = ["classic": "only this"] }
            do {
                _ = try await client.issue("hub.mybinder.org", profile: "shortlived", responder: responder)
                Issue.record("invalidProfile must fail")
            } catch let error as ACMEError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.problem?.kind == .invalidProfile)
            }
        }
    }

    @Test("no profile asked: none sent")
    func noProfile() async throws {
        try await withRFCServer { server, client, _, responder in
            _ = try await client.issue("static.mybinder.org", responder: responder)
            #expect(await server.orders.last?.profile == nil)
        }
    }

    @Test("ARI: renewalInfo by certificate ID, its window, Retry-After and explanation")
    func renewalInfo() async throws {
        var behaviour = TestACMEServer.Behaviour()
        behaviour.explanationURL = "https://ca.test/why"
        try await withRFCServer(behaviour) { server, client, clock, responder in
            let issued = try await client.issue("static.mybinder.org", responder: responder)
            let summary = CertificateSummary(issued.chain.leaf)
            let id = try #require(summary.ariCertificateID)
            let info = try #require(try await client.renewalInfo(certificateID: id))
            #expect(await server.renewalInfoQueries == [id])
            #expect(info.explanationURL == "https://ca.test/why")
            let retryAfter = try #require(info.retryAfter)
            #expect(abs(retryAfter.timeIntervalSince(clock.date) - 21_600) < 5)
            #expect(info.suggestedWindow.start < info.suggestedWindow.end)
            #expect(info.suggestedWindow.start > summary.notBefore)
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<50 {
                let chosen = info.renewalTime(using: &generator)
                #expect(chosen >= info.suggestedWindow.start && chosen < info.suggestedWindow.end)
            }
        }
    }

    @Test("ARI: a renewal order carries replaces")
    func replacesSent() async throws {
        try await withRFCServer { server, client, _, responder in
            let solver = ResponderSolver(responder: responder)
            let first = try await client.issue("binder.mybinder.org", solver: solver)
            let id = try #require(CertificateSummary(first.chain.leaf).ariCertificateID)
            let renewal = try await client.issue("binder.mybinder.org", replaces: id, solver: solver)
            #expect(await server.orders.last?.replaces == id)
            #expect(renewal.replaced)
        }
    }

    @Test("ARI: alreadyReplaced is retried once without replaces")
    func alreadyReplaced() async throws {
        try await withRFCServer { server, client, _, responder in
            let solver = ResponderSolver(responder: responder)
            let first = try await client.issue("binder.mybinder.org", solver: solver)
            let id = try #require(CertificateSummary(first.chain.leaf).ariCertificateID)
            await server.update { $0.alreadyReplaced = [id] }
            let renewal = try await client.issue("binder.mybinder.org", replaces: id, solver: solver)
            let orders = await server.orders.suffix(2)
            #expect(orders.map(\.status) == [409, 201])
            #expect(orders.map(\.replaces) == [id, nil])
            #expect(!renewal.replaced)
        }
    }

    @Test(
        "ARI: replaces refused as Boulder refuses it is ordered once more without it",
        arguments: ["another account", "unknown issuer", "unknown certificate", "no name in common"])
    func replacesRefused(refusal: String) async throws {
        try await withRFCServer { server, client, _, responder in
            let solver = ResponderSolver(responder: responder)
            let first = try await client.issue("binder.mybinder.org", solver: solver)
            let id = try #require(CertificateSummary(first.chain.leaf).ariCertificateID)
            let issuerPart = try #require(id.split(separator: ".").first)
            var orderer = client
            var name = "binder.mybinder.org"
            var replaces = id
            var expected = 400
            switch refusal {
            case "another account":
                orderer = ACMEClient(
                    configuration: .init(directoryURL: server.directoryURL),
                    accountKey: try AccountKey(generating: .ecdsaP256),
                    transport: CurlTransport(userAgent: "certctl-tests"), logger: Logger(label: "test"))
                _ = try await orderer.register()
                expected = 403
            case "unknown issuer": replaces = "AAECAwQFBgcICQoLDA0ODxAREhM.AQI"
            case "unknown certificate":
                replaces = "\(issuerPart).AQID"
                expected = 404
            default: name = "other.mybinder.org"
            }
            let renewal = try await orderer.issue(name, replaces: replaces, solver: solver)
            let orders = await server.orders.suffix(2)
            #expect(orders.map(\.status) == [expected, 201], "\(orders)")
            #expect(orders.map(\.replaces) == [replaces, nil])
            #expect(!renewal.replaced)
        }
    }

    @Test(
        "processing orders with Retry-After 0, a past date or an absurd value: polled with back-off, never a trap",
        arguments: ["0", "Wed, 21 Oct 2015 07:28:00 GMT", "9223372036854775807", "99999999999999999999999"])
    func hostileRetryAfter(header: String) async throws {
        var behaviour = TestACMEServer.Behaviour()
        behaviour.processingPolls = 50
        behaviour.orderRetryAfter = header
        try await withRFCServer(behaviour, orderDeadline: .seconds(20)) { server, client, clock, responder in
            do {
                _ = try await client.issue("grafana.mybinder.org", responder: responder)
                Issue.record("50 polls with back-off outlast a 20 s deadline")
            } catch let error as ACMEError {
                #expect(error.code == .timeout, "\(error)")
            }
            // Two fixed 100 ms pauses (before the authorization's and the order's first poll);
            // every other waits at least the back-off (200 ms, doubling); all of them together
            // the deadline at most.
            #expect(!clock.sleeps.contains { $0 < .milliseconds(100) }, "\(clock.sleeps)")
            #expect(clock.sleeps.filter { $0 < .milliseconds(200) }.count <= 2, "\(clock.sleeps)")
            #expect(clock.sleeps.reduce(Duration.zero, +) <= .seconds(20))
            #expect(await server.requests.filter { $0.hasPrefix("POST /order/") }.count < 50)
        }
    }

    @Test("ARI: a CA without renewalInfo gets neither queries nor replaces")
    func noARI() async throws {
        var behaviour = TestACMEServer.Behaviour()
        behaviour.offersRenewalInfo = false
        try await withRFCServer(behaviour) { server, client, _, responder in
            let solver = ResponderSolver(responder: responder)
            let first = try await client.issue("binder.mybinder.org", solver: solver)
            let id = try #require(CertificateSummary(first.chain.leaf).ariCertificateID)
            #expect(try await client.renewalInfo(certificateID: id) == nil)
            _ = try await client.issue("binder.mybinder.org", replaces: id, solver: solver)
            #expect(await server.orders.last?.replaces == nil)
            #expect(await server.renewalInfoQueries.isEmpty)
        }
    }

    @Test("processing orders are polled as Retry-After says")
    func processingRetryAfter() async throws {
        var behaviour = TestACMEServer.Behaviour()
        behaviour.processingPolls = 2
        behaviour.orderRetryAfter = "7"
        try await withRFCServer(behaviour) { _, client, clock, responder in
            let issued = try await client.issue("grafana.mybinder.org", responder: responder)
            #expect(CertificateSummary(issued.chain.leaf).dnsNames == ["grafana.mybinder.org"])
            let sevens = clock.sleeps.filter { abs(Double($0.components.seconds) - 7) <= 1 }
            #expect(sevens.count >= 2, "slept \(clock.sleeps)")
        }
    }

    @Test("finalize right after the authorizations; orderNotReady makes it wait for ready")
    func orderNotReady() async throws {
        var behaviour = TestACMEServer.Behaviour()
        behaviour.pendingPollsAfterAuthorization = 2
        try await withRFCServer(behaviour) { server, client, _, responder in
            let issued = try await client.issue("grafana.mybinder.org", responder: responder)
            #expect(CertificateSummary(issued.chain.leaf).dnsNames == ["grafana.mybinder.org"])
            let finalizes = await server.requests.filter { $0.hasPrefix("POST /finalize/") }
            #expect(finalizes.count == 2)
        }
    }

    @Test("one certificate on an existing account costs at most 7 requests after directory and nonce")
    func requestBudget() async throws {
        try await withRFCServer { server, client, _, responder in
            let before = await server.requests.count
            _ = try await client.issue("grafana.mybinder.org", responder: responder)
            let used = await server.requests.dropFirst(before)
            #expect(used.count <= 7, "\(Array(used))")
            #expect(!used.contains { $0.hasPrefix("HEAD /nonce") })
        }
    }

    @Test("the order deadline caps Retry-After")
    func deadline() async throws {
        var behaviour = TestACMEServer.Behaviour()
        behaviour.processingPolls = 100
        behaviour.orderRetryAfter = "7"
        try await withRFCServer(behaviour, orderDeadline: .seconds(20)) { _, client, clock, responder in
            do {
                _ = try await client.issue("grafana.mybinder.org", responder: responder)
                Issue.record("the order should time out")
            } catch let error as ACMEError {
                #expect(error.code == .timeout)
            }
            let total = clock.sleeps.reduce(Duration.zero, +)
            #expect(total <= .seconds(20))
        }
    }

    @Test("rateLimited: not retried, the error carries Retry-After")
    func rateLimited() async throws {
        var behaviour = TestACMEServer.Behaviour()
        behaviour.rateLimitedOrders = 1
        behaviour.rateLimitRetryAfter = "3600"
        try await withRFCServer(behaviour) { server, client, clock, responder in
            do {
                _ = try await client.issue("hub.mybinder.org", responder: responder)
                Issue.record("a rate-limited order must fail")
            } catch let error as ACMEError {
                #expect(error.isRateLimited)
                let retryAfter = try #require(error.retryAfter)
                #expect(abs(retryAfter.timeIntervalSince(clock.date) - 3600) < 5)
            }
            #expect(await server.orders.map(\.status) == [429])
        }
    }

    @Test("a wrong HTTP-01 answer fails the authorization with the CA's problem, and is cleaned up")
    func challengeFails() async throws {
        try await withRFCServer { _, client, _, responder in
            let solver = WrongAnswerSolver(responder: responder)
            do {
                _ = try await client.issue("hub.mybinder.org", solver: solver)
                Issue.record("a wrong answer must fail")
            } catch let error as ACMEError {
                #expect(error.code == .authorizationInvalid)
                #expect(error.problem?.kind == .incorrectResponse)
                #expect(error.description.contains("hub.mybinder.org"))
            }
            #expect(solver.cleaned.withLock { $0 } == 1)
        }
    }
}

/// Presents a key authorization for another account: the CA must refuse it.
final class WrongAnswerSolver: ChallengeSolver {
    let responder: HTTP01Responder
    let cleaned = Mutex(0)
    init(responder: HTTP01Responder) { self.responder = responder }
    var challengeType: String { "http-01" }
    func present(identifier: ACMEIdentifier, token: String, keyAuthorization: String) async throws {
        responder.present(token: token, keyAuthorization: token + ".not-the-thumbprint")
    }
    func cleanUp(identifier: ACMEIdentifier, token: String) async {
        responder.remove(token: token)
        cleaned.withLock { $0 += 1 }
    }
}

extension ACMEClient {
    /// One certificate for `name` with a new P-256 key, answered by `responder` (or `solver`).
    func issue(
        _ name: String,
        profile: String? = nil,
        replaces: String? = nil,
        responder: HTTP01Responder? = nil,
        solver: (any ChallengeSolver)? = nil
    ) async throws -> IssuedCertificate {
        let chosen: any ChallengeSolver = try #require(solver ?? responder.map { ResponderSolver(responder: $0) })
        let order = CertificateOrder(
            names: [name], key: try PrivateKey(generating: .ecdsaP256), profile: profile, replaces: replaces)
        return try await issue(order, solver: chosen)
    }
}
