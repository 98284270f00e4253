public import Basics
public import Foundation
import Transport

/// Every failure of the ACME client: a stable code, a sentence for the operator, and the CA's
/// problem document when there was one.
public struct ACMEError: ReportedError {
    public enum Code: String, Sendable {
        /// The CA answered with a problem document; see `problem`.
        case problem
        case transport
        case invalidResponse
        case invalidAccountKey
        case invalidConfiguration
        case orderInvalid
        case authorizationInvalid
        case noSupportedChallenge
        case identifiersChanged
        case timeout
        case unsupported
        case challengeSetup
    }

    public var code: Code
    public var reason: String
    public var problem: ACMEProblem?
    /// The URL of the request or resource concerned.
    public var url: String?
    /// When the CA said to come back (`Retry-After` of a 429 or 503).
    public var retryAfter: Date?

    public init(
        _ code: Code,
        _ reason: String,
        problem: ACMEProblem? = nil,
        url: String? = nil,
        retryAfter: Date? = nil
    ) {
        self.code = code
        self.reason = reason
        self.problem = problem
        self.url = url
        self.retryAfter = retryAfter
    }

    public var object: String? { url }
    public var isConfigurationError: Bool { code == .invalidConfiguration }

    /// True when the CA refused because of a rate limit.
    public var isRateLimited: Bool { problem?.kind == .rateLimited }

    public var description: String {
        var text = reason
        if let problem {
            text += ": \(problem)"
        }
        if let retryAfter {
            text += " (retry after \(Timestamp.rfc3339(retryAfter)))"
        }
        return text
    }
}
