import Basics
public import Foundation
import Transport

/// When a request to the API server is sent again, as client-go's `rest.Request` does (README,
/// "A busy or restarting API server"). The server did not act on a `429 TooManyRequests` (API
/// Priority and Fairness) or on a 5xx that carries `Retry-After`: any verb is sent again after
/// the time it asks. A connection that could not be made carried nothing: any verb is sent again
/// after a back-off. A request that went out and got no answer (a reset, a timeout, a 5xx
/// without `Retry-After`) may have been carried out: it is sent again only when that is safe.
public struct RequestRetry: Sendable, Equatable {
    /// Attempts in all, the first included (client-go: 10 retries).
    public var maximumAttempts: Int
    /// The longest wait a `Retry-After` is followed for (a longer one is cut to it).
    public var longestRetryAfter: TimeInterval
    /// The back-off without `Retry-After`: doubling from `firstBackOff` up to `longestBackOff`.
    public var firstBackOff: TimeInterval
    public var longestBackOff: TimeInterval

    public init(
        maximumAttempts: Int = 8, longestRetryAfter: TimeInterval = 30, firstBackOff: TimeInterval = 0.5,
        longestBackOff: TimeInterval = 8
    ) {
        self.maximumAttempts = maximumAttempts
        self.longestRetryAfter = longestRetryAfter
        self.firstBackOff = firstBackOff
        self.longestBackOff = longestBackOff
    }

    /// No request is sent again.
    public static let never = RequestRetry(maximumAttempts: 1)

    /// What sending a request again would do, by verb.
    public enum Safety: String, Sendable, Equatable, CaseIterable {
        /// get, list: sending again changes nothing.
        case read
        /// A create: sent again, a 409 AlreadyExists may be this client's own first attempt,
        /// which the client then checks.
        case create
        /// An update or patch with a resourceVersion precondition: the precondition decides
        /// (a second write of the same change meets 409 Conflict).
        case preconditioned
        /// A JSON merge patch (RFC 7386) or an update without precondition: applying it twice
        /// leaves what applying it once does.
        case idempotent
        /// A delete: sent again, a 404 means the first one was carried out.
        case delete
        /// A JSON patch (RFC 6902) without precondition: applying it twice may differ.
        case unsafe
    }

    /// What one attempt came to.
    public enum Outcome: Sendable, Equatable {
        /// An HTTP answer, with its `Retry-After` header.
        case answered(status: Int, retryAfter: String?)
        /// The connection could not be made: nothing was sent.
        case notConnected
        /// Sent, and no answer came (reset, closed, timed out): carried out or not, unknown.
        case noAnswer
    }

    /// Why a request is sent again, for the progress line and the metrics.
    public enum Reason: String, Sendable, Equatable {
        /// 429: the server asked to slow down.
        case throttled
        /// A 5xx: the server failed or is starting.
        case unavailable
        /// No connection could be made.
        case unreachable
        /// Sent, no answer.
        case noAnswer = "no_answer"
    }

    public enum Decision: Sendable, Equatable {
        /// Send again after `after` seconds.
        case retry(after: TimeInterval, Reason)
        /// The answer stands (a success, a refusal, or the last failure).
        case stop
    }

    /// The decision after attempt number `attempt` (1 for the first) came to `outcome`, for a
    /// request of `safety`, at `now`.
    public func decide(_ outcome: Outcome, safety: Safety, attempt: Int, now: Date = Date()) -> Decision {
        guard attempt < maximumAttempts else { return .stop }
        let backOff = min(firstBackOff * pow(2, Double(attempt - 1)), longestBackOff)
        let bounded = RetryAfter(bounds: 1...max(1, longestRetryAfter))
        switch outcome {
        case .answered(429, let header):
            return .retry(after: bounded.delay(header, now: now) ?? backOff, .throttled)
        case .answered(let status, let header?) where (500...599).contains(status):
            // The server says when to come back: it did not act on the request.
            return .retry(after: bounded.delay(header, now: now) ?? backOff, .unavailable)
        case .answered(let status, nil) where (500...599).contains(status):
            return safety == .unsafe ? .stop : .retry(after: backOff, .unavailable)
        case .answered:
            return .stop
        case .notConnected:
            return .retry(after: backOff, .unreachable)
        case .noAnswer:
            return safety == .unsafe ? .stop : .retry(after: backOff, .noAnswer)
        }
    }

    /// Whether a failed attempt may have been carried out by the server.
    static func mayHaveActed(_ outcome: Outcome) -> Bool {
        switch outcome {
        case .noAnswer: true
        case .answered(let status, nil): (500...599).contains(status)
        case .answered, .notConnected: false
        }
    }
}

/// One request sent again, as the client tells its `onRetry`.
public struct RetryEvent: Sendable {
    /// `get`, `list`, `create`, `update`, `patch`, `delete`.
    public var verb: String
    /// `Secret prod/tls-binder`, or the list.
    public var object: String
    public var reason: RequestRetry.Reason
    /// The answer's status, when there was one.
    public var status: Int?
    /// The attempt about to be made (2 for the first retry).
    public var attempt: Int
    public var delay: TimeInterval

    public init(
        verb: String, object: String, reason: RequestRetry.Reason, status: Int?, attempt: Int, delay: TimeInterval
    ) {
        self.verb = verb
        self.object = object
        self.reason = reason
        self.status = status
        self.attempt = attempt
        self.delay = delay
    }

    /// "the API server asked to retry after 1 s (429), 3rd try".
    public var description: String {
        let seconds = delay < 10 ? String(format: "%.1f", delay) : String(Bounded.int(delay))
        let why =
            switch reason {
            case .throttled, .unavailable:
                "the API server asked to retry after \(seconds) s (\(status.map(String.init) ?? "5xx"))"
            case .unreachable: "the API server could not be reached; again in \(seconds) s"
            case .noAnswer:
                status.map { "the API server failed (\($0)); again in \(seconds) s" }
                    ?? "the API server did not answer; again in \(seconds) s"
            }
        return "\(why), \(Self.ordinal(attempt)) try"
    }

    public static func ordinal(_ number: Int) -> String {
        let suffix =
            switch (number % 10, number % 100) {
            case (_, 11...13): "th"
            case (1, _): "st"
            case (2, _): "nd"
            case (3, _): "rd"
            default: "th"
            }
        return "\(number)\(suffix)"
    }
}

extension HTTPError {
    /// How the client counts the failure of a request that got no HTTP answer; nil for what
    /// another attempt cannot mend (a certificate not trusted, a request not made, a cancel).
    var retryOutcome: RequestRetry.Outcome? {
        switch code {
        case .connect: .notConnected
        case .timeout, .transfer: .noAnswer
        case .tls, .invalidRequest, .cancelled: nil
        }
    }
}

extension KubernetesClient {
    /// Whether `stored` holds every field of `sent` with its value (objects by key, arrays by
    /// position), leaving out what the server fills in on create.
    static func holds(_ stored: JSONValue, _ sent: JSONValue, path: [String]) -> Bool {
        switch (stored, sent) {
        case (.object(let stored), .object(let sent)):
            return sent.allSatisfy { key, value in
                if path == ["metadata"], ["resourceVersion", "uid", "creationTimestamp", "generation"].contains(key) {
                    return true
                }
                guard let have = stored[key] else { return value == .null }
                return holds(have, value, path: path + [key])
            }
        case (.array(let stored), .array(let sent)):
            return stored.count == sent.count && zip(stored, sent).allSatisfy { holds($0, $1, path: path + ["[]"]) }
        default:
            return stored == sent
        }
    }

    /// A JSON patch that tests `/metadata/resourceVersion` first is preconditioned.
    static func testsResourceVersion(_ operations: [JSONValue]) -> Bool {
        operations.contains { $0["op"] == .string("test") && $0["path"] == .string("/metadata/resourceVersion") }
    }

    /// Whether the API server serves `group` (`GET /apis/GROUP`: 200, or 404 where no CRD or
    /// aggregated API provides it). Every authenticated user may ask (system:discovery).
    public func serves(group: String) async throws -> Bool {
        do {
            _ = try await send(.get, path: "/apis/\(group)", verb: "get", object: "API group \(group)", safety: .read)
            return true
        } catch let error as KubernetesError where error.httpStatus == 404 {
            return false
        }
    }
}
