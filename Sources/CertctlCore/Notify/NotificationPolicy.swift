import Certificates
public import Foundation

/// What to tell, and when: a certificate that turns Expiring, Expired (or Missing or Invalid) or
/// Failing, or gets a fallback issuer's certificate, is announced once, repeated no more often than the interval; one that comes back to
/// health is announced once as recovered. The last announcement is kept in the record.
public struct Notice: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case expiring, expired, failing, recovered, test
        /// A fallback issuer's certificate stands in: its own issuer's CA could not issue it.
        case fallback
    }

    public var kind: Kind
    public var secret: String
    public var namespace: String
    public var hosts: [String]
    public var state: String
    public var notAfter: Date?
    public var detail: String

    public init(
        kind: Kind, secret: String, namespace: String, hosts: [String], state: String, notAfter: Date?, detail: String
    ) {
        self.kind = kind
        self.secret = secret
        self.namespace = namespace
        self.hosts = hosts
        self.state = state
        self.notAfter = notAfter
        self.detail = detail
    }

    public var isResolved: Bool { kind == .recovered }

    public var severity: String {
        switch kind {
        case .expiring, .expired: "critical"
        case .failing, .fallback: "warning"
        case .recovered, .test: "info"
        }
    }

    public var line: String {
        let validity = notAfter.map { " (not after \(RenewalRecord.format($0)))" } ?? ""
        return
            "\(kind.rawValue.uppercased()): \(namespace)/\(secret) for \(hosts.joined(separator: ", ")) is \(state)\(validity). \(detail)"
    }
}

public enum NotificationPolicy {
    /// The alert a certificate calls for, nil when healthy: by its state, else a fallback
    /// issuer's certificate standing in (README, "When the CA fails").
    static func condition(_ status: CertificateStatus) -> Notice.Kind? {
        switch status.state {
        case .expired, .missing, .invalid: .expired
        case .expiring: .expiring
        case .failing: .failing
        case .due, .renewing, .ready: status.fallbackIssuer == nil ? nil : .fallback
        }
    }

    /// The notices due at `now`, each with the record to store once it is sent.
    public static func notices(for statuses: [CertificateStatus], interval: TimeInterval, now: Date) -> [(
        notice: Notice, status: CertificateStatus, record: RenewalRecord
    )] {
        var result: [(Notice, CertificateStatus, RenewalRecord)] = []
        for status in statuses {
            let last = status.record.notifiedState.flatMap(Notice.Kind.init(rawValue:))
            let current = condition(status)
            var record = status.record
            let kind: Notice.Kind
            if let current {
                // A fallback's certificate standing in is said once, not again each interval.
                let repeatDue =
                    current != .fallback
                    && status.record.notifiedAt.map { now.timeIntervalSince($0) >= interval } ?? true
                guard current != last || repeatDue else { continue }
                kind = current
                record.notifiedState = current.rawValue
            } else {
                guard let last, last != .recovered else { continue }
                kind = .recovered
                record.notifiedState = nil
            }
            record.notifiedAt = now
            let notice = Notice(
                kind: kind,
                secret: status.desired.secretName,
                namespace: status.desired.namespace,
                hosts: status.desired.hosts,
                state: status.state.rawValue,
                notAfter: status.summary?.notAfter,
                detail: kind == .recovered ? "It is valid again." : (status.problem ?? "")
            )
            result.append((notice, status, record))
        }
        return result
    }
}
