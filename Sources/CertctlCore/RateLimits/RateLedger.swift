import Basics
import Crypto
public import Foundation

/// What this account spent of its CA's limits, kept with the account (``secretKey`` in the
/// account's Secret): its new orders, its issued certificates by registered domain and by name
/// set, each with whether the order carried ARI's `replaces`, and the CA's `rateLimited` answers,
/// each holding back the orders it concerns until its Retry-After. ``RateBudget`` reads it.
///
/// Bounded: every write prunes it to its limits (``prune(now:limits:)``), and at most
/// ``maximumEvents`` events are kept in all, the oldest dropped beyond (a window holding more
/// of this account's issuances is past any CA's published limit; were one set higher, the
/// budget would count low, and the CA's `rateLimited` answer, recorded, holds the rest back).
public struct RateLedger: Sendable, Equatable {
    /// One new order, or one certificate issued.
    public struct Event: Sendable, Equatable, Hashable {
        public var at: Date
        /// Whether its order carried `replaces`.
        public var replaces: Bool

        public init(at: Date, replaces: Bool) {
            self.at = at
            self.replaces = replaces
        }
    }

    /// A `rateLimited` answer: no order it concerns goes before `until`.
    public struct Refusal: Sendable, Equatable {
        public var at: Date
        public var until: Date
        public var limit: RateLimitKind
        /// What it concerns: nothing for `newOrders` (every order); the registered domain for
        /// `registeredDomain`; the name set's key (``RateLedger/nameSetKey(_:)``) for `nameSet`;
        /// the refused order's name set for `unknown`.
        public var keys: [String]

        public init(at: Date, until: Date, limit: RateLimitKind, keys: [String]) {
            self.at = at
            self.until = until
            self.limit = limit
            self.keys = keys
        }
    }

    /// The data key of the account's Secret that holds the ledger (``encoded(now:limits:)``).
    public static let secretKey = "rate-ledger.json"
    /// Events kept in all (orders, and certificates by each key).
    public static let maximumEvents = 50_000
    /// `rateLimited` answers kept, the latest-ending ones.
    public static let maximumRefusals = 1000
    /// How long a `rateLimited` answer without a usable Retry-After holds.
    public static let defaultHold: TimeInterval = 3600

    /// New orders, oldest first.
    public internal(set) var orders: [Event] = []
    /// Certificates issued, by registered domain (``RegisteredDomain/limitKey(_:)``), oldest first.
    public internal(set) var domains: [String: [Event]] = [:]
    /// Certificates issued, by name set (``nameSetKey(_:)``), oldest first.
    public internal(set) var nameSets: [String: [Event]] = [:]
    public internal(set) var refusals: [Refusal] = []

    public init() {}

    /// Every event kept.
    public var eventCount: Int {
        orders.count + domains.values.reduce(0) { $0 + $1.count } + nameSets.values.reduce(0) { $0 + $1.count }
    }

    // MARK: Recording

    /// A new order the CA accepted (a `201` to newOrder).
    public mutating func recordOrder(at date: Date, replaces: Bool) {
        Self.insert(Event(at: date, replaces: replaces), into: &orders)
        capEvents()
    }

    /// A certificate the CA issued for `names`.
    public mutating func recordCertificate(names: [String], at date: Date, replaces: Bool) {
        let event = Event(at: date, replaces: replaces)
        for domain in Self.registeredDomains(names) { Self.insert(event, into: &domains[domain, default: []]) }
        Self.insert(event, into: &nameSets[Self.nameSetKey(names), default: []])
        capEvents()
    }

    /// The CA's `rateLimited` answer to an order for `names`: `detail` is its problem's detail,
    /// which names the limit when it is Let's Encrypt's; `retryAfter` its Retry-After (already
    /// bounded, ``Transport/RetryAfter/acme``), ``defaultHold`` from `date` without one.
    ///
    /// It holds the orders it concerns until then, and, for a limit of `limits`, it fills the
    /// limit's count: the CA counts what this ledger does not see (another cluster's orders in
    /// the registered domain, or on the account), so events are added that free one at a time
    /// from `until` on, one every `window / count`, as the CA's bucket refills. (Not for a count
    /// above ``maximumFill``: a refusal then only holds.)
    public mutating func recordRefusal(
        detail: String?, retryAfter: Date?, names: [String], at date: Date, limits: RateLimits = .none
    ) {
        let (limit, domain) = Self.limitNamed(in: detail)
        let keys: [String]
        switch limit {
        case .newOrders: keys = []
        // A domain's refusal that does not say which domain concerns all of the order's.
        case .registeredDomain: keys = domain.map { [RegisteredDomain.limitKey($0)] } ?? Self.registeredDomains(names)
        case .nameSet: keys = [Self.nameSetKey(names)]
        // A limit certctl does not know (failed authorizations, say) holds these names alone: one
        // tenant's failing host never holds the registered domain it shares.
        case .unknown: keys = [Self.nameSetKey(names)]
        }
        let until = max(retryAfter ?? date.addingTimeInterval(Self.defaultHold), date)
        refusals.append(Refusal(at: date, until: until, limit: limit, keys: keys))
        capRefusals()
        if let rule = limits.limit(limit), rule.count <= Self.maximumFill {
            switch limit {
            case .newOrders: Self.fill(&orders, rule, until: until, date: date, exempt: limits.replacesExempt)
            case .registeredDomain:
                for key in keys {
                    Self.fill(&domains[key, default: []], rule, until: until, date: date, exempt: limits.replacesExempt)
                }
            case .nameSet:
                for key in keys {
                    Self.fill(
                        &nameSets[key, default: []], rule, until: until, date: date, exempt: limits.replacesExempt)
                }
            case .unknown: break
            }
            capEvents()
        }
    }

    /// Takes back one certificate for `names` recorded at `date`, and the order with it unless
    /// `order` is false (a reservation that gave way to what the CA answered); what is not there
    /// (dropped by the cap) is passed over.
    mutating func takeBack(names: [String], at date: Date, replaces: Bool, order: Bool = true) {
        let event = Event(at: date, replaces: replaces)
        if order { Self.removeOne(event, from: &orders) }
        for domain in Self.registeredDomains(names) { Self.removeOne(event, from: &domains[domain]) }
        Self.removeOne(event, from: &nameSets[Self.nameSetKey(names)])
    }

    /// Removes the last `event` of `events` (searched from the end: a reservation is recent),
    /// and the key when none is left.
    private static func removeOne(_ event: Event, from events: inout [Event]?) {
        guard let index = events?.lastIndex(of: event) else { return }
        events?.remove(at: index)
        if events?.isEmpty == true { events = nil }
    }

    private static func removeOne(_ event: Event, from events: inout [Event]) {
        if let index = events.lastIndex(of: event) { events.remove(at: index) }
    }

    /// The largest count a refusal fills (``recordRefusal(detail:retryAfter:names:at:limits:)``).
    public static let maximumFill = 1000

    /// Adds to `events` what makes `rule`'s count full at `date`, the added ones leaving the
    /// window at `until`, `until + window / count`, and so on; none later than `date`.
    private static func fill(_ events: inout [Event], _ rule: RateLimits.Limit, until: Date, date: Date, exempt: Bool) {
        let start = date.addingTimeInterval(-rule.window)
        let counted = events.filter { $0.at > start && !(exempt && $0.replaces) }.count
        let interval = rule.window / Double(rule.count)
        for index in 0..<max(rule.count - counted, 0) {
            let at = min(until.addingTimeInterval(-rule.window + Double(index) * interval), date)
            Self.insert(Event(at: at, replaces: false), into: &events)
        }
    }

    // MARK: Keys

    /// The registered domains a certificate for `names` counts against, sorted, each once.
    public static func registeredDomains(_ names: [String]) -> [String] {
        Set(names.map(RegisteredDomain.limitKey)).sorted()
    }

    /// An identical set of names, whatever their order and case, as one short key: the first 96
    /// bits of the SHA-256 of the sorted lowercased names, in hex.
    public static func nameSetKey(_ names: [String]) -> String {
        let canonical = Set(
            names.map { name in
                var text = Substring(name.lowercased())
                if text.hasSuffix(".") { text = text.dropLast() }
                return String(text)
            }
        ).sorted().joined(separator: "\n")
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        for byte in SHA256.hash(data: Data(canonical.utf8)).prefix(12) {
            hex += [digits[Int(clamping: byte >> 4)], digits[Int(clamping: byte & 0x0F)]]
        }
        return String(decoding: hex, as: UTF8.self)
    }

    // MARK: Pruning

    /// Forgets what no limit counts any more: events older than their limit's window (all of a
    /// kind not kept), beyond the newest `count` of a key with and without `replaces` (all a
    /// count over the window can need), and refusals that ended by `now`.
    public mutating func prune(now: Date, limits: RateLimits) {
        orders = Self.pruned(orders, now: now, limit: limits.newOrders)
        domains = domains.compactMapValues { Self.pruned($0, now: now, limit: limits.registeredDomain).nonEmpty }
        nameSets = nameSets.compactMapValues { Self.pruned($0, now: now, limit: limits.nameSet).nonEmpty }
        refusals.removeAll { $0.until <= now }
        capEvents()
    }

    private static func pruned(_ events: [Event], now: Date, limit: RateLimits.Limit?) -> [Event] {
        guard let limit else { return [] }
        let start = now.addingTimeInterval(-limit.window)
        let recent = events.filter { $0.at > start }
        let plain = recent.filter { !$0.replaces }.suffix(limit.count)
        let replacing = recent.filter(\.replaces).suffix(limit.count)
        return (plain + replacing).sorted { $0.at < $1.at }
    }

    /// Holds the refusals to ``maximumRefusals``, keeping the latest-ending.
    mutating func capRefusals() {
        guard refusals.count > Self.maximumRefusals else { return }
        refusals.sort { $0.until > $1.until }
        refusals.removeLast(refusals.count - Self.maximumRefusals)
    }

    /// Holds the events to ``maximumEvents``, dropping the oldest.
    mutating func capEvents(to maximum: Int = maximumEvents) {
        let excess = eventCount - maximum
        guard excess > 0 else { return }
        var all = orders.map(\.at)
        for events in domains.values { all += events.map(\.at) }
        for events in nameSets.values { all += events.map(\.at) }
        all.sort()
        // Everything at or before the excess-th oldest time goes (ties with it too).
        let cut = all[excess - 1]
        orders.removeAll { $0.at <= cut }
        domains = domains.compactMapValues { $0.filter { $0.at > cut }.nonEmpty }
        nameSets = nameSets.compactMapValues { $0.filter { $0.at > cut }.nonEmpty }
    }

    static func insert(_ event: Event, into events: inout [Event]) {
        let index = events.lastIndex { $0.at <= event.at }.map { $0 + 1 } ?? 0
        events.insert(event, at: index)
    }
}

extension Array {
    /// Nil when empty, for `compactMapValues`.
    fileprivate var nonEmpty: [Element]? { isEmpty ? nil : self }
}
