import Basics
public import Foundation

/// Which certificates a run orders within its CA's limits, and when the rest can go: a pure
/// function of the limits, the account's ``RateLedger``, the time and the candidates.
///
/// Candidates come most urgent first and are admitted in that order while every limit has room,
/// each admitted one counted at once (as one new order, and one certificate for each of its
/// registered domains and for its name set): the 301st order of a run under Let's Encrypt's
/// 300 per 3 hours is deferred, so is the 51st certificate of one registered domain, and the
/// 6th of one set of names. A candidate that sends `replaces` to a CA that exempts it
/// (``RateLimits/replacesExempt``) is counted by no limit. A `rateLimited` answer in the ledger
/// holds the orders it concerns until its Retry-After, whatever the counts say (another cluster
/// may share the registered domain).
///
/// The limits are counted over sliding windows: at most `count` in any `window`. Let's Encrypt
/// counts with token buckets (capacity `count`, one back every `window / count`, GCRA); a
/// sequence that keeps to the sliding window keeps to the bucket too: the `k`-th order after
/// the `j`-th finds the bucket's debt at most `t_j + (k - j + 1) * window / count`, and as at
/// most `count` of them fall in each window back from `t_k`, that is at most `t_k + window`,
/// the bucket's capacity. The budget so never sends what the bucket refuses; it may hold back
/// what the bucket would take a little earlier (after a burst the bucket frees one every
/// `window / count`, the window all at once a window later: the same number per window).
public enum RateBudget {
    /// A certificate the run would order.
    public struct Candidate: Sendable, Equatable {
        /// The caller's name for it (a Secret's `namespace/name`).
        public var id: String
        public var names: [String]
        /// Whether its order will send ARI's `replaces`.
        public var replaces: Bool

        public init(id: String, names: [String], replaces: Bool) {
            self.id = id
            self.names = names
            self.replaces = replaces
        }
    }

    /// A candidate held back: when it can go, and which limit holds it now.
    public struct Deferral: Sendable, Equatable, CustomStringConvertible {
        public var id: String
        /// When it can go, if each run from now on orders what the budget allows, most urgent first.
        public var until: Date
        /// The limit holding it back now.
        public var limit: RateLimitKind
        /// That limit in words: `50 certificates per registered domain per 168h (example.org)`.
        public var reason: String

        /// `waits for the CA's limit until 2026-01-08T10:00:00Z (50 certificates per …)`.
        public var description: String {
            "waits for the CA's limit until \(Timestamp.rfc3339(until)) (\(reason))"
        }
    }

    /// What a run orders now, and what waits.
    public struct Plan: Sendable, Equatable {
        /// The candidates to order now, most urgent first.
        public var admitted: [String] = []
        /// The candidates held back, most urgent first.
        public var deferred: [Deferral] = []

        /// When the backlog clears: the time the last deferred candidate can go; nil when none waits.
        public var clearsAt: Date? { deferred.map(\.until).max() }
    }

    /// The plan for a run at `now` of `candidates`, most urgent first: at `now` and at each
    /// later time a limit frees room, the most urgent waiting candidates that can go then are
    /// admitted (``Schedule`` finds those times without trying every candidate at each).
    public static func plan(limits: RateLimits, ledger: RateLedger, now: Date, candidates: [Candidate]) -> Plan {
        var schedule = Schedule(tally: Tally(limits: limits, ledger: ledger), candidates: candidates, limits: limits)
        schedule.run(from: now)
        var plan = Plan()
        for (index, candidate) in schedule.counted.enumerated() {
            guard let hold = schedule.firstHold[index] else {
                plan.admitted.append(candidate.id)
                continue
            }
            // Past the backstop (never reached in practice), the first hold's own end stands.
            plan.deferred.append(
                Deferral(
                    id: candidate.id, until: schedule.going[index] ?? hold.until, limit: hold.limit,
                    reason: schedule.tally.reason(hold)))
        }
        return plan
    }

    /// What holds a candidate back at one time: until when, which limit, whether a refusal,
    /// and the keys concerned (``Tally/reason(_:)`` words it).
    struct Hold {
        var until: Date
        var limit: RateLimitKind
        var refused: Bool
        var keys: [String]
    }

    /// A candidate with the keys its limits count it under.
    struct Counted {
        var id: String
        var domains: [String]
        var nameSet: String
        /// Counted by no limit, nor held by a refusal of a limit the CA exempts it from.
        var exempt: Bool

        init(_ candidate: Candidate, limits: RateLimits) {
            id = candidate.id
            domains = RateLedger.registeredDomains(candidate.names)
            nameSet = RateLedger.nameSetKey(candidate.names)
            exempt = candidate.replaces && limits.replacesExempt
        }
    }
}

extension RateBudget {
    /// How urgent a due certificate is, for the order a budget admits them in (most urgent
    /// first): one with no usable certificate, then one inside its safety margin
    /// (``PlannedAction/urgent``), then the earlier expiry, then by name.
    public struct Urgency: Comparable, Sendable {
        /// The usable certificate's expiry; nil when there is none.
        public var notAfter: Date?
        public var urgent: Bool
        public var id: String

        public init(notAfter: Date?, urgent: Bool, id: String) {
            self.notAfter = notAfter
            self.urgent = urgent
            self.id = id
        }

        private var rank: Int { notAfter == nil ? 0 : urgent ? 1 : 2 }

        public static func < (lhs: Urgency, rhs: Urgency) -> Bool {
            if lhs.rank != rhs.rank { return lhs.rank < rhs.rank }
            let (left, right) = (lhs.notAfter ?? .distantPast, rhs.notAfter ?? .distantPast)
            return left != right ? left < right : lhs.id < rhs.id
        }
    }
}
