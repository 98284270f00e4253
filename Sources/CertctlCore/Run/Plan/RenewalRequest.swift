public import ACME
public import Foundation

/// `certctl renew` and `certctl revoke`: what the operator asks of the run, carried out under
/// the run's lock like every other write (README "certctl renew", "certctl revoke").
public struct RenewalRequest: Sendable, Equatable {
    /// The certificates (`namespace/secret`) to mark for re-issue, clearing a failure's back-off.
    public var certificates: Set<String>
    /// Issue them in this run (`--now`); otherwise only mark them for the next.
    public var issueNow: Bool
    /// `certctl revoke`: the certificates are revoked first (each only while its Secret still
    /// holds the serial the command saw).
    public var revocation: Revocation?

    public init(certificates: Set<String>, issueNow: Bool, revocation: Revocation? = nil) {
        self.certificates = certificates
        self.issueNow = issueNow
        self.revocation = revocation
    }
}

/// What `certctl revoke` asks: RFC 5280's reason, and the serial of each certificate it saw
/// (by `namespace/secret`).
public struct Revocation: Sendable, Equatable {
    public var reason: RevocationReason
    public var serials: [String: String]

    public init(reason: RevocationReason, serials: [String: String]) {
        self.reason = reason
        self.serials = serials
    }
}

/// What a renewal request did to one certificate.
public struct RenewalMark: Sendable, Equatable {
    public var certificate: String
    /// The Secret exists (else the mark went to its pending record, or nowhere).
    public var hasSecret: Bool
    /// The mark was stored (a certificate with no Secret and no record needs none: it is due).
    public var stored: Bool
    /// The failure back-off it cleared, and until when that held.
    public var clearedBackOff: Date?
    public var failureCount: Int
    /// The CA's rate limit, which still holds it until then.
    public var rateLimitedUntil: Date?
    /// `certctl revoke`: what the CA revoked, and how it was asked.
    public var revoked: String?
    /// Why a mark that was needed could not be stored (the lock lost, another run's record,
    /// the API server): the command failed for this certificate.
    public var notStored: String?
}
