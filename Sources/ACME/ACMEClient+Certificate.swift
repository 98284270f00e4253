public import Certificates
import Foundation
import Logging
import Transport

extension ACMEClient {
    /// Downloads the chain (RFC 8555 §7.4.2). With `preferredChain`, the default chain and each
    /// `Link: rel="alternate"` one are tried in order and the first whose top certificate was
    /// issued by that CN wins; otherwise the default chain.
    public func downloadCertificate(_ url: String, preferredChain: String? = nil) async throws -> CertificateChain {
        let response = try await post(
            url, payload: nil, action: "certificate", accept: "application/pem-certificate-chain")
        let chain = try parseChain(response, url: url)
        guard let preferredChain, !Self.chain(chain, matches: preferredChain) else { return chain }
        let alternates = parseLinks(response.headers.values("Link")).filter { $0.relations.contains("alternate") }
        for alternate in alternates {
            let alternateURL = resolve(alternate.url, against: url)
            let other = try parseChain(
                try await post(
                    alternateURL, payload: nil, action: "certificate", accept: "application/pem-certificate-chain"),
                url: alternateURL
            )
            if Self.chain(other, matches: preferredChain) {
                return other
            }
        }
        logger.info(
            "no chain matches the preferred chain; using the default",
            metadata: ["preferredChain": "\(preferredChain)", "alternates": "\(alternates.count)"]
        )
        return chain
    }

    static func chain(_ chain: CertificateChain, matches preferred: String) -> Bool {
        let wanted = preferred.lowercased()
        if chain.topIssuerCommonName?.lowercased() == wanted { return true }
        // A chain that ends in the root itself names it as the top's subject.
        return chain.topSubjectCommonName?.lowercased() == wanted
    }

    private func parseChain(_ response: HTTPResponse, url: String) throws -> CertificateChain {
        do {
            return try CertificateChain(pem: String(decoding: response.body, as: UTF8.self))
        } catch {
            throw ACMEError(.invalidResponse, "the CA's certificate download is not a PEM chain: \(error)", url: url)
        }
    }

    private func resolve(_ link: String, against base: String) -> String {
        URL(string: link, relativeTo: URL(string: base))?.absoluteString ?? link
    }

    /// Revokes `certificate` (RFC 8555 §7.6), signed by the account or, with `certificateKey`, by
    /// the certificate's own key (for a lost account).
    public func revoke(_ certificate: [UInt8], reason: RevocationReason? = nil, certificateKey: AccountKey? = nil)
        async throws
    {
        let directory = try await directory()
        var payload: [String: Any] = ["certificate": Base64URL.encode(certificate)]
        if let reason { payload["reason"] = reason.rawValue }
        _ = try await post(
            directory.revokeCert,
            payload: try encode(payload),
            action: "revokeCert",
            key: certificateKey,
            useJWK: certificateKey != nil
        )
    }

    /// The CA's suggested renewal window for a certificate (RFC 9773 §4); nil when the CA has no ARI.
    public func renewalInfo(certificateID: String) async throws -> ACMERenewalInfo? {
        guard let base = try await directory().renewalInfo else { return nil }
        let url = base.hasSuffix("/") ? base + certificateID : base + "/" + certificateID
        let response = try await get(url, action: "renewalInfo")
        var info = try decode(ACMERenewalInfo.self, from: response, url: url)
        // RFC 9773 §4.3: a minute at least, a day at most.
        info.retryAfter = RetryAfter.renewalInfo.date(response.headers["Retry-After"], now: now())
        if let explanation = info.explanationURL {
            logger.info("the CA explains its renewal window", metadata: ["explanationURL": "\(explanation)"])
        }
        return info
    }
}
