public import Certificates
public import Foundation

/// What one run did with one certificate.
public struct CertificateReport: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// A new certificate is stored.
        case issued
        /// Renewal failed; `stillValid` says whether the Secret still serves a valid certificate.
        /// Boxed: a report of ten thousand is the size of the common case, not of a failure.
        indirect case failed(CertificateFailure, stillValid: Bool)
        /// Not due: nothing done.
        case unchanged
        /// Due, but held by a back-off or rate limit: no ACME request.
        case deferred
        /// The Secret cannot be written (another type).
        case blocked
        /// `--dry-run`: would be issued.
        case planned
    }

    @Boxed public var desired: DesiredCertificate
    public var action: PlannedAction
    public var outcome: Outcome
    /// The certificate in the Secret after the run.
    @Boxed public var summary: CertificateSummary?
    public var nextAttempt: Date?
    public var failureCount: Int
    /// The fallback issuer that issued it in this run, standing in for its own.
    public var fallbackIssuer: String?
    /// Why it failed, when it did.
    public var failureKind: FailureKind? {
        guard case .failed(let failure, _) = outcome else { return nil }
        return failure.kind
    }

    public init(
        desired: DesiredCertificate,
        action: PlannedAction,
        outcome: Outcome,
        summary: CertificateSummary?,
        nextAttempt: Date?,
        failureCount: Int
    ) {
        self.desired = desired
        self.action = action
        self.outcome = outcome
        self.summary = summary
        self.nextAttempt = nextAttempt
        self.failureCount = failureCount
    }

    /// Serving a valid certificate at `now` (a blocked one has a summary only when its Secret
    /// still holds a usable certificate: immutable or being deleted, not of another type).
    public func isValid(at now: Date) -> Bool {
        guard let summary else { return false }
        return summary.notBefore <= now && now < summary.notAfter
    }

    /// Less than a tenth of its lifetime left: about to expire whatever happens next.
    public func isCritical(at now: Date) -> Bool {
        guard let summary else { return true }
        return summary.notAfter.timeIntervalSince(now) < summary.lifetime / 10
    }
}

/// The whole run: every certificate, the problems with single objects, and the exit code.
public struct RunReport: Sendable {
    public var cluster: String
    public var certificates: [CertificateReport]
    public var problems: [ObjectProblem]
    /// Another run held the lock: this one did nothing.
    public var lockHeld: Bool
    /// Who held it, when the lock says (a Lease's holderIdentity).
    public var lockHolder: String?
    /// Why this run lost its lock midway (taken over, or not renewed for its term): it started
    /// no order after that and stored only what the CA had already issued.
    public var lockLost: String?
    /// What `certctl renew` marked, under the lock.
    public var marks: [RenewalMark] = []
    public var acmeRequests: Int
    public var acmeRequestsByAction: [CertificateMetrics.RequestKey: Int]
    /// Requests to the API server by (verb, status or "error").
    public var kubernetesRequests: [CertificateMetrics.RequestKey: Int]
    /// Requests to the API server sent again, by reason (``RequestRetry/Reason``).
    public var kubernetesRetries: [String: Int]
    /// What went wrong beside the certificates (``RunWarnings``), once each.
    public var warnings: [String]
    /// The counters of all runs so far, this one included (``RunReport/counts``), as kept beside
    /// the run lock; nil when they could not be read.
    public var totals: [String: Int]?

    public init(
        cluster: String,
        certificates: [CertificateReport],
        problems: [ObjectProblem],
        lockHeld: Bool,
        acmeRequests: Int,
        acmeRequestsByAction: [CertificateMetrics.RequestKey: Int] = [:],
        kubernetesRequests: [CertificateMetrics.RequestKey: Int] = [:],
        kubernetesRetries: [String: Int] = [:],
        warnings: [String] = []
    ) {
        self.kubernetesRequests = kubernetesRequests
        self.kubernetesRetries = kubernetesRetries
        self.warnings = warnings
        self.cluster = cluster
        self.certificates = certificates
        self.problems = problems
        self.lockHeld = lockHeld
        self.acmeRequests = acmeRequests
        self.acmeRequestsByAction = acmeRequestsByAction
    }

    /// The run's figures for the metrics.
    public func figures(finished: Date, duration: Duration) -> CertificateMetrics.RunFigures {
        var issued = 0
        var failed = 0
        var rateLimited = 0
        var reasons: [String: Int] = [:]
        for certificate in certificates {
            switch certificate.outcome {
            case .issued: issued += 1
            case .failed:
                failed += 1
                let kind = certificate.failureKind ?? .other
                if kind == .rateLimited { rateLimited += 1 }
                reasons[kind.rawValue, default: 0] += 1
            default: break
            }
        }
        var figures = CertificateMetrics.RunFigures(
            finished: finished,
            duration: duration,
            succeeded: exitCode(at: finished) == 0,
            acmeRequests: acmeRequestsByAction,
            issued: issued,
            failed: failed,
            rateLimited: rateLimited
        )
        figures.failuresByReason = reasons
        figures.kubernetesRequests = kubernetesRequests
        figures.kubernetesRetries = kubernetesRetries
        figures.totals = totals
        return figures
    }

    /// This run's counts, under the keys the totals are kept by.
    public var counts: [String: Int] {
        var counts: [String: Int] = ["rate_limited": 0, "issuances|issued": 0, "issuances|failed": 0]
        for (key, count) in acmeRequestsByAction {
            counts["acme_requests|\(key.action)|\(key.status)", default: 0] += count
        }
        for (key, count) in kubernetesRequests {
            counts["kubernetes_requests|\(key.action)|\(key.status)", default: 0] += count
        }
        for (reason, count) in kubernetesRetries { counts["kubernetes_retries|\(reason)", default: 0] += count }
        for certificate in certificates {
            switch certificate.outcome {
            case .issued: counts["issuances|issued", default: 0] += 1
            case .failed:
                counts["issuances|failed", default: 0] += 1
                let kind = certificate.failureKind ?? .other
                counts["failures|\(kind.rawValue)", default: 0] += 1
                if kind == .rateLimited { counts["rate_limited", default: 0] += 1 }
            default: break
            }
        }
        return counts
    }

    /// The README's exit codes: 0 all valid and none overdue; 1 a renewal failed but the certificate is still
    /// valid (or an object is misconfigured); 2 expired, missing or critical.
    public func exitCode(at now: Date) -> Int32 {
        var code: Int32 = problems.isEmpty && lockLost == nil ? 0 : 1
        for report in certificates {
            if report.outcome == .planned { continue }
            if !report.isValid(at: now) || report.isCritical(at: now) { return 2 }
            if case .failed = report.outcome { code = max(code, 1) }
            if report.outcome == .deferred || report.outcome == .blocked { code = max(code, 1) }
        }
        return code
    }
}
