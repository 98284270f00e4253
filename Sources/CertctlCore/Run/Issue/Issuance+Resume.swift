import ACME
import Certificates
import Foundation
import Logging

/// The issue stage's kept orders: an order a killed run finalized, picked up instead of ordered
/// again (README, "Killed runs").
extension Issuance {
    /// The certificate of an order a killed run finalized, when that order is this
    /// certificate's (same names, issuer and account), recent (an order expires after days, and
    /// the CA's duplicate limit counts a week) and gives a certificate newer than the Secret's.
    /// Otherwise nil, and the kept order is forgotten.
    /// A CA that does not answer fails the certificate (the order is kept for the next run):
    /// ordering anew while a finalized order may still give the certificate is what must not happen.
    func resume(_ kept: OrderInFlight, _ entry: Inventory.Entry, issuer: Issuer, client: ACMEClient)
        async throws -> IssuedCertificate?
    {
        let desired = entry.desired
        let metadata: Logger.Metadata = ["secret": "\(desired.id)", "order": "\(kept.orderURL)"]
        let sameNames =
            Set(ACMEClient.identifiers(for: kept.names)) == Set(ACMEClient.identifiers(for: desired.hosts))
        let current = await client.accountURL
        guard sameNames, kept.account == current, now().timeIntervalSince(kept.since) < Self.orderLifetime else {
            logger.info("the order a previous run kept is not this certificate's any more", metadata: metadata)
            await keptOrders.forget(desired.id, issuer: issuer)
            return nil
        }
        let order = CertificateOrder(
            names: desired.hosts, key: kept.key, profile: kept.profile, replaces: kept.replaces,
            preferredChain: issuer.preferredChain)
        guard let resumed = try await client.resume(orderURL: kept.orderURL, order) else {
            await keptOrders.forget(desired.id, issuer: issuer)
            return nil
        }
        if let stored = entry.current?.summary, stored.notBefore >= CertificateSummary(resumed.chain.leaf).notBefore {
            // The Secret already holds this certificate (or a newer one): the order was stored.
            logger.info("the order a previous run kept was stored already", metadata: metadata)
            await keptOrders.forget(desired.id, issuer: issuer)
            return nil
        }
        // A certificate the run that kept the order did not store: counted against the limits now.
        await budgets.spend(
            .certificate(names: kept.names, replaces: kept.replaces != nil), certificate: desired.id, issuer: issuer)
        return resumed
    }

    /// How long a kept order is worth picking up: Let's Encrypt's orders live 7 days, and its
    /// duplicate-certificate limit counts the same 7 days.
    static let orderLifetime: TimeInterval = 7 * 86400
}
