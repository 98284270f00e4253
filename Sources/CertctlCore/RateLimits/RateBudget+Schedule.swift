import Foundation

extension RateBudget {
    /// When each candidate can go: at `now`, then at each time a limit frees room, the most
    /// urgent waiting candidates that can go then (candidates come most urgent first: a lower
    /// index is more urgent).
    ///
    /// A held candidate waits on what holds it last (the limit whose room comes latest, or a
    /// refusal's end), in that limit's queue by urgency. When a limit has room, its most urgent
    /// waiting candidate is tried, then the next while room is left; one that another limit
    /// still holds waits on that one. Room only comes later as more are admitted, so nothing is
    /// tried before it can go, and each candidate is tried about once per limit that holds it:
    /// `O(n log n)` where trying every waiting candidate at each time one frees is `O(n²)`.
    struct Schedule {
        var tally: Tally
        let counted: [Counted]
        let limits: RateLimits
        /// What held each candidate at the start; absent: admitted then.
        var firstHold: [Int: Hold] = [:]
        /// When each held candidate can go.
        var going: [Int: Date] = [:]

        /// A limit's queue: a registered domain's, a name set's, the account's orders', or a
        /// refusal's timer (its candidates go when it ends).
        enum Waiting: Hashable {
            case orders
            case domain(String)
            case names(String)
            case timer
        }

        private var queues: [Waiting: Heap<Int>] = [:]
        /// Times to look again: a limit's next room, or a candidate's refusal ending.
        private var events = Heap<Event>()
        private var scheduled: [Waiting: Date] = [:]

        struct Event: Comparable {
            var time: Date
            var limit: Waiting
            /// The candidate a refusal's timer wakes.
            var candidate: Int

            static func < (lhs: Event, rhs: Event) -> Bool {
                lhs.time != rhs.time ? lhs.time < rhs.time : lhs.candidate < rhs.candidate
            }
        }

        init(tally: Tally, candidates: [Candidate], limits: RateLimits) {
            self.tally = tally
            self.limits = limits
            counted = candidates.map { Counted($0, limits: limits) }
        }

        mutating func run(from now: Date) {
            for index in counted.indices {
                if let hold = tally.hold(counted[index], at: now) {
                    firstHold[index] = hold
                    wait(index, on: hold, at: now)
                } else {
                    tally.admit(counted[index], at: now)
                }
            }
            // A backstop: each candidate is tried about once per limit that holds it.
            var budget = 16 * counted.count + 1024
            while budget > 0, let first = events.pop() {
                let time = first.time
                var ready = Heap<Int>()
                var due = [first]
                while let next = events.peek(), next.time == time, let popped = events.pop() { due.append(popped) }
                var fired: [Waiting] = []
                for event in due {
                    if event.limit == .timer {
                        ready.push(event.candidate)
                    } else if scheduled[event.limit] == time {
                        scheduled[event.limit] = nil
                        fired.append(event.limit)
                        if let index = queues[event.limit]?.pop() { ready.push(index) }
                    }
                }
                while let index = ready.pop() {
                    budget -= 1
                    if let hold = tally.hold(counted[index], at: time) {
                        wait(index, on: hold, at: time)
                    } else {
                        tally.admit(counted[index], at: time)
                        going[index] = time
                    }
                    // Each limit with room left at this time tries its next waiting candidate.
                    for limit in limits(of: counted[index]) where hasRoom(limit, at: time) {
                        if let next = queues[limit]?.pop() {
                            ready.push(next)
                            fired.append(limit)
                        }
                    }
                }
                // Only a limit that fired can have waiting candidates and nothing scheduled (one
                // that got a new one this time was scheduled then).
                for limit in fired where queues[limit]?.isEmpty == false && scheduled[limit] == nil {
                    schedule(limit, after: time)
                }
            }
        }

        /// The limits `candidate` counts under.
        private func limits(of candidate: Counted) -> [Waiting] {
            guard !candidate.exempt else { return [] }
            var all: [Waiting] = []
            if limits.newOrders != nil { all.append(.orders) }
            if limits.registeredDomain != nil { all += candidate.domains.map { .domain($0) } }
            if limits.nameSet != nil { all.append(.names(candidate.nameSet)) }
            return all
        }

        private func events(of limit: Waiting) -> ([Date], RateLimits.Limit)? {
            switch limit {
            case .orders: limits.newOrders.map { (tally.orders, $0) }
            case .domain(let key): limits.registeredDomain.map { (tally.domains[key] ?? [], $0) }
            case .names(let key): limits.nameSet.map { (tally.nameSets[key] ?? [], $0) }
            case .timer: nil
            }
        }

        private func hasRoom(_ limit: Waiting, at time: Date) -> Bool {
            guard let (events, rule) = events(of: limit) else { return false }
            return Tally.frees(events, rule, at: time) == nil
        }

        /// Puts `index` in the queue of what holds it at `time`.
        private mutating func wait(_ index: Int, on hold: Hold, at time: Date) {
            let limit: Waiting =
                if hold.refused {
                    .timer
                } else {
                    switch hold.limit {
                    case .newOrders: .orders
                    case .registeredDomain: .domain(hold.keys.first ?? "")
                    case .nameSet: .names(counted[index].nameSet)
                    case .unknown: .timer
                    }
                }
            if limit == .timer {
                events.push(Event(time: hold.until, limit: .timer, candidate: index))
                return
            }
            queues[limit, default: Heap()].push(index)
            if scheduled[limit] == nil { schedule(limit, after: time) }
        }

        /// The next time `limit` has room after `time` (its hold's end), to try its queue then.
        private mutating func schedule(_ limit: Waiting, after time: Date) {
            guard let (events, rule) = events(of: limit) else { return }
            let when = Tally.frees(events, rule, at: time) ?? time
            scheduled[limit] = when
            self.events.push(Event(time: when, limit: limit, candidate: -1))
        }
    }
}

/// A binary min-heap.
struct Heap<Element: Comparable> {
    private var items: [Element] = []

    var isEmpty: Bool { items.isEmpty }

    func peek() -> Element? { items.first }

    mutating func push(_ element: Element) {
        items.append(element)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return first }
        items[0] = last
        var parent = 0
        while true {
            let (left, right) = (2 * parent + 1, 2 * parent + 2)
            var smallest = parent
            if left < items.count, items[left] < items[smallest] { smallest = left }
            if right < items.count, items[right] < items[smallest] { smallest = right }
            guard smallest != parent else { return first }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
