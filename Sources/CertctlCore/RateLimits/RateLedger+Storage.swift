import Basics
public import Foundation

/// The ledger as the account's Secret keeps it (``RateLedger/secretKey``): compact JSON, times
/// as whole seconds since 1970 (rounded up: an event is never taken for older than it is),
/// each event `[time, 1 if it carried replaces else 0]`:
///
///     {"domains":{"example.org":[[1767225600,0]]},"names":{"3f…":[[1767225600,0]]},
///      "orders":[[1767225590,0]],"refusals":[{"at":…,"keys":[],"limit":"orders","until":…}],"version":1}
///
/// Read back from a Secret anyone with write access may have changed: never trapping, bounded
/// (``maximumBytes``, ``RateLedger/maximumEvents``, ``RateLedger/maximumRefusals``), times held
/// to `now` (an event from the future counts as now, a refusal holds at most a week, as the CA's
/// Retry-After does, ``Transport/RetryAfter/acme``), and an unreadable one read as empty with a
/// warning, for the run to log: the next write replaces it.
extension RateLedger {
    /// The most a stored ledger may be: a Secret's whole limit (1 MiB).
    public static let maximumBytes = 1 << 20
    /// Keys (registered domains, name-set keys) longer than this are not ones certctl wrote.
    static let longestKey = 300

    private struct Stored: Codable {
        var version: Int
        var orders: [StoredEvent]?
        var domains: [String: [StoredEvent]]?
        var names: [String: [StoredEvent]]?
        var refusals: [StoredRefusal]?
    }

    private struct StoredEvent: Codable {
        var at: Int
        var replaces: Bool

        init(_ event: Event) {
            at = Bounded.int(event.at.timeIntervalSince1970.rounded(.up))
            replaces = event.replaces
        }

        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            at = try container.decode(Int.self)
            replaces = try container.decode(Int.self) != 0
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            try container.encode(at)
            try container.encode(replaces ? 1 : 0)
        }
    }

    private struct StoredRefusal: Codable {
        var at: Int
        var until: Int
        var limit: String
        var keys: [String]
    }

    /// The ledger pruned to `limits` at `now` (``prune(now:limits:)``), as the Secret keeps it.
    public func encoded(now: Date, limits: RateLimits) -> String {
        var ledger = self
        ledger.prune(now: now, limits: limits)
        var text = ledger.json()
        // Within its share of the account's Secret, whatever the names: the oldest go first
        // (the budget then counts low, and the CA's rateLimited answer, recorded, holds the rest).
        while text.utf8.count > Self.maximumStoredBytes, ledger.eventCount > 0 || !ledger.refusals.isEmpty {
            if ledger.eventCount > 0 {
                ledger.capEvents(to: ledger.eventCount * 3 / 4)
            } else {
                // The ones that end first go first.
                ledger.refusals.sort { $0.until < $1.until }
                ledger.refusals.removeFirst(max(ledger.refusals.count / 4, 1))
            }
            text = ledger.json()
        }
        return text
    }

    /// The most a stored ledger takes of the account's Secret (whose limit is 1 MiB in all, the
    /// account's key and its orders in flight among it).
    public static let maximumStoredBytes = 256 << 10

    private func json() -> String {
        let ledger = self
        let stored = Stored(
            version: 1, orders: ledger.orders.map(StoredEvent.init),
            domains: ledger.domains.mapValues { $0.map(StoredEvent.init) },
            names: ledger.nameSets.mapValues { $0.map(StoredEvent.init) },
            refusals: ledger.refusals.map {
                StoredRefusal(
                    at: Bounded.int($0.at.timeIntervalSince1970.rounded(.up)),
                    until: Bounded.int($0.until.timeIntervalSince1970.rounded(.up)), limit: $0.limit.rawValue,
                    keys: $0.keys)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(stored)).map { String(decoding: $0, as: UTF8.self) } ?? #"{"version":1}"#
    }

    /// The ledger `data` holds, pruned to `limits` at `now`; nil data (no ledger yet) is an
    /// empty one. Anything unreadable is an empty ledger and a warning naming `object` (the
    /// account's Secret) and what happens; what is read but out of bounds is dropped, warned.
    public static func decoded(_ data: Data?, now: Date, limits: RateLimits, object: String? = nil) -> (
        ledger: RateLedger, warning: String?
    ) {
        let place = "\(object ?? "the account's Secret") \(secretKey)"
        guard let data else { return (RateLedger(), nil) }
        let restart = "; starting an empty ledger, so this run counts only its own orders against the CA's limits"
        guard data.count <= maximumBytes else {
            return (RateLedger(), "\(place) is \(data.count) bytes, more than a ledger can be\(restart)")
        }
        let stored: Stored
        do {
            stored = try JSONDecoder().decode(Stored.self, from: data)
        } catch {
            return (
                RateLedger(),
                "\(place) is not a ledger certctl wrote (\(Bounded.excerpt("\(error)", limit: 120)))\(restart)"
            )
        }
        guard stored.version == 1 else {
            return (RateLedger(), "\(place) is version \(stored.version), which this certctl does not read\(restart)")
        }
        var (ledger, dropped) = read(stored, now: now)
        var notes: [String] = []
        if dropped > 0 { notes.append("\(dropped) entries with keys no certctl writes were dropped") }
        if ledger.eventCount > maximumEvents {
            notes.append("it held \(ledger.eventCount) events, more than \(maximumEvents): the oldest were dropped")
        }
        ledger.prune(now: now, limits: limits)
        return (ledger, notes.isEmpty ? nil : "\(place): " + notes.joined(separator: "; "))
    }

    /// The stored ledger as a ledger, times held to `now`, and how many entries were dropped.
    private static func read(_ stored: Stored, now: Date) -> (RateLedger, Int) {
        func event(_ stored: StoredEvent) -> Event {
            Event(at: min(Bounded.date(secondsSince1970: stored.at), now), replaces: stored.replaces)
        }
        func events(_ list: [StoredEvent]) -> [Event] { list.map(event).sorted { $0.at < $1.at } }
        var ledger = RateLedger()
        var dropped = 0
        func keyed(_ map: [String: [StoredEvent]]?) -> [String: [Event]] {
            var result: [String: [Event]] = [:]
            for (key, list) in map ?? [:] where !list.isEmpty {
                guard !key.isEmpty, key.utf8.count <= longestKey else {
                    dropped += 1
                    continue
                }
                result[key] = events(list)
            }
            return result
        }
        ledger.orders = events(stored.orders ?? [])
        ledger.domains = keyed(stored.domains)
        ledger.nameSets = keyed(stored.names)
        let latest = now.addingTimeInterval(7 * 86_400)
        for refusal in stored.refusals ?? [] {
            guard refusal.keys.count <= 100, refusal.keys.allSatisfy({ $0.utf8.count <= longestKey }) else {
                dropped += 1
                continue
            }
            ledger.refusals.append(
                Refusal(
                    at: min(Bounded.date(secondsSince1970: refusal.at), now),
                    until: min(Bounded.date(secondsSince1970: refusal.until), latest),
                    limit: RateLimitKind(rawValue: refusal.limit) ?? .unknown, keys: refusal.keys))
        }
        ledger.capRefusals()
        return (ledger, dropped)
    }

    // MARK: The CA's words

    /// Which limit a `rateLimited` problem's detail names, as Let's Encrypt words them (Boulder's
    /// `ratelimits` errors: "too many new orders (300) from this account in the last 3h0m0s",
    /// "too many certificates (50) already issued for \"example.org\" in the last 168h0m0s",
    /// "too many certificates (5) already issued for this exact set of identifiers in the last
    /// 168h0m0s", each followed by "retry after …: see https://letsencrypt.org/docs/rate-limits/#…"),
    /// and the registered domain a per-domain refusal names.
    public static func limitNamed(in detail: String?) -> (limit: RateLimitKind, domain: String?) {
        guard let detail = detail.map({ String($0.prefix(4096)).lowercased() }) else { return (.unknown, nil) }
        if detail.contains("too many new orders") || detail.contains("#new-orders-per-account") {
            return (.newOrders, nil)
        }
        if detail.contains("exact set of") || detail.contains("#new-certificates-per-exact-set")
            || detail.contains("duplicate-certificate-limit")
        {
            return (.nameSet, nil)
        }
        if detail.contains("too many certificates") || detail.contains("#new-certificates-per-registered-domain") {
            return (.registeredDomain, quotedDomain(in: detail))
        }
        return (.unknown, nil)
    }

    /// The first quoted name after "issued for" (`already issued for "example.org"`), when it
    /// can be a domain name.
    private static func quotedDomain(in detail: String) -> String? {
        guard let start = detail.range(of: "issued for \"") else { return nil }
        let rest = detail[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        let name = rest[..<end]
        guard !name.isEmpty, name.utf8.count <= 253,
            name.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0 != "/" })
        else { return nil }
        return String(name)
    }
}
