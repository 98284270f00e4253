import Certificates
public import Foundation

/// The Prometheus exposition of certificates and runs (``Exposition``). Labels
/// name objects, never key material: `namespace`, `secret`, `ingress` (the objects asking for
/// the certificate; a Gateway or ListenerSet by `Kind/name`), `issuer`, `object_kind` (`Ingress`,
/// `Gateway`, `ListenerSet`; several comma-separated) and `serial`, `profile`, `key_type` on the
/// info metric.
public enum CertificateMetrics {
    /// What a run adds to the certificate metrics.
    public struct RunFigures: Sendable {
        public var finished: Date
        public var duration: Duration
        public var succeeded: Bool
        /// Requests by (action, HTTP status or "error").
        public var acmeRequests: [RequestKey: Int]
        public var issued: Int
        public var failed: Int
        public var rateLimited: Int
        /// Failed issuances by reason (`rate_limited`, `ca_unreachable`, `challenge`, `other`).
        public var failuresByReason: [String: Int] = [:]
        /// Requests to the API server by (verb, status or "error"), and those sent again by reason.
        public var kubernetesRequests: [RequestKey: Int] = [:]
        public var kubernetesRetries: [String: Int] = [:]
        /// The counters of all runs (``RunReport/counts`` keys): the `_total` metrics export
        /// these when known, so that they only ever grow; else the run's own counts.
        public var totals: [String: Int]?

        public init(
            finished: Date,
            duration: Duration,
            succeeded: Bool,
            acmeRequests: [RequestKey: Int],
            issued: Int,
            failed: Int,
            rateLimited: Int
        ) {
            self.finished = finished
            self.duration = duration
            self.succeeded = succeeded
            self.acmeRequests = acmeRequests
            self.issued = issued
            self.failed = failed
            self.rateLimited = rateLimited
        }

        /// The run's own counts, under the totals' keys (when no totals are known).
        var ownCounts: [String: Int] {
            var counts = ["rate_limited": rateLimited, "issuances|issued": issued, "issuances|failed": failed]
            for (key, count) in acmeRequests { counts["acme_requests|\(key.action)|\(key.status)"] = count }
            for (reason, count) in failuresByReason { counts["failures|\(reason)"] = count }
            for (key, count) in kubernetesRequests {
                counts["kubernetes_requests|\(key.action)|\(key.status)"] = count
            }
            for (reason, count) in kubernetesRetries { counts["kubernetes_retries|\(reason)"] = count }
            return counts
        }
    }

    public struct RequestKey: Hashable, Sendable {
        public var action: String
        public var status: String

        public init(action: String, status: String) {
            self.action = action
            self.status = status
        }
    }

    /// - Parameter lastSuccess: when a run last succeeded, as recorded on the run lock (the
    ///   exporter's source); a run's own figures take precedence.
    /// - Parameter problems: misconfigured objects, counted by `certctl_problems{namespace,kind}`.
    public static func render(
        _ statuses: [CertificateStatus], problems: [ObjectProblem] = [], run: RunFigures? = nil,
        lastSuccess: Date? = nil
    ) -> String {
        exposition(statuses, problems: problems, run: run, lastSuccess: lastSuccess).text
    }

    /// ``render(_:problems:run:lastSuccess:)`` as UTF-8 bytes, as the exporter serves it (no
    /// String of 10 MB beside them).
    public static func renderBytes(
        _ statuses: [CertificateStatus], problems: [ObjectProblem] = [], lastSuccess: Date? = nil
    ) -> [UInt8] {
        exposition(statuses, problems: problems, run: nil, lastSuccess: lastSuccess).bytes
    }

    private static func exposition(
        _ statuses: [CertificateStatus], problems: [ObjectProblem], run: RunFigures?, lastSuccess: Date?
    ) -> Exposition {
        var out = Exposition()
        for status in statuses { certificate(status, into: &out) }
        var counts: [CertificateStatus.State: Int] = [:]
        for status in statuses { counts[status.state, default: 0] += 1 }
        for state in CertificateStatus.State.allCases {
            out.gauge(
                "certctl_certificates", "Certificates by state.", labels: [("state", state.rawValue)],
                Double(counts[state] ?? 0))
        }
        let problemCounts = Dictionary(grouping: problems) { [$0.namespace ?? "", $0.kind.rawValue] }.mapValues(\.count)
        for (labels, count) in problemCounts.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            out.gauge(
                "certctl_problems",
                "Objects to act on by namespace and kind (misconfigured ones make no certificate; orphaned Secrets are named by nothing); certctl status lists them.",
                labels: [("namespace", labels[0]), ("kind", labels[1])], Double(count))
        }
        if let success = run.flatMap({ $0.succeeded ? $0.finished : nil }) ?? lastSuccess {
            out.gauge(
                "certctl_run_last_success_timestamp_seconds", "When a run last finished with every certificate valid.",
                success.timeIntervalSince1970)
        }
        if let run { runFigures(run, into: &out) }
        return out
    }

    /// The series of one certificate.
    private static func certificate(_ status: CertificateStatus, into out: inout Exposition) {
        let labels = [
            ("namespace", status.desired.namespace),
            ("secret", status.desired.secretName),
            ("ingress", status.desired.objectNames.joined(separator: ",")),
            ("issuer", status.desired.issuer),
            ("object_kind", status.desired.objectKinds.joined(separator: ",")),
        ]
        func gauge(_ name: String, _ help: String, _ value: Double, extra: [(String, String)] = []) {
            out.gauge(name, help, labels: labels + extra, value)
        }
        let valid = status.summary != nil && ![.expired, .missing, .invalid].contains(status.state)
        gauge(
            "certctl_certificate_ready", "1 when the Secret holds a valid certificate for the Ingress's hosts.",
            valid ? 1 : 0)
        if let summary = status.summary {
            gauge(
                "certctl_certificate_not_after_timestamp_seconds", "When the certificate expires.",
                summary.notAfter.timeIntervalSince1970)
            gauge(
                "certctl_certificate_not_before_timestamp_seconds", "When the certificate became valid.",
                summary.notBefore.timeIntervalSince1970)
            gauge(
                "certctl_certificate_info",
                "The certificate's identity; value 1.",
                1,
                extra: [
                    ("serial", summary.serialHex), ("profile", status.record.profile ?? ""),
                    ("key_type", summary.keyType?.rawValue ?? "unknown"),
                ]
            )
            // Only while it stands in: ten thousand certificates of their own issuers add no series.
            if let fallback = status.fallbackIssuer {
                gauge(
                    "certctl_certificate_fallback",
                    "1 while the certificate is one a fallback issuer (issued_by) issued because the certificate's own issuer could not; absent otherwise.",
                    1, extra: [("issued_by", fallback)])
            }
        }
        schedule(status, labels: labels, into: &out)
    }

    /// The series of when certctl acts on a certificate: its renewal, the CA's window, the
    /// limits and failures that hold it.
    private static func schedule(_ status: CertificateStatus, labels: [(String, String)], into out: inout Exposition) {
        func gauge(_ name: String, _ help: String, _ value: Double, extra: [(String, String)] = []) {
            out.gauge(name, help, labels: labels + extra, value)
        }
        // Only while the CA's limits hold it back (README, "When the CA fails").
        if case .limited(let deferral) = status.action.kind {
            gauge(
                "certctl_certificate_rate_limited_until_timestamp_seconds",
                "When a certificate its CA's limits hold back can be ordered (limit: orders, domain or names); absent when none holds it.",
                deferral.until.timeIntervalSince1970, extra: [("limit", deferral.limit.rawValue)])
        }
        if let renewal = status.renewalTime {
            gauge(
                "certctl_certificate_renewal_timestamp_seconds",
                "When certctl renews the certificate (ARI choice or 2/3 of its lifetime).",
                renewal.timeIntervalSince1970)
        }
        if let start = status.record.ariWindowStart, let end = status.record.ariWindowEnd {
            gauge(
                "certctl_certificate_ari_window_start_timestamp_seconds",
                "Start of the CA's suggested renewal window (RFC 9773).", start.timeIntervalSince1970)
            gauge(
                "certctl_certificate_ari_window_end_timestamp_seconds",
                "End of the CA's suggested renewal window (RFC 9773).", end.timeIntervalSince1970)
        }
        if let until = status.record.dnsPersistUntil, status.record.serial == status.summary?.serialHex {
            gauge(
                "certctl_certificate_dns_persist_until_timestamp_seconds",
                "When the dns-persist-01 records that authorized the certificate's names expire (persistUntil).",
                until.timeIntervalSince1970)
        }
        gauge("certctl_certificate_failures", "Consecutive failed renewals.", Double(status.record.failureCount))
        if let next = status.record.nextAttempt {
            gauge(
                "certctl_certificate_next_attempt_timestamp_seconds",
                "No ACME request before then (back-off or rate limit).", next.timeIntervalSince1970)
        }
    }

    /// What a run adds: its duration and the counters of all runs.
    private static func runFigures(_ run: RunFigures, into out: inout Exposition) {
        let seconds = Double(run.duration.components.seconds) + Double(run.duration.components.attoseconds) / 1e18
        out.gauge("certctl_run_duration_seconds", "How long the last run took.", seconds)
        let totals = run.totals ?? run.ownCounts
        func series(_ prefix: String) -> [(labels: [String], count: Int)] {
            totals.filter { $0.key.hasPrefix(prefix + "|") }.map {
                (Array($0.key.split(separator: "|").dropFirst().map(String.init)), $0.value)
            }.sorted { $0.labels.lexicographicallyPrecedes($1.labels) }
        }
        for (labels, count) in series("acme_requests") where labels.count == 2 {
            out.counter(
                "certctl_acme_requests_total", "ACME requests of all runs.",
                labels: [("action", labels[0]), ("status", labels[1])], count)
        }
        for (labels, count) in series("kubernetes_requests") where labels.count == 2 {
            out.counter(
                "certctl_kubernetes_requests_total", "Requests to the Kubernetes API server of all runs.",
                labels: [("verb", labels[0]), ("code", labels[1])], count)
        }
        for (labels, count) in series("kubernetes_retries") where labels.count == 1 {
            out.counter(
                "certctl_kubernetes_retries_total",
                "Requests to the API server sent again, all runs, by reason (throttled, unavailable, unreachable, no_answer).",
                labels: [("reason", labels[0])], count)
        }
        for result in ["failed", "issued"] {
            out.counter(
                "certctl_issuances_total", "Issuances of all runs by result.", labels: [("result", result)],
                totals["issuances|\(result)"] ?? 0)
        }
        for (labels, count) in series("failures") where labels.count == 1 {
            out.counter(
                "certctl_run_failures_total", "Failed issuances of all runs by reason.",
                labels: [("reason", labels[0])], count)
        }
        out.counter(
            "certctl_rate_limited_total", "Orders the CA refused with rateLimited, all runs.",
            totals["rate_limited"] ?? 0)
    }
}
