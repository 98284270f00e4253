import Certificates
public import Foundation
import Transport

/// `certctl status`: the table, the wide table, the JSON and the one-certificate view.
public enum StatusTable {
    public struct Style: Sendable {
        public var colour: Bool
        public var wide: Bool
        public var showCluster: Bool

        public init(colour: Bool, wide: Bool, showCluster: Bool) {
            self.colour = colour
            self.wide = wide
            self.showCluster = showCluster
        }
    }

    public static func render(_ statuses: [CertificateStatus], now: Date, style: Style) -> String {
        var header = [
            "NAMESPACE", "INGRESS", "SECRET", "HOSTS", "ISSUER", "NOT AFTER", "TIME LEFT", "RENEWS AT", "STATE",
            "LAST ERROR",
        ]
        if style.showCluster { header.insert("CLUSTER", at: 0) }
        if style.wide { header += ["SERIAL", "KEY", "CHAIN ISSUER", "FAILURES", "NEXT ATTEMPT"] }
        var rows = [header]
        for status in statuses {
            var row = [
                status.desired.namespace,
                status.desired.ingresses.joined(separator: ","),
                status.desired.secretName,
                hostsCell(status.desired.hosts, wide: style.wide),
                status.desired.issuer + (status.record.profile.map { "/\($0)" } ?? ""),
                status.summary.map { day($0.notAfter) } ?? "-",
                timeLeftCell(status, now: now),
                status.renewalTime.map { day($0) } ?? "-",
                status.state.rawValue,
                errorCell(status.problem, wide: style.wide),
            ]
            if style.showCluster { row.insert(status.cluster, at: 0) }
            if style.wide {
                row += [
                    status.summary?.serialHex ?? "-",
                    status.summary?.keyType?.rawValue ?? "-",
                    status.chainIssuer ?? "-",
                    String(status.record.failureCount),
                    status.record.nextAttempt.map { timestamp($0) } ?? "-",
                ]
            }
            rows.append(row)
        }
        let stateColumn = header.firstIndex(of: "STATE") ?? 0
        let text = TextTable.render(rows) { row, column, cell in
            guard style.colour, row > 0, column == stateColumn else { return cell }
            return colour(for: statuses[row - 1].state) + cell + "\u{1B}[0m"
        }
        return text + summaryLine(statuses)
    }

    static func summaryLine(_ statuses: [CertificateStatus]) -> String {
        let counts = Dictionary(grouping: statuses, by: \.state).mapValues(\.count)
        let parts = CertificateStatus.State.allCases.compactMap { state in
            counts[state].map { "\($0) \(state.rawValue.lowercased())" }
        }
        return counted(statuses.count, "certificate") + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", "))
            + "\n"
    }

    static func colour(for state: CertificateStatus.State) -> String {
        switch state {
        case .expired, .missing, .invalid, .expiring: "\u{1B}[1;31m"
        case .failing, .due: "\u{1B}[33m"
        case .renewing: "\u{1B}[36m"
        case .ready: "\u{1B}[32m"
        }
    }

    static func hostsCell(_ hosts: [String], wide: Bool) -> String {
        guard !wide, hosts.count > 2 else { return hosts.joined(separator: ",") }
        return "\(hosts[0]) +\(hosts.count - 1)"
    }

    static func errorCell(_ problem: String?, wide: Bool) -> String {
        guard let problem else { return "" }
        let oneLine = problem.replacingOccurrences(of: "\n", with: " ")
        return wide || oneLine.count <= 48 ? oneLine : String(oneLine.prefix(47)) + "…"
    }

    /// "59d 23h ██████████" with a bar of the lifetime left.
    static func timeLeftCell(_ status: CertificateStatus, now: Date) -> String {
        guard let left = status.timeLeft(at: now) else { return "-" }
        let bar =
            status.lifetimeLeft(at: now).map { share in
                let filled = Int((share * 10).rounded(.up))
                return String(repeating: "█", count: filled) + String(repeating: "░", count: 10 - filled)
            } ?? ""
        return "\(duration(left)) \(bar)"
    }

    /// A short human duration: "59d 23h", "5h 12m", "14m", "expired 3d ago".
    public static func duration(_ seconds: TimeInterval) -> String {
        if seconds < 0 { return "expired \(duration(-seconds)) ago" }
        let minutes = Int(seconds / 60)
        let (days, hours, rest) = (minutes / 1440, minutes % 1440 / 60, minutes % 60)
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(rest)m" }
        return "\(rest)m"
    }

    static func day(_ date: Date) -> String {
        Timestamp.minute(date)
    }

    static func timestamp(_ date: Date) -> String {
        RenewalRecord.format(date)
    }

    /// The stable JSON of `-o json`: see README "certctl status".
    public static func json(_ statuses: [CertificateStatus], now: Date) throws -> String {
        let objects: [[String: Any]] = statuses.map { status in
            var object: [String: Any] = [
                "cluster": status.cluster,
                "namespace": status.desired.namespace,
                "ingresses": status.desired.ingresses,
                "secret": status.desired.secretName,
                "hosts": status.desired.hosts,
                "issuer": status.desired.issuer,
                "state": status.state.rawValue,
                "failureCount": status.record.failureCount,
            ]
            object["profile"] = status.record.profile ?? NSNull()
            object["failureKind"] = status.record.lastFailureKind ?? NSNull()
            object["notBefore"] = status.summary.map { timestamp($0.notBefore) } ?? NSNull()
            object["notAfter"] = status.summary.map { timestamp($0.notAfter) } ?? NSNull()
            object["timeLeftSeconds"] = status.timeLeft(at: now).map { Int($0) } ?? NSNull()
            object["lifetimeSeconds"] = status.summary.map { Int($0.lifetime) } ?? NSNull()
            object["renewalTime"] = status.renewalTime.map { timestamp($0) } ?? NSNull()
            object["problem"] = status.problem ?? NSNull()
            object["serial"] = status.summary?.serialHex ?? NSNull()
            object["keyType"] = status.summary?.keyType?.rawValue ?? NSNull()
            object["chainIssuer"] = status.chainIssuer ?? NSNull()
            object["nextAttempt"] = status.record.nextAttempt.map { timestamp($0) } ?? NSNull()
            return object
        }
        return try JSONText.encode(["certificates": objects], pretty: true) + "\n"
    }

    /// Everything about one certificate, like `cmctl status certificate`.
    public static func detail(_ status: CertificateStatus, now: Date) -> String {
        var lines: [(String, String)] = [
            ("Secret", "\(status.desired.namespace)/\(status.desired.secretName) (\(status.cluster))"),
            ("Ingresses", status.desired.ingresses.joined(separator: ", ")),
            ("Hosts", status.desired.hosts.joined(separator: ", ")),
            (
                "Issuer",
                "\(status.desired.issuer) (\(status.desired.issuerKind))"
                    + (status.record.profile.map { ", profile \($0)" } ?? "")
            ),
            ("State", status.state.rawValue),
        ]
        if let summary = status.summary {
            lines += [
                ("Not before", timestamp(summary.notBefore)),
                ("Not after", timestamp(summary.notAfter)),
                ("Time left", timeLeftCell(status, now: now)),
                ("Serial", summary.serialHex),
                ("Key", summary.keyType?.rawValue ?? "unknown"),
                ("Chain", status.chainIssuer.map { "up to \($0)" } ?? "-"),
            ]
        }
        lines.append(("Renews at", status.renewalTime.map { timestamp($0) } ?? "-"))
        if let start = status.record.ariWindowStart, let end = status.record.ariWindowEnd {
            lines.append(("ARI window", "\(timestamp(start)) to \(timestamp(end))"))
        }
        if let check = status.record.ariNextCheck { lines.append(("ARI next check", timestamp(check))) }
        if status.record.failureCount > 0 {
            lines.append(("Failures", String(status.record.failureCount)))
            lines.append(("Last failure", status.record.lastFailure ?? "-"))
            lines.append(("Failure kind", status.record.lastFailureKind ?? "-"))
            lines.append(("Next attempt", status.record.nextAttempt.map { timestamp($0) } ?? "-"))
        } else if let problem = status.problem {
            lines.append(("Problem", problem))
        }
        if let order = status.record.orderURL { lines.append(("Order", order)) }
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { "\($0.0.padding(toLength: width, withPad: " ", startingAt: 0))  \($0.1)" }.joined(
            separator: "\n") + "\n"
    }
}
