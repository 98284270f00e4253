public import Basics

/// A failure certctl reports to the operator: what, which object, and what to do.
public struct CertctlError: ReportedError {
    public enum Code: String, Sendable {
        case invalidIssuer
        case unknownIssuer
        case invalidName
        case invalidArgument
        case io
        case issuance
        case invalidManifest
        /// A challenge could not be set up or self-checked (the solver's objects, its pod).
        case challenge
        /// The Secret cannot take a new certificate (another type, immutable, being deleted).
        case secretBlocked
        /// The run lost its lock (taken over, or not renewed for its term): no new order.
        case lockLost
        /// Another run holds the lock: a command that must not run beside it did nothing.
        case lockHeld
        /// Another run wrote the object since this one read it: its write is kept, this one's dropped.
        case superseded
    }

    public var code: Code
    /// The object concerned (`issuers/pebble.yaml`, `default/kubelego-tls-binder`).
    public var object: String?
    public var reason: String

    public init(_ code: Code, object: String? = nil, _ reason: String) {
        self.code = code
        self.object = object
        self.reason = reason
    }

    /// Configuration and usage errors map to exit codes 64 and up.
    public var isConfigurationError: Bool {
        switch code {
        case .invalidIssuer, .unknownIssuer, .invalidName, .invalidArgument, .invalidManifest: true
        case .io, .issuance, .challenge, .secretBlocked, .lockLost, .lockHeld, .superseded: false
        }
    }
}
