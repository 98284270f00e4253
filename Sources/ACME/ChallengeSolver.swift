/// Makes a challenge answerable, then removes what it set up (RFC 8555 §8).
public protocol ChallengeSolver: Sendable {
    /// The challenge type this solver answers (`http-01`, `dns-01`).
    var challengeType: String { get }

    /// Publishes `keyAuthorization` for `token` and returns when the CA can see it.
    func present(identifier: ACMEIdentifier, token: String, keyAuthorization: String) async throws

    /// Removes what `present` set up. Called on success, failure and cancellation.
    func cleanUp(identifier: ACMEIdentifier, token: String) async
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
