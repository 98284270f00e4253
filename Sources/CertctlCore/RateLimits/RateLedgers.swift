public import Foundation

/// The accounts' rate ledgers as `status` and the exporter read them.
public enum RateLedgers {
    /// The ledger of each issuer that keeps limits, read from `store` (one read per account);
    /// one that cannot be read is left out (its certificates show no hold) and named in `notes`.
    public static func read(issuers: [IssuerKey: Issuer], from store: any LedgerStore, now: Date) async
        -> (ledgers: [IssuerKey: RateLedger], notes: [String])
    {
        var ledgers: [IssuerKey: RateLedger] = [:]
        var notes: [String] = []
        for (key, issuer) in issuers where !issuer.rateLimits.isNone {
            do {
                let (ledger, warning) = RateLedger.decoded(
                    try await store.ledger(for: issuer), now: now, limits: issuer.rateLimits,
                    object: store.ledgerPlace(for: issuer))
                ledgers[key] = ledger
                if let warning { notes.append(warning) }
            } catch {
                notes.append(
                    "cannot read the rate ledger of issuer \(key.named) in \(store.ledgerPlace(for: issuer)) (\(error)): what its CA's limits hold back is not shown"
                )
            }
        }
        return (ledgers, notes)
    }
}
