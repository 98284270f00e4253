import Basics
public import Foundation

/// Which of a CA's limits: the three a run's orders meet, as Let's Encrypt names them.
public enum RateLimitKind: String, Sendable, Codable, CaseIterable {
    /// New Orders per Account.
    case newOrders = "orders"
    /// New Certificates per Registered Domain.
    case registeredDomain = "domain"
    /// New Certificates per Exact Set of Identifiers (duplicates).
    case nameSet = "names"
    /// A `rateLimited` answer whose detail names no limit certctl knows.
    case unknown
}

/// One issuer's CA limits on this account's orders and certificates, each a count per sliding
/// window; nil: that limit is not kept. Set per issuer with the `certctl.io/rate-limits`
/// annotation (``parse(_:object:)``); Let's Encrypt's are ``letsEncrypt`` and
/// ``letsEncryptStaging``, other CAs have none unless set.
public struct RateLimits: Sendable, Equatable, CustomStringConvertible {
    /// At most `count` in any `window` seconds.
    public struct Limit: Sendable, Equatable {
        public var count: Int
        public var window: TimeInterval

        public init(count: Int, window: TimeInterval) {
            self.count = count
            self.window = window
        }
    }

    /// New orders per account.
    public var newOrders: Limit?
    /// Certificates per registered domain (``RegisteredDomain/limitKey(_:)``), each registered
    /// domain of a certificate counting it once.
    public var registeredDomain: Limit?
    /// Certificates per identical set of names (duplicates).
    public var nameSet: Limit?
    /// Whether an order carrying ARI's `replaces` (RFC 9773 §5) is exempt from every limit.
    public var replacesExempt: Bool

    public init(
        newOrders: Limit? = nil, registeredDomain: Limit? = nil, nameSet: Limit? = nil, replacesExempt: Bool = false
    ) {
        self.newOrders = newOrders
        self.registeredDomain = registeredDomain
        self.nameSet = nameSet
        self.replacesExempt = replacesExempt
    }

    /// No limits kept: every order goes.
    public static let none = RateLimits()

    /// Let's Encrypt's production limits (https://letsencrypt.org/docs/rate-limits/, updated
    /// 2025-06-12): 300 new orders per account per 3 hours; 50 new certificates per registered
    /// domain per 7 days; 5 new certificates per exact set of identifiers per 7 days. "Renewals
    /// coordinated by ARI offer the unique benefit of being exempt from all rate limits": an
    /// order with `replaces` naming a certificate it shares a name with, not replaced before.
    /// (Non-ARI renewals, the same set of names again, are exempt from the first two as well;
    /// certctl does not count on that: it cannot know the CA's memory of the set.)
    public static let letsEncrypt = RateLimits(
        newOrders: Limit(count: 300, window: 3 * 3600),
        registeredDomain: Limit(count: 50, window: 7 * 86_400),
        nameSet: Limit(count: 5, window: 7 * 86_400),
        replacesExempt: true)

    /// Let's Encrypt's staging environment (https://letsencrypt.org/docs/staging-environment/,
    /// updated 2025-05-12): the same limits with other values: 1500 new orders per account per 3
    /// hours, 30000 certificates per exact set of identifiers per week, and 30000 per registered
    /// domain, which the page gives "per second", taken here per week (a week counts higher).
    public static let letsEncryptStaging = RateLimits(
        newOrders: Limit(count: 1500, window: 3 * 3600),
        registeredDomain: Limit(count: 30_000, window: 7 * 86_400),
        nameSet: Limit(count: 30_000, window: 7 * 86_400),
        replacesExempt: true)

    /// True when no limit is kept.
    public var isNone: Bool { newOrders == nil && registeredDomain == nil && nameSet == nil }

    /// The limit of `kind`; nil for one not kept and for `.unknown`.
    public func limit(_ kind: RateLimitKind) -> Limit? {
        switch kind {
        case .newOrders: newOrders
        case .registeredDomain: registeredDomain
        case .nameSet: nameSet
        case .unknown: nil
        }
    }

    /// The limits of one account that `self` and `other` both order with: each kind kept by
    /// either, and where both keep it the fewer in the longer window (within both of them),
    /// `replaces` exempt only where both say so.
    public func merged(with other: RateLimits) -> RateLimits {
        func stricter(_ a: Limit?, _ b: Limit?) -> Limit? {
            guard let a, let b else { return a ?? b }
            return Limit(count: min(a.count, b.count), window: max(a.window, b.window))
        }
        return RateLimits(
            newOrders: stricter(newOrders, other.newOrders),
            registeredDomain: stricter(registeredDomain, other.registeredDomain),
            nameSet: stricter(nameSet, other.nameSet),
            // An issuer that keeps no limits says nothing of `replaces`.
            replacesExempt: isNone
                ? other.replacesExempt : other.isNone ? replacesExempt : replacesExempt && other.replacesExempt)
    }

    /// The longest window of the limits kept, zero for none: what a ledger must remember.
    public var longestWindow: TimeInterval {
        [newOrders, registeredDomain, nameSet].compactMap { $0?.window }.max() ?? 0
    }

    /// The setting that reads back as these limits (`orders=300/3h, domain=50/168h, ...`).
    public var description: String {
        guard !isNone else { return "none" }
        var items: [String] = []
        for kind in [RateLimitKind.newOrders, .registeredDomain, .nameSet] {
            if let limit = limit(kind) {
                items.append("\(kind.rawValue)=\(limit.count)/\(Self.duration(limit.window))")
            }
        }
        if replacesExempt { items.append("replaces=exempt") }
        return items.joined(separator: ", ")
    }

    /// `seconds` as the shortest Go duration that says it exactly (`3h`, `90m`, `45s`).
    static func duration(_ seconds: TimeInterval) -> String {
        let whole = Bounded.int(seconds.rounded(), in: 0...Bounded.int(Bounded.longestDuration))
        if whole % 3600 == 0 { return "\(whole / 3600)h" }
        if whole % 60 == 0 { return "\(whole / 60)m" }
        return "\(whole)s"
    }
}
