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
            let (ledger, note) = await read(issuer, from: store, now: now)
            ledgers[key] = ledger
            if let note { notes.append(ledger == nil ? "\(note): what its CA's limits hold back is not shown" : note) }
        }
        return (ledgers, notes)
    }

    /// `issuer`'s account's ledger, pruned to its limits at `now`, and what to say of it: nil
    /// and why when it cannot be read, an empty one and why when it is not a ledger certctl wrote.
    static func read(_ issuer: Issuer, from store: any LedgerStore, now: Date) async -> (RateLedger?, String?) {
        let place = store.ledgerPlace(for: issuer)
        do {
            return RateLedger.decoded(
                try await store.ledger(for: issuer), now: now, limits: issuer.rateLimits, object: place)
        } catch {
            return (nil, "cannot read the rate ledger of issuer \(issuer.key.named) in \(place) (\(error))")
        }
    }
}
