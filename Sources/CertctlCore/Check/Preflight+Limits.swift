import Foundation

/// `certctl check`'s line on an issuer's CA limits (README, "When the CA fails"): the limits
/// kept, what the account's ledger has spent of them, and a `rateLimited` answer still holding.
extension Preflight {
    func limits(_ issuer: Issuer, now: Date) async -> [Result] {
        let limits = issuer.rateLimits
        guard !limits.isNone else { return [] }
        let (read, warning) = await RateLedgers.read(issuer, from: place.ledgers, now: now)
        guard let ledger = read else {
            return [Result(.warning, "limits", "\(warning ?? ""); a run counts only its own orders")]
        }
        var results = [
            Result(.ok, "limits", "issuer \(issuer.name): \(limits); \(Self.spent(ledger, limits, now: now))")
        ]
        if let warning { results.append(Result(.warning, "limits", "issuer \(issuer.name): \(warning)")) }
        for refusal in ledger.refusals where refusal.until > now {
            let keys = refusal.keys.isEmpty ? "every order" : "orders for \(refusal.keys.joined(separator: ", "))"
            results.append(
                Result(
                    .warning, "limits",
                    "issuer \(issuer.name): the CA answered rateLimited (\(refusal.limit.rawValue)) at \(RenewalRecord.format(refusal.at)); \(keys) wait until \(RenewalRecord.format(refusal.until))"
                ))
        }
        return results
    }

    /// What the ledger counts against each limit now: `12 of 300 new orders in 3h, ...`.
    static func spent(_ ledger: RateLedger, _ limits: RateLimits, now: Date) -> String {
        func counted(_ events: [RateLedger.Event], _ limit: RateLimits.Limit) -> Int {
            let start = now.addingTimeInterval(-limit.window)
            return events.filter { $0.at > start && !(limits.replacesExempt && $0.replaces) }.count
        }
        var parts: [String] = []
        if let limit = limits.newOrders {
            parts.append(
                "\(counted(ledger.orders, limit)) of \(limit.count) new orders in the last \(RateLimits.duration(limit.window))"
            )
        }
        if let limit = limits.registeredDomain {
            let busiest = ledger.domains.map { ($0.key, counted($0.value, limit)) }.max {
                $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 > $1.0)
            }
            parts.append(
                busiest.map { "\($0.1) of \(limit.count) certificates for \($0.0), the busiest registered domain" }
                    ?? "no certificate for any registered domain in the last \(RateLimits.duration(limit.window))")
        }
        return "this account: " + parts.joined(separator: ", ")
    }
}
