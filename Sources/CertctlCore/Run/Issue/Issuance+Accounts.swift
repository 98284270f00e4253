import ACME
import Basics
import Certificates
import Foundation
import Logging

/// The issue stage's accounts: each issuer's ACME account opened, and the orders a killed run
/// kept beside it read, once per run and only when a certificate needs them.
extension Issuance {
    /// The issuer's ACME client on its stored (or a new) account.
    func openAccount(_ issuer: Issuer) async -> Result<ACMEClient, CertificateFailure> {
        do {
            // An account registered by a run that lost its lock could not be saved.
            try keeper.requireHeld(before: "account registration")
            return .success(
                try await progress.tracking("issuer \(issuer.name)") {
                    try await AccountSession.open(
                        issuer: issuer, store: accounts, secrets: secrets, transport: transport, logger: logger,
                        observer: observer, requestTimeout: options.acmeRequestTimeout)
                })
        } catch {
            logger.error("cannot use the ACME account", metadata: ["issuer": "\(issuer.name)", "error": "\(error)"])
            return .failure(CertificateFailure(error))
        }
    }

    /// The orders a killed run kept beside the issuer's account (read from the cluster, no CA
    /// asked); those for certificates nothing asks for any more are forgotten.
    func readKeptOrders(_ issuer: Issuer) async -> [String: OrderInFlight] {
        guard let orders else { return [:] }
        do {
            let (found, problems) = try await orders.orders(for: issuer)
            for problem in problems { warnings.add("order-in-flight", problem) }
            var own = found.filter { $0.value.issuer == issuer.name }
            for id in own.keys.sorted() where !wanted.contains(id) && options.scope.contains(Self.namespace(of: id)) {
                // Nothing asks for that certificate any more: its order will not be picked up.
                await keptOrders.forget(id, issuer: issuer)
                own[id] = nil
                logger.notice(
                    "forgot an order in flight no Ingress or Gateway asks for any more",
                    metadata: ["secret": "\(id)", "issuer": "\(issuer.name)"])
            }
            return own
        } catch {
            warnings.add(
                "order-in-flight",
                "cannot read the orders in flight of issuer \(issuer.name); an order a killed run finalized may be made again: \(error)"
            )
            return [:]
        }
    }
}

/// The ACME accounts of one issue stage and the orders kept beside them, each opened (or read)
/// once, when the first certificate needs it: an issuer that is only a fallback is never asked
/// on a good day (its kept orders are read from the cluster only), and two issuers falling back
/// to one share its account.
actor OpenedAccounts {
    typealias Opened = (Result<ACMEClient, CertificateFailure>, [String: OrderInFlight])
    private var clients: [IssuerKey: Task<Result<ACMEClient, CertificateFailure>, Never>] = [:]
    private var orders: [IssuerKey: Task<[String: OrderInFlight], Never>] = [:]

    func open(_ issuer: Issuer, with issuance: Issuance) async -> Opened {
        let task =
            clients[issuer.key]
            ?? {
                let task = Task { await issuance.openAccount(issuer) }
                clients[issuer.key] = task
                return task
            }()
        let client = await task.value
        // An account that cannot be used has no orders to pick up now.
        guard case .success = client else { return (client, [:]) }
        return (client, await keptOrders(issuer, with: issuance))
    }

    func keptOrders(_ issuer: Issuer, with issuance: Issuance) async -> [String: OrderInFlight] {
        if let task = orders[issuer.key] { return await task.value }
        let task = Task { await issuance.readKeptOrders(issuer) }
        orders[issuer.key] = task
        return await task.value
    }
}
