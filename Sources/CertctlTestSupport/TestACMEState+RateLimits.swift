import Basics
import CertctlCore
import Foundation
import Transport

/// The in-process CA's rate limits (``TestACMEServer/Behaviour/rateLimits``), kept as Let's
/// Encrypt's Boulder keeps them (https://letsencrypt.org/docs/rate-limits/, Boulder's
/// `ratelimits` package): each a token bucket (GCRA: capacity `count`, one back every
/// `window / count`), not the sliding window certctl's budget counts with, so a test of the
/// budget against it is a test against the CA's arithmetic, not the budget's own.
///
/// At newOrder, New Orders per Account is spent, and New Certificates per Registered Domain and
/// per Exact Set of Identifiers are checked; those two are spent when the certificate is issued.
/// A refused newOrder spends nothing and answers 429 `rateLimited` with Retry-After and
/// Boulder's detail. Exempt: an order whose `replaces` the CA accepted, from every limit (when
/// `replacesExempt`); an order for a set of names issued before (Let's Encrypt's non-ARI
/// renewal), from the first two.
extension TestACMEState {
    /// What an order is exempt from, decided at newOrder.
    enum LimitExemption: Sendable {
        case none
        /// A set of names issued before: only the exact-set limit counts it.
        case renewal
        /// `replaces` accepted by a CA that exempts it: no limit counts it.
        case ari
    }

    func limitExemption(names: [String], replaces: String?) -> LimitExemption {
        guard let limits = behaviour.rateLimits else { return .none }
        if replaces != nil && limits.replacesExempt { return .ari }
        let set = Set(names.map { $0.lowercased() })
        return certificates.values.contains { Set($0.names.map { $0.lowercased() }) == set } ? .renewal : .none
    }

    /// The limits' refusal of a newOrder by `account` for `names`; nil when every limit has
    /// room, and then the order is spent.
    func rateLimitRefusal(account: String, names: [String], exemption: LimitExemption) -> ServerResponse? {
        guard let limits = behaviour.rateLimits, exemption != .ari else { return nil }
        let now = behaviour.now()
        var checks: [(key: String, limit: RateLimits.Limit, detail: (String) -> String)] = []
        if exemption == .none {
            if let limit = limits.newOrders {
                checks.append(("orders:\(account)", limit, { Self.ordersDetail(limit, $0) }))
            }
            if let limit = limits.registeredDomain {
                for domain in RateLedger.registeredDomains(names) {
                    checks.append(("domain:\(domain)", limit, { Self.domainDetail(limit, domain, $0) }))
                }
            }
        }
        if let limit = limits.nameSet {
            checks.append(("names:\(RateLedger.nameSetKey(names))", limit, { Self.nameSetDetail(limit, $0) }))
        }
        // As Boulder's batch: refused if any refuses, with the longest wait; nothing spent then.
        let refused = checks.compactMap { check -> (TimeInterval, String)? in
            let (allowed, _, retryIn) = Self.spend(check.limit, tat: buckets[check.key], now: now)
            return allowed ? nil : (retryIn, check.detail(Self.retryAfterText(now.addingTimeInterval(retryIn))))
        }.max { $0.0 < $1.0 }
        if let (retryIn, detail) = refused {
            var response = problem(429, "rateLimited", detail)
            response.headers.set("Retry-After", "\(Bounded.int(retryIn.rounded(.up)))")
            return response
        }
        if exemption == .none, let limit = limits.newOrders {
            buckets["orders:\(account)"] = Self.spend(limit, tat: buckets["orders:\(account)"], now: now).newTAT
        }
        return nil
    }

    /// Spends the certificate limits for a certificate issued for `names`.
    func spendIssuance(names: [String], exemption: LimitExemption) {
        guard let limits = behaviour.rateLimits, exemption != .ari else { return }
        let now = behaviour.now()
        var spends: [(String, RateLimits.Limit)] = []
        if exemption == .none, let limit = limits.registeredDomain {
            spends += RateLedger.registeredDomains(names).map { ("domain:\($0)", limit) }
        }
        if let limit = limits.nameSet { spends.append(("names:\(RateLedger.nameSetKey(names))", limit)) }
        for (key, limit) in spends {
            let (allowed, newTAT, _) = Self.spend(limit, tat: buckets[key], now: now)
            if allowed { buckets[key] = newTAT }
        }
    }

    /// Boulder's `maybeSpend` for a cost of one: the bucket is full when its theoretical arrival
    /// time (TAT) is now or past; a spend moves it one emission interval on, and is refused when
    /// that would put it more than the window ahead of now, until it no longer would.
    static func spend(_ limit: RateLimits.Limit, tat: Date?, now: Date) -> (
        allowed: Bool, newTAT: Date, retryIn: TimeInterval
    ) {
        // Whole milliseconds, truncated, as Boulder's whole nanoseconds: `count` intervals fit the window.
        let interval = Double(Bounded.int(limit.window * 1000) / max(limit.count, 1)) / 1000
        let newTAT = max(tat ?? now, now).addingTimeInterval(interval)
        let ahead = newTAT.timeIntervalSince(now) - limit.window
        // A millisecond's slack for `Date`'s floating point.
        return ahead > 0.001 ? (false, tat ?? now, ahead) : (true, newTAT, 0)
    }

    // MARK: Let's Encrypt's words

    static let documentation = "https://letsencrypt.org/docs/rate-limits/"

    static func ordersDetail(_ limit: RateLimits.Limit, _ retry: String) -> String {
        "too many new orders (\(limit.count)) from this account in the last \(goDuration(limit.window)), "
            + "retry after \(retry): see \(documentation)#new-orders-per-account"
    }

    static func domainDetail(_ limit: RateLimits.Limit, _ domain: String, _ retry: String) -> String {
        "too many certificates (\(limit.count)) already issued for \"\(domain)\" in the last "
            + "\(goDuration(limit.window)), retry after \(retry): see \(documentation)#new-certificates-per-registered-domain"
    }

    static func nameSetDetail(_ limit: RateLimits.Limit, _ retry: String) -> String {
        "too many certificates (\(limit.count)) already issued for this exact set of identifiers in the last "
            + "\(goDuration(limit.window)), retry after \(retry): see \(documentation)#new-certificates-per-exact-set-of-identifiers"
    }

    /// Go's `time.Duration.String()` of whole seconds: `3h0m0s`, `168h0m0s`, `1m30s`, `45s`.
    static func goDuration(_ seconds: TimeInterval) -> String {
        let whole = Bounded.int(seconds.rounded())
        let (hours, minutes, rest) = (whole / 3600, whole % 3600 / 60, whole % 60)
        if hours > 0 { return "\(hours)h\(minutes)m\(rest)s" }
        return minutes > 0 ? "\(minutes)m\(rest)s" : "\(rest)s"
    }

    /// Go's `2006-01-02 15:04:05 MST` in UTC, as Boulder writes the retry time.
    static func retryAfterText(_ date: Date) -> String {
        Timestamp.rfc3339(date).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }
}
