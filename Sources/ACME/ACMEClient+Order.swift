import Basics
public import Certificates
import Foundation
import Logging
import Transport

/// What to order: names, the certificate key, and the optional ACME extensions.
public struct CertificateOrder: Sendable {
    public var names: [String]
    public var key: PrivateKey
    /// An ACME profile (`classic`, `tlsserver`, `shortlived`); sent only when the CA offers it.
    public var profile: String?
    /// The ARI certificate ID of the certificate this one replaces (RFC 9773 §5).
    public var replaces: String?
    /// The issuer CN of the top of the preferred chain (cert-manager's `preferredChain`).
    public var preferredChain: String?
    /// The subject CN to ask for (one of `names`); nil: the first name.
    public var commonName: String?

    public init(
        names: [String], key: PrivateKey, profile: String? = nil, replaces: String? = nil, preferredChain: String? = nil
    ) {
        self.names = names
        self.key = key
        self.profile = profile
        self.replaces = replaces
        self.preferredChain = preferredChain
    }
}

/// A certificate the CA issued, with where it came from.
public struct IssuedCertificate: Sendable {
    public var chain: CertificateChain
    public var orderURL: String
    public var certificateURL: String
    public var profile: String?
    /// Whether the order carried `replaces` (it is dropped after `alreadyReplaced`).
    public var replaced: Bool
}

extension ACMEClient {
    /// Called with the order's URL once every authorization is valid and before the CSR is sent:
    /// from then on the CA may issue, so whatever is needed to pick the order up (its URL and
    /// the certificate key) must be kept first. When it throws, the order is not finalized.
    public typealias BeforeFinalize = @Sendable (_ orderURL: String) async throws -> Void

    /// Called once the CA accepted the new order (a `201` to newOrder), with whether the order
    /// carries `replaces` (RFC 9773 §5): what counts against the CA's limit on new orders.
    public typealias OrderPlaced = @Sendable (_ replaces: Bool) async -> Void

    /// Runs one order to the end (RFC 8555 §7.4): new order, authorizations through `solver`,
    /// finalize with a CSR for `order.key`, download the preferred chain.
    public func issue(
        _ order: CertificateOrder, solver: any ChallengeSolver, placed orderPlaced: OrderPlaced? = nil,
        beforeFinalize: BeforeFinalize? = nil
    ) async throws -> IssuedCertificate {
        let deadline = makeDeadline()
        let identifiers = Self.identifiers(for: order.names)
        var placed = try await newOrder(identifiers: identifiers, profile: order.profile, replaces: order.replaces)
        await orderPlaced?(order.replaces != nil && !placed.replacesDropped)
        let offersARI = try await directory().renewalInfo != nil
        let replaced = order.replaces != nil && offersARI && !placed.replacesDropped

        if placed.status == .pending {
            try await authorize(placed, solver: solver, deadline: deadline)
            // Every authorization is valid, so the order is (or is about to be) ready: finalize at
            // once rather than poll first, and poll only if the CA says it is not ready yet.
            placed.status = .ready
        }
        if placed.status == .ready, let beforeFinalize {
            try await beforeFinalize(placed.url)
        }
        return try await complete(placed, order: order, replaced: replaced, deadline: deadline)
    }

    /// Picks up an order a run left between finalize and storing the certificate (RFC 8555
    /// §7.1.3: the order stays readable at its URL): finalizes it if the CSR never arrived,
    /// waits while the CA signs, downloads the chain. Nil when the order can no longer give a
    /// certificate (gone, expired, invalid, still pending, for other names): order anew then.
    public func resume(orderURL: String, _ order: CertificateOrder) async throws -> IssuedCertificate? {
        let deadline = makeDeadline()
        let placed: ACMEOrder
        do {
            placed = try decode(
                ACMEOrder.self, from: try await post(orderURL, payload: nil, action: "pollOrder"), url: orderURL
            ).with(url: orderURL)
        } catch let error as ACMEError where error.code == .problem && Self.isGone(error.problem) {
            logger.info("the order in flight is gone", metadata: ["order": "\(orderURL)", "error": "\(error)"])
            return nil
        }
        let identifiers = Self.identifiers(for: order.names)
        guard
            Set(placed.identifiers.map { ACMEIdentifier(type: $0.type, value: $0.value.lowercased()) })
                == Set(identifiers),
            [.ready, .processing, .valid].contains(placed.status)
        else {
            logger.info(
                "the order in flight cannot give the certificate",
                metadata: ["order": "\(orderURL)", "status": "\(placed.status.rawValue)"])
            return nil
        }
        return try await complete(placed, order: order, replaced: order.replaces != nil, deadline: deadline)
    }

    /// A POST-as-GET of an order the CA no longer has (or never gave this account).
    static func isGone(_ problem: ACMEProblem?) -> Bool {
        guard let problem else { return false }
        return problem.status == 404 || [.malformed, .unauthorized].contains(problem.kind)
    }

    /// Finalizes a ready order, waits while it is processed, downloads the chain.
    private func complete(_ start: ACMEOrder, order: CertificateOrder, replaced: Bool, deadline: Deadline)
        async throws -> IssuedCertificate
    {
        var placed = start
        if placed.status == .ready {
            let csr = try order.key.makeCSR(
                for: Self.identifiers(for: order.names).map(\.value), commonName: order.commonName)
            placed = try await finalize(placed, csr: csr, deadline: deadline)
        }
        if placed.status == .processing || placed.status == .ready {
            // Signing takes the CA a moment too: the same short pause saves a poll.
            placed = try await poll(
                placed.url, as: ACMEOrder.self, action: "pollOrder", deadline: deadline,
                initialDelay: .milliseconds(100)
            ) {
                $0.status != .processing && $0.status != .ready
            }.with(url: placed.url)
        }
        guard placed.status == .valid, let certificateURL = placed.certificate else {
            throw ACMEError(
                .orderInvalid,
                "the order for \(order.names.joined(separator: ", ")) ended \(placed.status.rawValue)",
                problem: placed.error,
                url: placed.url
            )
        }
        let chain = try await downloadCertificate(certificateURL, preferredChain: order.preferredChain)
        return IssuedCertificate(
            chain: chain,
            orderURL: placed.url,
            certificateURL: certificateURL,
            profile: placed.profile ?? order.profile,
            replaced: replaced
        )
    }

    /// Identifiers as RFC 8555 §7.1.4 wants them: lower-case, de-duplicated, `ip` for addresses.
    public static func identifiers(for names: [String]) -> [ACMEIdentifier] {
        var seen = Set<ACMEIdentifier>()
        var result: [ACMEIdentifier] = []
        for name in names {
            var value = name.lowercased().trimmingCharacters(in: .whitespaces)
            if value.hasSuffix(".") { value.removeLast() }
            let identifier: ACMEIdentifier = IPAddress(value).map { .ip($0.text) } ?? .dns(value)
            if seen.insert(identifier).inserted { result.append(identifier) }
        }
        return result
    }

    /// Places an order (RFC 8555 §7.4). With `replaces`, an order the CA refuses for it is placed
    /// once more without it: `alreadyReplaced` (RFC 9773 §5), and what Let's Encrypt's Boulder
    /// and current Pebble answer for a certificate of another account (403 `unauthorized`), of
    /// an issuer they do not know or with no name in common (400 `malformed`) or one they do
    /// not have (404). Without this, such a renewal failed the same way at every run until the
    /// certificate expired.
    public func newOrder(identifiers: [ACMEIdentifier], profile: String?, replaces: String?) async throws -> ACMEOrder {
        let directory = try await directory()
        if let profile {
            let offered = directory.meta?.profiles.map { Array($0.keys).sorted() } ?? []
            guard offered.contains(profile) else {
                throw ACMEError(
                    .invalidConfiguration,
                    "the CA does not offer the profile \"\(profile)\""
                        + (offered.isEmpty
                            ? " (it lists no profiles)" : "; it offers \(offered.joined(separator: ", "))")
                        + ": change spec.acme.profile of the issuer"
                )
            }
        }
        var payload: [String: Any] = ["identifiers": identifiers.map { ["type": $0.type, "value": $0.value] }]
        if let profile { payload["profile"] = profile }
        let sendReplaces = replaces != nil && directory.renewalInfo != nil
        if sendReplaces, let replaces { payload["replaces"] = replaces }
        let response: HTTPResponse
        var dropped = false
        do {
            response = try await post(directory.newOrder, payload: try encode(payload), action: "newOrder")
        } catch let error as ACMEError where sendReplaces && Self.refusesReplaces(error.problem) {
            logger.notice(
                "the CA refused the order's replaces; ordering without it",
                metadata: ["replaces": "\(replaces ?? "")", "problem": "\(error.problem.map { "\($0)" } ?? "")"])
            payload["replaces"] = nil
            dropped = true
            response = try await post(directory.newOrder, payload: try encode(payload), action: "newOrder")
        } catch let error as ACMEError where error.problem?.kind == .invalidProfile {
            throw ACMEError(
                .invalidConfiguration,
                "the CA rejected the profile \"\(profile ?? "")\": change spec.acme.profile of the issuer",
                problem: error.problem,
                url: error.url
            )
        }
        guard let location = response.headers["Location"] else {
            throw ACMEError(
                .invalidResponse, "the CA's newOrder answer has no Location header", url: directory.newOrder)
        }
        var order = try decode(ACMEOrder.self, from: response, url: directory.newOrder).with(url: location)
        order.replacesDropped = dropped
        guard
            Set(order.identifiers.map { ACMEIdentifier(type: $0.type, value: $0.value.lowercased()) })
                == Set(identifiers)
        else {
            throw ACMEError(
                .identifiersChanged,
                "the CA changed the order's names to \(order.identifiers.map(\.value).joined(separator: ", "))",
                url: location
            )
        }
        return order
    }

    /// A newOrder refusal that may be the `replaces` field's doing (see ``newOrder(identifiers:profile:replaces:)``).
    static func refusesReplaces(_ problem: ACMEProblem?) -> Bool {
        guard let problem else { return false }
        return [.alreadyReplaced, .malformed, .unauthorized].contains(problem.kind) || problem.status == 404
    }

    /// Reads an authorization (POST-as-GET, RFC 8555 §7.5).
    public func authorization(_ url: String) async throws -> ACMEAuthorization {
        try decode(ACMEAuthorization.self, from: try await post(url, payload: nil, action: "authorization"), url: url)
    }

    /// Finalizes `order` with `csr` (RFC 8555 §7.4); on `orderNotReady`, waits for `ready` and tries again.
    private func finalize(_ order: ACMEOrder, csr: [UInt8], deadline: Deadline) async throws -> ACMEOrder {
        let payload = try encode(["csr": Base64URL.encode(csr)])
        do {
            let response = try await post(order.finalize, payload: payload, action: "finalize")
            return try decode(ACMEOrder.self, from: response, url: order.finalize).with(url: order.url)
        } catch let error as ACMEError where error.problem?.kind == .orderNotReady {
            let ready = try await poll(order.url, as: ACMEOrder.self, action: "pollOrder", deadline: deadline) {
                $0.status != .pending
            }
            guard ready.status == .ready else { return ready.with(url: order.url) }
            let response = try await post(order.finalize, payload: payload, action: "finalize")
            return try decode(ACMEOrder.self, from: response, url: order.finalize).with(url: order.url)
        }
    }

    /// Satisfies every pending authorization of `order`, concurrently: one per identifier (RFC
    /// 8555 §7.1.3), so a CA's answer listing more starts no more requests than the order's names.
    func authorize(_ order: ACMEOrder, solver: any ChallengeSolver, deadline: Deadline) async throws {
        guard order.authorizations.count <= order.identifiers.count,
            Set(order.authorizations).count == order.authorizations.count
        else {
            throw ACMEError(
                .invalidResponse,
                "the CA's order lists \(order.authorizations.count) authorizations for \(order.identifiers.count) identifiers",
                url: order.url)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for url in order.authorizations {
                group.addTask { try await self.authorize(url, solver: solver, deadline: deadline) }
            }
            try await group.waitForAll()
        }
    }

    private func authorize(_ url: String, solver: any ChallengeSolver, deadline: Deadline) async throws {
        let authorization = try decode(
            ACMEAuthorization.self, from: try await post(url, payload: nil, action: "authorization"), url: url)
        guard let challenge = try Self.challenge(of: authorization, at: url, for: solver) else { return }
        let (identifier, wildcard, type) = (authorization.identifier, authorization.wildcard ?? false, challenge.type)
        // dns-persist-01 has no token: nothing is published per challenge, so nothing to clean.
        let token = challenge.token ?? ""
        let key = accountKey
        let account = ChallengeAccount(url: accountURL, keyAuthorization: { key.keyAuthorization(for: $0) })
        do {
            try await solver.present(challenge, identifier: identifier, wildcard: wildcard, account: account)
        } catch let error as ACMEError {
            await solver.cleanUp(identifier: identifier, wildcard: wildcard, token: token)
            throw error
        } catch {
            await solver.cleanUp(identifier: identifier, wildcard: wildcard, token: token)
            throw ACMEError(
                .challengeSetup, "cannot set up the \(type) challenge for \(identifier): \(error)",
                url: url)
        }
        let final: ACMEAuthorization
        do {
            if challenge.status == .pending {
                _ = try await post(challenge.url, payload: Array("{}".utf8), action: "challenge")
            }
            // Validation takes the CA a moment: a short pause first saves a poll that would say "pending".
            final = try await poll(
                url,
                as: ACMEAuthorization.self,
                action: "pollAuthorization",
                deadline: deadline,
                initialDelay: .milliseconds(100)
            ) { $0.status != .pending }
        } catch {
            await solver.cleanUp(identifier: identifier, wildcard: wildcard, token: token)
            throw error
        }
        await solver.cleanUp(identifier: identifier, wildcard: wildcard, token: token)
        guard final.status == .valid else {
            let failed = final.challenges.first { $0.type == type }
            throw ACMEError(
                .authorizationInvalid,
                "the CA could not validate \(identifier) with \(type)",
                problem: failed?.error,
                url: url
            )
        }
    }

    /// The challenge of a pending authorization that `solver` answers; nil when the
    /// authorization is valid already (reused), an error when it failed or offers none.
    private static func challenge(of authorization: ACMEAuthorization, at url: String, for solver: any ChallengeSolver)
        throws -> ACMEChallenge?
    {
        switch authorization.status {
        case .valid:
            return nil
        case .pending:
            break
        default:
            throw ACMEError(
                .authorizationInvalid,
                "the authorization for \(authorization.identifier) is \(authorization.status.rawValue)",
                problem: authorization.challenges.compactMap(\.error).first,
                url: url
            )
        }
        let wildcard = authorization.wildcard ?? false
        let type = solver.challengeType(for: authorization.identifier, wildcard: wildcard)
        guard let challenge = authorization.challenges.first(where: { $0.type == type }) else {
            let offered = authorization.challenges.map(\.type).joined(separator: ", ")
            throw ACMEError(
                .noSupportedChallenge,
                "the CA offers no \(type) challenge for \(wildcard ? "*." : "")\(authorization.identifier.value) (it offers \(offered))",
                url: url
            )
        }
        return challenge
    }

    /// POST-as-GET `url` until `isDone`, honouring Retry-After, before `deadline`.
    func poll<T: Decodable>(
        _ url: String,
        as type: T.Type,
        action: String,
        deadline: Deadline,
        initialDelay: Duration = .zero,
        isDone: (T) -> Bool
    ) async throws -> T {
        var delay = Duration.milliseconds(200)
        if initialDelay > .zero {
            try await wait(initialDelay, deadline: deadline, what: action, url: url)
        }
        while true {
            let response = try await post(url, payload: nil, action: action)
            let value = try decode(type, from: response, url: url)
            if isDone(value) { return value }
            // The CA's Retry-After when it asks for longer than the back-off; never less, so
            // that `0` or a date in the past cannot make a loop without pause.
            var pause = delay
            if let asked = RetryAfter.acme.delay(response.headers["Retry-After"], now: now()) {
                pause = max(delay, Bounded.duration(seconds: asked))
            }
            try await wait(pause, deadline: deadline, what: action, url: url)
            delay = min(delay * 2, .seconds(5))
        }
    }
}

extension ACMEOrder {
    func with(url: String) -> ACMEOrder {
        var copy = self
        copy.url = url
        return copy
    }
}
