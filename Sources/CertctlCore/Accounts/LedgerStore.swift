public import Foundation
import Kubernetes

/// Where each ACME account's rate ledger is kept (``RateLedger/secretKey``), beside the account's
/// key and its orders in flight: what the account spent of its CA's limits (README, "When the
/// CA fails").
public protocol LedgerStore: Sendable {
    /// The stored ledger of `issuer`'s account, as stored; nil when there is none.
    func ledger(for issuer: Issuer) async throws -> Data?
    /// Stores `text` as the ledger of `issuer`'s account. Returns false, storing nothing, when
    /// the account is not stored yet (no order was made with it).
    func saveLedger(_ text: String, for issuer: Issuer) async throws -> Bool
    /// Where the ledger of `issuer`'s account is kept, for messages.
    func ledgerPlace(for issuer: Issuer) -> String
}

extension SecretOrderStore: LedgerStore {
    public func ledger(for issuer: Issuer) async throws -> Data? {
        do {
            let secret = try await client.get(
                Secret.self, namespace: issuer.namespace ?? namespace, name: issuer.accountKeySecret)
            return secret.data?[RateLedger.secretKey]
        } catch let error as KubernetesError where error.isNotFound {
            return nil
        }
    }

    public func saveLedger(_ text: String, for issuer: Issuer) async throws -> Bool {
        // A merge patch of that key alone: the account's key and orders stay as they are. No
        // Secret is made for it: an account Secret without a key is no account.
        var patch = SecretPatch(resourceVersion: nil)
        patch.data = [RateLedger.secretKey: Data(text.utf8)]
        do {
            _ = try await client.mergePatch(
                Secret.self, namespace: issuer.namespace ?? namespace, name: issuer.accountKeySecret,
                patch: patch.mergePatch)
            return true
        } catch let error as KubernetesError where error.isNotFound {
            return false
        }
    }

    public func ledgerPlace(for issuer: Issuer) -> String {
        "Secret \(issuer.namespace ?? namespace)/\(issuer.accountKeySecret)"
    }
}

extension LocalOrderStore: LedgerStore {
    private func ledgerPath(_ issuer: Issuer) -> String {
        ((directory as NSString).appendingPathComponent(issuer.accountKeySecret) as NSString)
            .appendingPathComponent(RateLedger.secretKey)
    }

    public func ledger(for issuer: Issuer) async throws -> Data? {
        AtomicFile.read(ledgerPath(issuer)).map { Data($0) }
    }

    public func saveLedger(_ text: String, for issuer: Issuer) async throws -> Bool {
        try AtomicFile.write(Array(text.utf8), to: ledgerPath(issuer), mode: 0o600)
        return true
    }

    public func ledgerPlace(for issuer: Issuer) -> String { ledgerPath(issuer) }
}
