import Certificates
public import Foundation

/// The exporter's `/` page: the status table as plain, readable HTML.
public enum StatusPage {
    public static func render(_ statuses: [CertificateStatus], now: Date, refreshed: Date) -> String {
        let counts = Dictionary(grouping: statuses, by: \.state).mapValues(\.count)
        let summary = CertificateStatus.State.allCases.compactMap { state in
            counts[state].map { "\($0) \(state.rawValue.lowercased())" }
        }
        .joined(separator: ", ")
        var rows = ""
        for status in statuses {
            let left = status.timeLeft(at: now).map(StatusTable.duration) ?? "-"
            let share = Int(((status.lifetimeLeft(at: now) ?? 0) * 100).rounded())
            rows += """
                <tr class="\(status.state.rawValue.lowercased())"><td>\(escape(status.cluster))</td><td>\(escape(status.desired.namespace))</td>\
                <td>\(escape(status.desired.ingresses.joined(separator: ", ")))</td><td>\(escape(status.desired.secretName))</td>\
                <td>\(escape(status.desired.hosts.joined(separator: ", ")))</td><td>\(escape(status.desired.issuer))</td>\
                <td>\(status.summary.map { RenewalRecord.format($0.notAfter) } ?? "-")</td>\
                <td><meter min="0" max="100" value="\(share)"></meter> \(escape(left))</td>\
                <td>\(status.renewalTime.map(RenewalRecord.format) ?? "-")</td><td class="state">\(status.state.rawValue)</td>\
                <td>\(escape(status.problem ?? ""))</td></tr>

                """
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="60">
            <title>certctl: \(statuses.count) certificates</title>
            <style>
            body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
            th,td{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
            .expired .state,.missing .state,.invalid .state,.expiring .state{color:#b00;font-weight:bold}
            .failing .state,.due .state{color:#a60}.ready .state{color:#070}
            </style></head><body>
            <h1>certctl</h1>
            <p>\(statuses.count) certificates\(summary.isEmpty ? "" : ": " + summary). Read \(RenewalRecord.format(refreshed)); \
            <a href="/metrics">metrics</a>.</p>
            <table><thead><tr><th>Cluster</th><th>Namespace</th><th>Ingress</th><th>Secret</th><th>Hosts</th><th>Issuer</th>\
            <th>Not after</th><th>Time left</th><th>Renews at</th><th>State</th><th>Last error</th></tr></thead>
            <tbody>
            \(rows)</tbody></table>
            </body></html>

            """
    }

    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
