import Foundation

extension RateBudget {
    /// The counted events of each limit, ascending, as the ledger holds them and as the plan
    /// admits more, and the ledger's refusals.
    struct Tally {
        let limits: RateLimits
        var orders: [Date]
        var domains: [String: [Date]]
        var nameSets: [String: [Date]]
        /// The ledger's refusals of every order (`newOrders`), and the others by the keys they
        /// concern: a candidate looks at its own only, however many the ledger holds.
        let everyOrder: [RateLedger.Refusal]
        let refusalsByKey: [String: [RateLedger.Refusal]]

        init(limits: RateLimits, ledger: RateLedger) {
            self.limits = limits
            let exempt = limits.replacesExempt
            func counted(_ events: [RateLedger.Event]) -> [Date] {
                events.filter { !(exempt && $0.replaces) }.map(\.at).sorted()
            }
            orders = counted(ledger.orders)
            domains = ledger.domains.mapValues(counted)
            nameSets = ledger.nameSets.mapValues(counted)
            everyOrder = ledger.refusals.filter { $0.limit == .newOrders }
            var byKey: [String: [RateLedger.Refusal]] = [:]
            for refusal in ledger.refusals where refusal.limit != .newOrders {
                for key in Set(refusal.keys) { byKey[key, default: []].append(refusal) }
            }
            refusalsByKey = byKey
        }

        /// What holds `candidate` back at `time`, the limit that frees last; nil when it can go.
        func hold(_ candidate: Counted, at time: Date) -> Hold? {
            let concerning = everyOrder + (candidate.domains + [candidate.nameSet]).flatMap { refusalsByKey[$0] ?? [] }
            var holds = concerning.compactMap { refusal -> Hold? in
                guard refusal.until > time, applies(refusal, to: candidate) else { return nil }
                return Hold(until: refusal.until, limit: refusal.limit, refused: true, keys: refusal.keys)
            }
            if !candidate.exempt {
                if let limit = limits.newOrders, let until = Self.frees(orders, limit, at: time) {
                    holds.append(Hold(until: until, limit: .newOrders, refused: false, keys: []))
                }
                for domain in candidate.domains {
                    guard let limit = limits.registeredDomain,
                        let until = Self.frees(domains[domain] ?? [], limit, at: time)
                    else { continue }
                    holds.append(Hold(until: until, limit: .registeredDomain, refused: false, keys: [domain]))
                }
                if let limit = limits.nameSet,
                    let until = Self.frees(nameSets[candidate.nameSet] ?? [], limit, at: time)
                {
                    holds.append(Hold(until: until, limit: .nameSet, refused: false, keys: []))
                }
            }
            return holds.max { $0.until < $1.until }
        }

        /// `hold` in words: `50 certificates per registered domain per 168h (example.org)`, or
        /// `the CA answered rateLimited (domain) for example.org`.
        func reason(_ hold: Hold) -> String {
            let keys = hold.keys.joined(separator: ", ")
            if hold.refused {
                return "the CA answered rateLimited (\(hold.limit.rawValue))" + (keys.isEmpty ? "" : " for \(keys)")
            }
            guard let limit = limits.limit(hold.limit) else { return hold.limit.rawValue }
            let what: String
            switch hold.limit {
            case .newOrders: what = "new orders per account"
            case .registeredDomain: what = "certificates per registered domain"
            case .nameSet, .unknown: what = "certificates per set of names"
            }
            return "\(limit.count) \(what) per \(RateLimits.duration(limit.window))"
                + (keys.isEmpty ? "" : " (\(keys))")
        }

        /// Whether `refusal` holds `candidate`: a limit the CA exempts it from does not.
        private func applies(_ refusal: RateLedger.Refusal, to candidate: Counted) -> Bool {
            switch refusal.limit {
            case .newOrders: !candidate.exempt
            case .registeredDomain: !candidate.exempt && !Set(refusal.keys).isDisjoint(with: candidate.domains)
            case .nameSet: !candidate.exempt && refusal.keys.contains(candidate.nameSet)
            case .unknown: refusal.keys.contains(candidate.nameSet)
            }
        }

        /// Counts `candidate` as ordered and issued at `time`.
        mutating func admit(_ candidate: Counted, at time: Date) {
            guard !candidate.exempt else { return }
            Self.insert(time, into: &orders)
            for domain in candidate.domains { Self.insert(time, into: &domains[domain, default: []]) }
            Self.insert(time, into: &nameSets[candidate.nameSet, default: []])
        }

        /// Keeps `events` ascending (a ledger's events may lie after the plan's `now`).
        private static func insert(_ time: Date, into events: inout [Date]) {
            let index = events.lastIndex { $0 <= time }.map { $0 + 1 } ?? 0
            events.insert(time, at: index)
        }

        /// When `events` (ascending) leave room for one more under `limit`, if none is left at
        /// `time`: when the oldest whose leaving makes room leaves the window.
        static func frees(_ events: [Date], _ limit: RateLimits.Limit, at time: Date) -> Date? {
            let start = time.addingTimeInterval(-limit.window)
            // The first event inside the window (after `start`), by bisection.
            var low = 0
            var high = events.count
            while low < high {
                let middle = low + (high - low) / 2
                if events[middle] > start { high = middle } else { low = middle + 1 }
            }
            let inWindow = events.count - low
            guard inWindow >= limit.count else { return nil }
            return events[low + inWindow - limit.count].addingTimeInterval(limit.window)
        }

    }
}
