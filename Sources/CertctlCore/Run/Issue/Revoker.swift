import ACME
import Certificates
import Foundation
import Kubernetes
import Logging
import Transport

/// `certctl revoke`'s request to the CA (RFC 8555 §7.6), made by the run under its lock before
/// the revocation is recorded and the replacement issued: signed by the issuer's account, or by
/// the certificate's own key where no account is stored (a lost account, a certificate another
/// client ordered).
struct Revoker: Sendable {
    let reader: any ClusterReader
    let accounts: any AccountStore
    let secrets: any SecretValueSource
    let transport: any HTTPTransport
    let logger: Logger
    let requestTimeout: Duration

    /// How the CA was asked.
    enum Signer: Sendable, Equatable {
        case account(String)
        case certificateKey
        /// The CA had revoked it already.
        case alreadyRevoked
    }

    /// Revokes the certificate `entry`'s Secret holds, read again here: only while it is still
    /// `serial` (the one the operator saw). A certificate the CA already revoked counts as done
    /// (a revoke run again after a kill).
    func revoke(_ entry: Inventory.Entry, serial: String, issuer: Issuer, reason: RevocationReason) async throws
        -> Signer
    {
        let id = entry.desired.id
        guard let secret = try await reader.secret(namespace: entry.desired.namespace, name: entry.desired.secretName)
        else {
            throw CertctlError(.issuance, object: "Secret \(id)", "is gone: nothing revoked")
        }
        return try await revoke(secret, id: id, serial: serial, issuer: issuer, reason: reason)
    }

    /// Revokes the certificate `secret` holds (`certctl prune --revoke` too), when it is `serial`
    /// (any, when nil).
    func revoke(_ secret: Secret, id: String, serial: String?, issuer: Issuer, reason: RevocationReason)
        async throws -> Signer
    {
        guard let pem = secret.data?["tls.crt"], let keyPEM = secret.data?["tls.key"] else {
            throw CertctlError(
                .issuance, object: "Secret \(id)", "holds no certificate and key any more: nothing revoked")
        }
        let chain = try CertificateChain(pem: String(decoding: pem, as: UTF8.self))
        let held = CertificateSummary(chain.leaf).serialHex
        let serial = serial ?? held
        guard held == serial else {
            throw CertctlError(
                .issuance, object: "Secret \(id)",
                "holds another certificate (serial \(held)) than the one to revoke (\(serial)): nothing revoked; run certctl revoke again if that one is to go too"
            )
        }
        let der = try chain.leaf.derRepresentation()
        let signer: Signer
        do {
            if let stored = try await accounts.load(for: issuer), let url = stored.url, stored.server == issuer.server {
                let client = try await AccountSession.open(
                    issuer: issuer, store: accounts, secrets: secrets, transport: transport, logger: logger,
                    requestTimeout: requestTimeout)
                signer = .account(url)
                try await client.revoke(der, reason: reason)
            } else {
                let key = try AccountKey(pem: String(decoding: keyPEM, as: UTF8.self))
                let client = issuer.client(
                    key: key, url: nil, transport: transport, logger: logger, requestTimeout: requestTimeout)
                signer = .certificateKey
                try await client.revoke(der, reason: reason, certificateKey: key)
            }
        } catch let error as ACMEError where error.problem?.kind == .alreadyRevoked {
            logger.notice("the CA had revoked it already", metadata: ["secret": "\(id)", "serial": "\(serial)"])
            return .alreadyRevoked
        }
        logger.notice(
            "revoked", metadata: ["secret": "\(id)", "serial": "\(serial)", "reason": "\(reason.name)"])
        return signer
    }
}
