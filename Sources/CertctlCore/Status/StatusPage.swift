import Basics
import Certificates
public import Foundation
import Transport

/// The exporter's `/` page: every certificate, most urgent first, and the misconfigured objects.
/// Plain HTML that reads without JavaScript; a small script adds sorting and filtering.
public enum StatusPage {
    public static func render(_ overview: Overview, now: Date, refreshed: Date) -> String {
        let statuses = overview.certificates
        let clusters = Set(statuses.map(\.cluster)).union(overview.problems.map(\.cluster))
        let showCluster = clusters.count > 1
        let counts = Dictionary(grouping: statuses, by: \.state).mapValues(\.count)
        let summary = CertificateStatus.State.allCases.compactMap { state in
            counts[state].map {
                "<span class=\"\(state.rawValue.lowercased())\">\($0) \(state.rawValue.lowercased())</span>"
            }
        }
        .joined(separator: ", ")
        let backlog =
            CertificateStatus.backlog(statuses).map {
                "<p>\(counted($0.count, "certificate")) \($0.count == 1 ? "waits" : "wait") for the CA's limits; the backlog clears by \(escape(Timestamp.rfc3339($0.clearsAt))) (most urgent first).</p>"
            } ?? ""
        var rows = ""
        for (rank, status) in statuses.enumerated() {
            rows += row(status, rank: rank, now: now, showCluster: showCluster)
        }
        let problems = problemsSection(overview.problems, showCluster: showCluster)
        let problemsLink =
            overview.problems.isEmpty
            ? "" : "; <a href=\"#problems\">\(counted(overview.problems.count, "misconfigured object"))</a>"
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="60">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>certctl: \(counted(statuses.count, "certificate"))</title>
            <style>
            \(style)</style></head><body>
            <h1>certctl\(clusters.count == 1 ? ": " + escape(clusters.first ?? "") : "")</h1>
            <p>\(counted(statuses.count, "certificate"))\(summary.isEmpty ? "" : ": " + summary)\(problemsLink). \
            Read <time datetime="\(RenewalRecord.format(refreshed))">\(RenewalRecord.format(refreshed))</time>; \
            <a href="/metrics">metrics</a>.</p>\(backlog)
            <input id="filter" type="search" placeholder="Filter: namespace, host, state…" hidden>
            <div class="scroll"><table id="certificates"><thead><tr>\(showCluster ? "<th data-col>Cluster</th>" : "")\
            <th data-col>State</th><th data-col>Secret</th><th data-col>Hosts</th><th data-col>Issuer</th>\
            <th data-col>Time left</th><th data-col>Renews</th><th data-col>Failures</th><th>What is wrong</th></tr></thead>
            <tbody>
            \(rows)</tbody></table></div>
            \(problems)<script>
            \(script)</script>
            </body></html>

            """
    }

    /// One certificate's row of the table.
    private static func row(_ status: CertificateStatus, rank: Int, now: Date, showCluster: Bool) -> String {
        let share = status.lifetimeLeft(at: now) ?? 0
        let left = status.timeLeft(at: now)
        let cluster = showCluster ? "<td class=\"nw\">\(escape(status.cluster))</td>" : ""
        let hosts = status.desired.hosts.map { "<span class=\"nw\">\(escape($0))</span>" }.joined(separator: ", ")
        let bar =
            status.summary == nil
            ? ""
            : "<span class=\"bar\"><span class=\"\(urgency(share))\" style=\"width:\(Bounded.int((share * 100).rounded(), in: 0...100))%\"></span></span> "
        return """
            <tr class="\(status.state.rawValue.lowercased())" data-rank="\(rank)">\(cluster)\
            <td class="state nw" data-sort="\(status.state.rank)">\(status.state.rawValue)</td>\
            <td><span class="nw">\(escape(status.desired.namespace))/</span><wbr><b class="nw">\(escape(status.desired.secretName))</b>\
            <div class="sub">\(status.desired.sources.map { "<span class=\"nw\">\(escape($0.description))</span>" }.joined(separator: ", "))</div></td>\
            <td>\(hosts)</td>\
            <td class="nw">\(escape(status.issuerLabel))</td>\
            <td class="nw" data-sort="\(left.map { String(Bounded.int($0)) } ?? "-1e12")">\(bar)\
            \(left.map { escape(StatusTable.duration($0)) } ?? "-")\
            \(status.summary.map { "<div class=\"sub\">until \(escape(Timestamp.minute($0.notAfter)))</div>" } ?? "")</td>\
            <td class="nw" data-sort="\(status.renewalTime.map { String(Bounded.int($0.timeIntervalSince1970)) } ?? "0")">\
            \(status.renewalTime.map { time($0, now: now) } ?? "-")</td>\
            <td class="num" data-sort="\(status.record.failureCount)">\(status.record.failureCount)\
            \(status.record.nextAttempt.map { "<div class=\"sub nw\">next \(time($0, now: now))</div>" } ?? "")</td>\
            <td class="error">\(escape(status.problem ?? ""))</td></tr>

            """
    }

    /// The misconfigured objects, when there are any.
    private static func problemsSection(_ problems: [ClusterProblem], showCluster: Bool) -> String {
        guard !problems.isEmpty else { return "" }
        var text = "<h2 id=\"problems\">\(counted(problems.count, "problem"))</h2>\n"
        text +=
            "<p>These objects make no certificate until they are fixed.</p>\n<div class=\"scroll\"><table><thead><tr>"
        text += showCluster ? "<th>Cluster</th>" : ""
        text += "<th>Object</th><th>Field</th><th>Kind</th><th>What to do</th></tr></thead><tbody>\n"
        for item in problems {
            text += "<tr>" + (showCluster ? "<td class=\"nw\">\(escape(item.cluster))</td>" : "")
            text += "<td class=\"nw\">\(escape(item.problem.object))</td>"
            text += "<td class=\"nw\">\(escape(item.problem.field ?? ""))</td>"
            text += "<td class=\"nw\">\(item.problem.kind.rawValue)</td>"
            text += "<td class=\"error\">\(escape(item.problem.reason))</td></tr>\n"
        }
        text += "</tbody></table></div>\n"
        return text
    }

    /// The page's style sheet.
    private static let style = """
        body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
        .scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}
        th,td{padding:.35em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
        th{background:#f4f4f4;position:sticky;top:0}th[data-col]{cursor:pointer}
        .nw{white-space:nowrap}.num{text-align:right}.sub{color:#666;font-size:12px}
        .error{overflow-wrap:anywhere;max-width:28em}
        .expired .state,.missing .state,.invalid .state,.expiring .state,span.expired,span.missing,
        span.invalid,span.expiring{color:#b00;font-weight:bold}
        .failing .state,.due .state,span.failing,span.due{color:#a60}.ready .state,span.ready{color:#070}
        .bar{display:inline-block;width:4em;height:.6em;background:#e6e6e6;border-radius:.3em;overflow:hidden}
        .bar span{display:block;height:100%}.ok{background:#3a3}.soon{background:#d90}.urgent{background:#c22}
        #filter{margin:.5em 0;padding:.3em;width:20em;max-width:100%}
        @media (max-width:700px){body{margin:.5em}.sub{display:none}}
        """

    /// Sorting by a column and filtering, for browsers with JavaScript.
    private static let script = """
        (function () {
          var table = document.getElementById("certificates"), body = table.tBodies[0];
          var filter = document.getElementById("filter");
          filter.hidden = false;
          filter.addEventListener("input", function () {
            var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
            Array.prototype.forEach.call(body.rows, function (row) {
              var text = row.textContent.toLowerCase();
              row.hidden = !words.every(function (word) { return text.indexOf(word) >= 0; });
            });
          });
          Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
            if (!th.hasAttribute("data-col")) return;
            th.addEventListener("click", function () {
              var up = th.getAttribute("aria-sort") !== "ascending";
              Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
              th.setAttribute("aria-sort", up ? "ascending" : "descending");
              var rows = Array.prototype.slice.call(body.rows);
              rows.sort(function (a, b) {
                var x = a.cells[column], y = b.cells[column];
                var p = x.getAttribute("data-sort"), q = y.getAttribute("data-sort");
                var order = p !== null && q !== null ? Number(p) - Number(q)
                  : x.textContent.localeCompare(y.textContent);
                if (order === 0) order = Number(a.getAttribute("data-rank")) - Number(b.getAttribute("data-rank"));
                return up ? order : -order;
              });
              rows.forEach(function (row) { body.appendChild(row); });
            });
          });
        })();
        """

    /// A time as "in 3d 4h", the exact time on hover.
    static func time(_ date: Date, now: Date) -> String {
        let exact = RenewalRecord.format(date)
        return "<time datetime=\"\(exact)\" title=\"\(exact)\">\(StatusTable.relative(date, now: now))</time>"
    }

    /// The bar's colour: the share of the lifetime left, as the alert rules judge it.
    static func urgency(_ share: Double) -> String {
        share < 0.1 ? "urgent" : share < 1.0 / 3.0 ? "soon" : "ok"
    }

    /// `text` for HTML: markup characters as entities, control characters (a value's escape
    /// sequences) as `?`.
    public static func escape(_ text: String) -> String {
        Bounded.printable(text).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
