import Basics
import CertctlCore
import Certificates
import Foundation
import Transport

/// The summary `certctl run` prints: a line per certificate, then the totals.
enum RunSummary {
    /// - Parameter printed: certificates whose line was printed as they finished (not repeated).
    static func render(
        _ report: RunReport, elapsed: Duration, now: Date, printed: Set<String> = [], width: Int? = nil
    ) -> String {
        var rows: [[String]] = []
        var counts: [String: Int] = [:]
        for certificate in report.certificates {
            let (word, detail) = describe(certificate)
            counts[word, default: 0] += 1
            guard !printed.contains(certificate.desired.id) else { continue }
            rows.append([word, certificate.desired.id, certificate.desired.hosts.joined(separator: ","), detail])
        }
        var cut = false
        if let width, !rows.isEmpty {
            // The detail gives way first, then the hosts; the full text is in status SECRET and the logs.
            (rows, _, cut) = TextTable.fit(
                rows,
                columns: [
                    .init(), .init(shrinksTo: 20, cutsMiddle: true), .init(shrinksTo: 16, cutsMiddle: true),
                    .init(shrinksTo: 24),
                ],
                width: width, growOrder: [3, 1, 2])
        }
        var text = rows.isEmpty ? "" : TextTable.render(rows)
        if cut { text += "Cut to \(width ?? 0) columns: certctl status SECRET shows one in full.\n" }
        if report.lockHeld {
            text +=
                "another run holds the lock\(report.lockHolder.map { " (\($0))" } ?? ""): due certificates were left to it\n"
        }
        if let lost = report.lockLost {
            text += "lock lost: \(lost); no order was started after, the next run does the rest\n"
        }
        for problem in report.problems {
            text += "problem  \(problem)\n"
        }
        for warning in report.warnings {
            text += "warning  \(warning)\n"
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let totals = ["issued", "failed", "deferred", "blocked", "would issue", "ok"].compactMap { word in
            counts[word].map { "\($0) \(word)" }
        }
        text +=
            "\(counted(report.certificates.count, "certificate")) in \(report.cluster): \(totals.joined(separator: ", "))"
        text += "; \(counted(report.acmeRequests, "ACME request")) in \(String(format: "%.2f", seconds)) s\n"
        return text
    }

    /// When another run holds the lock, that `certctl renew` marked nothing (its marks are
    /// written under the lock; each stored one is printed as it is, by ``line(_:)``).
    static func refusal(_ report: RunReport) -> String {
        guard report.lockHeld else { return "" }
        return
            "refused: another run holds the lock\(report.lockHolder.map { " (\($0))" } ?? ""); nothing was marked (or revoked): run the command again once it is done\n"
    }

    /// One `certctl renew` mark.
    static func line(_ mark: RenewalMark) -> String {
        if let failure = mark.notStored {
            let revoked = mark.revoked.map { "\($0), but that is not recorded" } ?? "not marked"
            return
                "\(mark.certificate): \(revoked): \(failure); run certctl renew \(mark.certificate) --now to replace it\n"
        }
        guard mark.stored else { return "\(mark.certificate): no Secret yet; the next run issues it anyway\n" }
        var line =
            "\(mark.certificate): \(mark.revoked.map { $0 + "; " } ?? "")\(mark.hasSecret ? "marked for renewal" : "no Secret yet; marked to issue")"
        if let cleared = mark.clearedBackOff {
            line +=
                "; cleared the back-off of \(counted(mark.failureCount, "failure")) (it held until \(Timestamp.rfc3339(cleared)))"
        }
        if let held = mark.rateLimitedUntil {
            line +=
                "; the CA's rate limit still holds it until \(Timestamp.rfc3339(held)) (certctl does not ask before)"
        }
        return line + "\n"
    }

    /// One certificate's line as it finishes: the word padded like the table's first column.
    static func line(_ word: String, _ fields: String...) -> String {
        ([word.padding(toLength: 11, withPad: " ", startingAt: 0)] + fields).joined(separator: "  ")
    }

    static func describe(_ report: CertificateReport) -> (String, String) {
        let notAfter = report.summary.map { "until \(day($0.notAfter))" } ?? "no certificate"
        switch report.outcome {
        case .issued:
            let by = report.fallbackIssuer.map { ", by the fallback \($0)" } ?? ""
            return ("issued", "\(notAfter) (\(report.action.reason.rawValue)\(by))")
        case .unchanged:
            return ("ok", "\(notAfter), renews \(report.action.renewalTime.map(day) ?? "?")")
        case .planned:
            return ("would issue", report.action.reason.rawValue)
        case .deferred:
            if case .limited(let deferral) = report.action.kind {
                // The time first: a cut line keeps it.
                return (
                    "deferred",
                    "\(notAfter); waits for the CA's limit until \(day(deferral.until)) (\(deferral.reason); \(report.action.reason.rawValue))"
                )
            }
            return (
                "deferred",
                "\(notAfter); \(report.action.reason.rawValue), next attempt \(report.nextAttempt.map(day) ?? "after the other run")"
            )
        case .blocked:
            return ("blocked", report.action.reason.rawValue)
        case .failed(let failure, let stillValid):
            let validity = stillValid ? "still valid \(notAfter)" : "NOT valid"
            let next =
                report.nextAttempt.map { "next attempt \(day($0))" } ?? "no back-off stored, the next run tries again"
            return ("failed", "\(validity); \(next): \(failure)")
        }
    }

    /// To the minute, UTC: the line stays short enough for a log's 100 columns.
    static func day(_ date: Date) -> String {
        Timestamp.minute(date)
    }
}
