extension Preflight {
    /// Each certificate a fallback of its issuer could not issue (a name none of the fallback's
    /// solvers serves, more names than its profile takes): a failure now, where the bad day
    /// would find it (README, "When the CA fails").
    func fallbackRefusals(_ inventory: Inventory) -> [Result] {
        var results: [Result] = []
        for entry in inventory.entries {
            guard let own = issuers[entry.desired.issuerKey] else { continue }
            for fallback in own.chain(in: issuers).dropFirst() {
                guard let refusal = Issuance.refusal(entry.desired, issuer: fallback) else { continue }
                results.append(
                    Result(
                        .failed, "fallback",
                        "\(fallback.key.named), a fallback of \(own.key.named), could not issue Secret \(entry.desired.id): \(refusal.reason)"
                    ))
            }
        }
        return results
    }
}
