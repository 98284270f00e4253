/// Makes a challenge answerable, then removes what it set up (RFC 8555 §8).
public protocol ChallengeSolver: Sendable {
    /// The challenge type this solver answers (`http-01`, `dns-01`).
    var challengeType: String { get }

    /// The challenge type for one authorization's identifier (`wildcard`: the authorization is
    /// for `*.` of it, RFC 8555 §7.1.4); a solver of several methods answers per name.
    func challengeType(for identifier: ACMEIdentifier, wildcard: Bool) -> String

    /// Publishes `keyAuthorization` for `token` and returns when the CA can see it.
    func present(identifier: ACMEIdentifier, token: String, keyAuthorization: String) async throws

    /// Removes what `present` set up. Called on success, failure and cancellation.
    func cleanUp(identifier: ACMEIdentifier, token: String) async

    /// What the ACME client calls: `present` with the whole challenge, whether the authorization
    /// is a wildcard one, and the account (a challenge without a token, dns-persist-01, needs its
    /// `issuer-domain-names` and the account URI).
    func present(_ challenge: ACMEChallenge, identifier: ACMEIdentifier, wildcard: Bool, account: ChallengeAccount)
        async throws

    /// `cleanUp` for an authorization that may be a wildcard one; the ACME client calls this.
    func cleanUp(identifier: ACMEIdentifier, wildcard: Bool, token: String) async
}

/// What a solver may need of the account answering a challenge.
public struct ChallengeAccount: Sendable {
    /// The account URL (`accounturi`, RFC 8657 §3).
    public var url: String?
    /// The key authorization for a token (RFC 8555 §8.1).
    public var keyAuthorization: @Sendable (String) -> String

    public init(url: String?, keyAuthorization: @escaping @Sendable (String) -> String) {
        self.url = url
        self.keyAuthorization = keyAuthorization
    }
}

extension ChallengeSolver {
    public func challengeType(for identifier: ACMEIdentifier, wildcard: Bool) -> String { challengeType }

    public func present(
        _ challenge: ACMEChallenge, identifier: ACMEIdentifier, wildcard: Bool, account: ChallengeAccount
    )
        async throws
    {
        guard let token = challenge.token else {
            throw ACMEError(
                .invalidResponse, "the CA's \(challenge.type) challenge for \(identifier.value) has no token",
                url: challenge.url)
        }
        try await present(identifier: identifier, token: token, keyAuthorization: account.keyAuthorization(token))
    }

    public func cleanUp(identifier: ACMEIdentifier, wildcard: Bool, token: String) async {
        await cleanUp(identifier: identifier, token: token)
    }
}

/// A solver that hands each authorization to another (per name: HTTP-01 for some, DNS-01 for
/// others, as the issuer's solvers select).
public protocol RoutingChallengeSolver: ChallengeSolver {
    func route(_ identifier: ACMEIdentifier, wildcard: Bool) -> any ChallengeSolver
}

extension RoutingChallengeSolver {
    public var challengeType: String { "routed" }

    public func challengeType(for identifier: ACMEIdentifier, wildcard: Bool) -> String {
        route(identifier, wildcard: wildcard).challengeType
    }

    public func cleanUp(identifier: ACMEIdentifier, wildcard: Bool, token: String) async {
        await route(identifier, wildcard: wildcard).cleanUp(identifier: identifier, wildcard: wildcard, token: token)
    }

    public func present(
        _ challenge: ACMEChallenge, identifier: ACMEIdentifier, wildcard: Bool, account: ChallengeAccount
    )
        async throws
    {
        try await route(identifier, wildcard: wildcard)
            .present(challenge, identifier: identifier, wildcard: wildcard, account: account)
    }

    public func present(identifier: ACMEIdentifier, token: String, keyAuthorization: String) async throws {
        try await route(identifier, wildcard: false)
            .present(identifier: identifier, token: token, keyAuthorization: keyAuthorization)
    }

    public func cleanUp(identifier: ACMEIdentifier, token: String) async {
        await cleanUp(identifier: identifier, wildcard: false, token: token)
    }
}

extension AccountKey {
    /// The key authorization (RFC 8555 §8.1): `token.thumbprint`.
    public func keyAuthorization(for token: String) -> String {
        "\(token).\(thumbprint)"
    }

    /// The DNS-01 TXT record value (RFC 8555 §8.4): base64url(SHA-256(key authorization)).
    public func dnsRecordValue(for token: String) -> String {
        dns01Value(keyAuthorization: keyAuthorization(for: token))
    }
}
