import Basics
import Certificates
public import Foundation
import Transport

/// `certctl status`: the table, the wide table, the JSON and the one-certificate view.
public enum StatusTable {
    public struct Style: Sendable {
        public var colour: Bool
        public var wide: Bool
        public var showCluster: Bool
        /// The terminal's width: the table is cut to fit it (not `wide`); nil: never cut.
        public var width: Int?

        public init(colour: Bool, wide: Bool, showCluster: Bool, width: Int? = nil) {
            self.colour = colour
            self.wide = wide
            self.showCluster = showCluster
            self.width = width
        }
    }

    /// The table of `overview`, its problems and a summary line.
    public static func render(_ overview: Overview, now: Date, style: Style) -> String {
        var text = render(overview.certificates, now: now, style: style)
        for item in overview.problems {
            let line =
                "\(style.showCluster ? item.cluster + ": " : "")\(item.problem.object)"
                + "\(item.problem.field.map { " \($0)" } ?? ""): \(item.problem.reason)"
            // Wrapped at words under its text, to the terminal's width when known.
            let lines = style.width.map { wrap(line, width: max($0 - 9, 40)) } ?? [line]
            text += "problem  " + lines.joined(separator: "\n         ") + "\n"
        }
        return text
    }

    public static func render(_ statuses: [CertificateStatus], now: Date, style: Style) -> String {
        let columns = columns(now: now, style: style, withErrors: statuses.contains { $0.problem != nil })
        var rows = [columns.map(\.header)]
        for status in statuses { rows.append(columns.map { $0.cell(status) }) }
        var kept = Array(columns.indices)
        var cut = false
        if let width = style.width, !style.wide {
            // Room goes to the hosts and names first, the error last.
            let grow = ["HOSTS", "SECRET", "NAMESPACE", "CLUSTER", "INGRESS", "ISSUER", "LAST ERROR"].compactMap {
                header in columns.firstIndex { $0.header == header }
            }
            (rows, kept, cut) = TextTable.fit(rows, columns: columns.map(\.fit), width: width, growOrder: grow)
        }
        let stateColumn = kept.firstIndex { columns[$0].header == "STATE" } ?? -1
        let text = TextTable.render(rows) { row, column, cell in
            guard style.colour, row > 0, column == stateColumn else { return cell }
            return colour(for: statuses[row - 1].state) + cell + "\u{1B}[0m"
        }
        var footer = summaryLine(statuses)
        if cut {
            footer +=
                "Cut to \(style.width ?? 0) columns: certctl status SECRET shows one in full, -o wide all columns.\n"
        }
        guard let width = style.width, !style.wide else { return text + footer }
        return text
            + footer.split(separator: "\n").map { wrap(String($0), width: width).joined(separator: "\n") + "\n" }
            .joined()
    }

    /// A column of the table: its header, how it gives way to a narrow terminal, and its cell.
    typealias Column = (header: String, fit: TextTable.Column, cell: (CertificateStatus) -> String)

    /// The table's columns for `style` (a LAST ERROR column only `withErrors`).
    private static func columns(now: Date, style: Style, withErrors: Bool) -> [Column] {
        // The columns, how each gives way to a narrow terminal, and each cell.
        var columns: [Column] = [
            ("NAMESPACE", .init(shrinksTo: 9, cutsMiddle: true), { $0.desired.namespace }),
            (
                "INGRESS", .init(shrinksTo: 10, dropOrder: 3, dropsBeforeCutting: true, cutsMiddle: true),
                { $0.desired.objectNames.joined(separator: ",") }
            ),
            ("SECRET", .init(shrinksTo: 14, cutsMiddle: true), { $0.desired.secretName }),
            ("HOSTS", .init(shrinksTo: 14, cutsMiddle: true), { hostsCell($0.desired.hosts, wide: style.wide) }),
            (
                "ISSUER", .init(shrinksTo: 10, dropOrder: 5),
                { $0.issuerLabel }
            ),
            (
                "NOT AFTER", .init(dropOrder: 1, dropsBeforeCutting: true),
                { $0.summary.map { day($0.notAfter) } ?? "-" }
            ),
            ("TIME LEFT", .init(), { $0.timeLeft(at: now).map(duration) ?? "-" }),
            ("", .init(dropOrder: 2, dropsBeforeCutting: true), { lifetimeBar($0, now: now) }),
            ("RENEWS AT", .init(dropOrder: 4), { $0.renewalTime.map { day($0) } ?? "-" }),
            ("STATE", .init(), { $0.state.rawValue }),
        ]
        // No column of blanks when nothing is wrong.
        if withErrors {
            columns.append(("LAST ERROR", .init(shrinksTo: 12, dropOrder: 6), { errorCell($0.problem) }))
        }
        if style.showCluster {
            columns.insert(("CLUSTER", .init(shrinksTo: 8, cutsMiddle: true), { $0.cluster }), at: 0)
        }
        if style.wide {
            columns += [
                ("SERIAL", .init(), { $0.summary?.serialHex ?? "-" }),
                ("KEY", .init(), { $0.summary?.keyType?.rawValue ?? "-" }),
                ("CHAIN ISSUER", .init(), { $0.chainIssuer ?? "-" }),
                ("FAILURES", .init(), { String($0.record.failureCount) }),
                ("NEXT ATTEMPT", .init(), { $0.record.nextAttempt.map { timestamp($0) } ?? "-" }),
            ]
        }
        return columns
    }

    static func summaryLine(_ statuses: [CertificateStatus]) -> String {
        let counts = Dictionary(grouping: statuses, by: \.state).mapValues(\.count)
        let parts = CertificateStatus.State.allCases.compactMap { state in
            counts[state].map { "\($0) \(state.rawValue.lowercased())" }
        }
        var line =
            counted(statuses.count, "certificate") + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", ")) + "\n"
        if let backlog = CertificateStatus.backlog(statuses) {
            line +=
                "\(counted(backlog.count, "certificate")) \(backlog.count == 1 ? "waits" : "wait") for the CA's limits; the backlog clears by \(Timestamp.rfc3339(backlog.clearsAt)) (most urgent first)\n"
        }
        return line
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

    static func errorCell(_ problem: String?) -> String {
        problem?.replacingOccurrences(of: "\n", with: " ") ?? ""
    }

    /// "██████░░░░": the share of the lifetime left.
    static func lifetimeBar(_ status: CertificateStatus, now: Date) -> String {
        status.lifetimeLeft(at: now).map { share in
            let filled = Bounded.int((share * 10).rounded(.up), in: 0...10)
            return String(repeating: "█", count: filled) + String(repeating: "░", count: 10 - filled)
        } ?? ""
    }

    /// "59d 23h ██████████" with a bar of the lifetime left.
    static func timeLeftCell(_ status: CertificateStatus, now: Date) -> String {
        guard let left = status.timeLeft(at: now) else { return "-" }
        return "\(duration(left)) \(lifetimeBar(status, now: now))"
    }

    /// A short human duration: "59d 23h", "5h 12m", "14m", "expired 3d ago".
    public static func duration(_ seconds: TimeInterval) -> String {
        if seconds < 0 { return "expired \(duration(-seconds)) ago" }
        let minutes = Bounded.int(seconds / 60)
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
    public static func json(_ overview: Overview, now: Date) throws -> String {
        let problems: [[String: Any]] = overview.problems.map { item in
            [
                "cluster": item.cluster, "object": item.problem.object, "kind": item.problem.kind.rawValue,
                "namespace": item.problem.namespace ?? NSNull(), "field": item.problem.field ?? NSNull(),
                "message": item.problem.reason,
            ]
        }
        return try JSONText.encode(
            ["certificates": certificateObjects(overview.certificates, now: now), "problems": problems], pretty: true)
            + "\n"
    }

    static func certificateObjects(_ statuses: [CertificateStatus], now: Date) -> [[String: Any]] {
        statuses.map { status in
            var object: [String: Any] = [
                "cluster": status.cluster,
                "namespace": status.desired.namespace,
                "ingresses": status.desired.ingresses,
                "objects": status.desired.sources.map(\.description),
                "secret": status.desired.secretName,
                "hosts": status.desired.hosts,
                "issuer": status.desired.issuer,
                "state": status.state.rawValue,
                "failureCount": status.record.failureCount,
            ]
            object["profile"] = status.record.profile ?? NSNull()
            object["issuedBy"] =
                status.summary == nil
                ? NSNull() : status.fallbackIssuer ?? status.record.issuer ?? status.desired.issuer
            object["fallbackReason"] =
                status.fallbackIssuer == nil ? NSNull() : status.record.fallbackReason ?? NSNull()
            object["failureKind"] = status.record.lastFailureKind?.rawValue ?? NSNull()
            object["notBefore"] = status.summary.map { timestamp($0.notBefore) } ?? NSNull()
            object["notAfter"] = status.summary.map { timestamp($0.notAfter) } ?? NSNull()
            object["timeLeftSeconds"] = status.timeLeft(at: now).map { Bounded.int($0) } ?? NSNull()
            object["lifetimeSeconds"] = status.summary.map { Bounded.int($0.lifetime) } ?? NSNull()
            object["renewalTime"] = status.renewalTime.map { timestamp($0) } ?? NSNull()
            object["problem"] = status.problem ?? NSNull()
            object["serial"] = status.summary?.serialHex ?? NSNull()
            object["keyType"] = status.summary?.keyType?.rawValue ?? NSNull()
            object["chainIssuer"] = status.chainIssuer ?? NSNull()
            object["nextAttempt"] = status.record.nextAttempt.map { timestamp($0) } ?? NSNull()
            object["decision"] = explain(status, now: now)
            return object
        }
    }

    /// What the next run does with the certificate and by which rule, in words (README
    /// "certctl status"): the renewal time and where it comes from, a back-off or rate limit
    /// and until when, or the change that makes it due.
    public static func explain(_ status: CertificateStatus, now: Date) -> String {
        let secret = status.desired.secretName
        let force = "certctl renew \(secret) -n \(status.desired.namespace) --now"
        func cause(_ reason: PlannedAction.Reason) -> String { Self.cause(reason, status) }
        switch status.action.kind {
        case .wait(let until):
            let rule =
                status.record.ariWindowStart != nil && status.record.renewalTime == until
                ? "a random time in the CA's renewal window (ARI, RFC 9773)\(ariWindow(status).map { ", \($0)" } ?? "")"
                : lifetimeRule(status)
            return
                "Not due: renews at \(exactAndRelative(until, now: now)), \(rule). To renew earlier: certctl renew \(secret) -n \(status.desired.namespace) (at the next run), or with --now."
        case .issue:
            return "Due: \(cause(status.action.reason)). The next run issues it; \(force) issues it now."
        case .backOff(let until):
            let hold: String
            if status.record.lastFailureKind == .rateLimited {
                hold =
                    "the CA rate-limited the last order and said to retry after \(exactAndRelative(until, now: now)); no request before then"
            } else {
                hold =
                    "\(counted(status.record.failureCount, "attempt")) failed, so the next waits until \(exactAndRelative(until, now: now)) (a back-off of 1 h doubling to 32 h); after fixing the cause, \(force) clears it"
            }
            return "Due (\(cause(status.action.reason))), but \(hold)."
        case .limited(let deferral):
            return
                "Due (\(cause(status.action.reason))), but ordering it now would go past its CA's limit (\(deferral.reason)): it waits until \(exactAndRelative(deferral.until, now: now)), the most urgent certificates first, and no order the CA would refuse is sent."
        case .blocked:
            return "Blocked: \(SecretBlock.explanation(status.action.reason))."
        }
    }

    /// How the renewal time of a certificate without ARI is chosen.
    static func lifetimeRule(_ status: CertificateStatus) -> String {
        guard let summary = status.summary, let renewal = status.renewalTime else { return "by its lifetime" }
        let lifetime = summary.lifetime
        let share = lifetime < 10 * 86_400 ? "1/2" : "2/3"
        let rule = RenewalPlan.defaultRenewalTime(notBefore: summary.notBefore, notAfter: summary.notAfter)
        return abs(rule.timeIntervalSince(renewal)) > 60
            ? "the time recorded on the Secret (certctl.io/renewal-time)"
            : "at \(share) of its \(duration(lifetime)) lifetime (certctl's rule without ARI: 2/3, or 1/2 under 10 days)"
    }

    static func ariWindow(_ status: CertificateStatus) -> String? {
        guard let start = status.record.ariWindowStart, let end = status.record.ariWindowEnd else { return nil }
        return "\(timestamp(start)) to \(timestamp(end))"
    }

    /// "2027-01-15T10:00:00Z (in 2h 0m)".
    static func exactAndRelative(_ date: Date, now: Date) -> String {
        "\(timestamp(date)) (\(relative(date, now: now)))"
    }

    /// "in 3d 4h", "2h 5m ago".
    public static func relative(_ date: Date, now: Date) -> String {
        let seconds = date.timeIntervalSince(now)
        if abs(seconds) < 60 { return "now" }
        return seconds > 0 ? "in \(duration(seconds))" : "\(duration(-seconds)) ago"
    }

    /// Everything about one certificate, like `cmctl status certificate`: the decision in
    /// words first, then the facts and the full last error.
    public static func detail(_ status: CertificateStatus, now: Date, columns: Int = 100) -> String {
        var lines: [(String, String)] = [
            ("Decision", explain(status, now: now)),
            ("Secret", "\(status.desired.namespace)/\(status.desired.secretName) (\(status.cluster))"),
            ("Asked by", status.desired.sourceList),
            ("Hosts", status.desired.hosts.joined(separator: ", ")),
            (
                "Issuer",
                "\(status.desired.issuer) (\(status.desired.issuerKind))"
                    + (status.record.profile.map { ", profile \($0)" } ?? "")
                    + (status.fallbackIssuer.map {
                        "; this certificate from its fallback \($0), because \(status.record.fallbackReason ?? "(not recorded)")"
                    } ?? "")
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
            lines.append(("Failure kind", status.record.lastFailureKind?.rawValue ?? "-"))
            if let time = status.record.lastFailureTime {
                lines.append(("Failed at", exactAndRelative(time, now: now)))
            }
            lines.append(("Next attempt", status.record.nextAttempt.map { timestamp($0) } ?? "-"))
        } else if let problem = status.problem {
            lines.append(("Problem", problem))
        }
        if let order = status.record.orderURL { lines.append(("Order", order)) }
        let width = lines.map(\.0.count).max() ?? 0
        let indent = String(repeating: " ", count: width + 2)
        return lines.map { key, value in
            // Long values (the decision, an error) wrap at words under their key.
            let wrapped = wrap(value, width: max(columns - width - 2, 40)).joined(separator: "\n" + indent)
            return "\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(wrapped)"
        }.joined(separator: "\n") + "\n"
    }

    /// `text` in lines of at most `width` characters, broken at spaces (a longer word stands alone).
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            if !line.isEmpty, line.count + 1 + word.count > width {
                lines.append(line)
                line = String(word)
            } else {
                line += (line.isEmpty ? "" : " ") + word
            }
        }
        lines.append(line)
        return lines
    }
}
