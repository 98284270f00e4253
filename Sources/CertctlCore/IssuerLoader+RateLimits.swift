import Foundation

/// An issuer's CA limits (README, "When the CA fails").
extension IssuerLoader {
    /// Let's Encrypt's directories, whose limits an issuer keeps without `certctl.io/rate-limits`.
    static let knownLimits: [String: RateLimits] = [
        "https://acme-v02.api.letsencrypt.org/directory": .letsEncrypt,
        "https://acme-staging-v02.api.letsencrypt.org/directory": .letsEncryptStaging,
    ]

    /// `certctl.io/rate-limits` of an issuer's `metadata.annotations` (``RateLimits/parse(_:object:)``);
    /// without it, Let's Encrypt's limits for its directories and none for any other CA.
    static func rateLimits(_ annotations: Any?, server: String, object named: String) throws -> RateLimits {
        guard let value = (annotations as? [String: Any])?[RateLimits.annotation] else {
            return knownLimits[server] ?? .none
        }
        guard let text = value as? String else {
            throw CertctlError(
                .invalidIssuer, object: named,
                "metadata.annotations[\(RateLimits.annotation)] is not a string; write letsencrypt, none, or orders=300/3h, domain=50/168h, names=5/168h"
            )
        }
        return try RateLimits.parse(text, object: named)
    }
}
