import ACME
import Kubernetes

/// Why an issuance failed, in a few stable words: what metrics (`reason` labels), the record on
/// the Secret, the status, Events and the summary read, instead of searching the message.
public enum FailureKind: String, Sendable, CaseIterable {
    /// The CA's `rateLimited` (429): wait for its Retry-After.
    case rateLimited = "rate_limited"
    /// The CA could not be reached (connection, TLS, DNS).
    case caUnreachable = "ca_unreachable"
    /// A request to the CA took longer than `--acme-timeout`, or the order its deadline.
    case timeout
    /// A challenge failed: the CA could not validate, or the solver could not set it up.
    case challenge
    /// The CA refused otherwise (a problem document, an invalid order).
    case caRefused = "ca_refused"
    /// The issuer, the names or the Secret need the operator (a bad issuer, too many names, a
    /// Secret of another type or immutable).
    case configuration
    /// The Kubernetes API server refused or failed.
    case apiServer = "api_server"
    case other

    /// The kind of `error`.
    public static func of(_ error: any Error) -> FailureKind {
        switch error {
        case let acme as ACMEError:
            if acme.isRateLimited { return .rateLimited }
            switch acme.code {
            case .transport: return .caUnreachable
            case .timeout: return .timeout
            case .authorizationInvalid, .noSupportedChallenge, .challengeSetup: return .challenge
            case .invalidConfiguration, .unsupported, .invalidAccountKey, .identifiersChanged: return .configuration
            case .problem, .orderInvalid, .invalidResponse: return .caRefused
            }
        case is KubernetesError:
            return .apiServer
        case let certctl as CertctlError:
            switch certctl.code {
            case .challenge: return .challenge
            case .secretBlocked: return .configuration
            default: return certctl.isConfigurationError ? .configuration : .other
            }
        default:
            return .other
        }
    }
}

extension FailureKind {
    /// The CA could not issue: it did not answer, answered too slowly, refused or rate-limited.
    /// Another CA may issue then (README, "When the CA fails"); a challenge, the configuration or
    /// the API server would fail it the same way.
    public var isCAUnavailable: Bool {
        switch self {
        case .rateLimited, .caUnreachable, .timeout, .caRefused: true
        case .challenge, .configuration, .apiServer, .other: false
        }
    }
}
