import Basics
import Foundation
import Synchronization
import Transport

/// What a loaded or restarting API server answers, scheduled for the fake: a share of requests
/// throttled (`429 TooManyRequests` with `Retry-After`, as API Priority and Fairness answers), a
/// share `503` with `Retry-After`, a share of connections closed without an answer (half before
/// the server acted, half after: the client cannot tell which), and outage windows in which every
/// connection closes unanswered. Drawn from a seeded generator, so a failing run replays. With
/// nothing scheduled the fake answers as the recording says.
public struct FakeAPIFaults: Sendable, Equatable {
    public var tooManyRequests: Double
    public var unavailable: Double
    public var closed: Double
    /// The `Retry-After` of the 429s and 503s, in seconds.
    public var retryAfter: Int
    public var seed: UInt64

    public init(
        tooManyRequests: Double = 0, unavailable: Double = 0, closed: Double = 0, retryAfter: Int = 1,
        seed: UInt64 = 1
    ) {
        self.tooManyRequests = tooManyRequests
        self.unavailable = unavailable
        self.closed = closed
        self.retryAfter = retryAfter
        self.seed = seed
    }

    /// `429=0.2,503=0.05,close=0.03,retry-after=1,seed=7` (`certctl-fakeapi --faults`).
    public init(parsing text: String) throws {
        self.init()
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let value = Double(parts[1]) else {
                throw PebbleError(reason: "--faults: \"\(pair)\" is not NAME=NUMBER")
            }
            switch parts[0] {
            case "429": tooManyRequests = value
            case "503": unavailable = value
            case "close": closed = value
            case "retry-after": retryAfter = Bounded.int(value)
            case "seed": seed = UInt64(clamping: Bounded.int(value))
            default: throw PebbleError(reason: "--faults: \(parts[0]) is not 429, 503, close, retry-after or seed")
            }
        }
    }

    /// What one request meets.
    enum Injection: String, Sendable, CaseIterable {
        case throttled = "429"
        case unavailable = "503"
        case closedBefore = "closed before acting"
        case closedAfter = "closed after acting"
        case outage
    }
}

/// The fake's schedule as it runs: the draws, the outage, and what was injected.
final class FakeAPIFaultPlan: Sendable {
    private struct State {
        var faults = FakeAPIFaults()
        var random = SplitMix64(seed: 1)
        var outageUntil: ContinuousClock.Instant?
        var injected: [String: Int] = [:]
    }

    private let state = Mutex(State())

    func schedule(_ faults: FakeAPIFaults) {
        state.withLock {
            $0.faults = faults
            $0.random = SplitMix64(seed: faults.seed)
        }
    }

    func outage(for duration: Duration) {
        state.withLock { $0.outageUntil = .now + duration }
    }

    var injected: [String: Int] { state.withLock { $0.injected } }

    /// What the next API request meets; nil: an answer as the recording says.
    func draw() -> (FakeAPIFaults.Injection, retryAfter: Int)? {
        state.withLock { state in
            var injection: FakeAPIFaults.Injection?
            if let until = state.outageUntil, ContinuousClock.now < until {
                injection = .outage
            } else {
                let faults = state.faults
                let draw = state.random.nextDouble()
                if draw < faults.tooManyRequests {
                    injection = .throttled
                } else if draw < faults.tooManyRequests + faults.unavailable {
                    injection = .unavailable
                } else if draw < faults.tooManyRequests + faults.unavailable + faults.closed {
                    injection = state.random.nextDouble() < 0.5 ? .closedBefore : .closedAfter
                }
            }
            guard let injection else { return nil }
            state.injected[injection.rawValue, default: 0] += 1
            return (injection, state.faults.retryAfter)
        }
    }

    /// The fault's answer around the server's own (`answer` carries the request out).
    func apply(
        _ injection: FakeAPIFaults.Injection, retryAfter: Int, answer: () async -> ServerResponse
    ) async -> ServerResponse {
        switch injection {
        case .outage, .closedBefore:
            return .cut(.beforeResponse)
        case .closedAfter:
            return .cut(.beforeResponse, of: await answer())
        case .throttled:
            return Self.status(429, "TooManyRequests", "Too many requests, please try again later.", retryAfter)
        case .unavailable:
            return Self.status(
                503, "ServiceUnavailable", "The server is currently unable to handle the request", retryAfter)
        }
    }

    /// A `Status` body as kube-apiserver writes it, with `Retry-After`.
    static func status(_ code: Int, _ reason: String, _ message: String, _ retryAfter: Int) -> ServerResponse {
        let body =
            #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"\#(message)","reason":"\#(reason)","details":{"retryAfterSeconds":\#(retryAfter)},"code":\#(code)}"#
        return ServerResponse(
            status: code,
            headers: ["Content-Type": "application/json", "Retry-After": String(retryAfter)],
            body: Array(body.utf8))
    }
}
