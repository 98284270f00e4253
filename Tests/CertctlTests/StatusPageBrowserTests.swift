import CertctlCore
import CertctlTestSupport
import Foundation
import Testing
import Transport

/// The exporter's page as a person sees it: served by `certctl serve`, opened in a real browser
/// (Debian's headless Chromium), measured there.
@Suite("The status page in a browser", .serialized)
struct StatusPageBrowserTests {
    static let chromium = "/usr/bin/chromium"

    /// What the page shows after its script ran, read by a script the test adds to the served HTML.
    struct Seen: Decodable {
        var width: Int
        var scrollWidth: Int
        /// The tables' own width against their box: over means a part is scrolled out of sight.
        var tableOverflow: Int
        var states: [String]
        var problems: Bool
        var problemObjects: [String]
        var wrapped: [String]
        var sortedByTimeLeft: [String]
        var filtered: Int
    }

    static let probe = """
        <script>
        window.addEventListener("load", function () {
          var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("#certificates tbody tr")); };
          var seen = {
            width: window.innerWidth,
            scrollWidth: document.documentElement.scrollWidth,
            tableOverflow: Math.max.apply(null, Array.prototype.map.call(document.querySelectorAll(".scroll"),
              function (s) { return s.scrollWidth - s.clientWidth; })),
            states: rows().map(function (r) { return r.querySelector("td.state").textContent; }),
            problems: document.getElementById("problems") !== null,
            problemObjects: Array.prototype.map.call(
              document.querySelectorAll("#problems ~ div tbody tr td:first-child"), function (c) { return c.textContent; }),
            // A name or a time broken over two lines shows as two boxes.
            wrapped: Array.prototype.filter.call(document.querySelectorAll("span.nw, b.nw, time"),
              function (e) { return e.getClientRects().length > 1; }).map(function (e) { return e.textContent; })
          };
          var headers = document.querySelectorAll("#certificates th");
          Array.prototype.forEach.call(headers, function (th) { if (th.textContent === "Time left") th.click(); });
          seen.sortedByTimeLeft = rows().map(function (r) { return r.querySelector("td.state").textContent; });
          var filter = document.getElementById("filter");
          filter.value = "expired";
          filter.dispatchEvent(new Event("input"));
          seen.filtered = rows().filter(function (r) { return !r.hidden; }).length;
          document.title = "SEEN " + JSON.stringify(seen);
        });
        </script>
        """

    static func common(_ width: Int, _ folder: URL) -> [String] {
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=\(width),900",
            "--user-data-dir=\(folder.appendingPathComponent("profile").path)", "--virtual-time-budget=5000",
        ]
    }

    /// Opens `html` at `width` × 900 px and returns what the probe saw.
    static func open(_ html: String, width: Int, screenshot: String? = nil) async throws -> Seen {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("page-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("page.html")
        if let screenshot {
            // The page as served, before the probe clicks and filters.
            let plain = folder.appendingPathComponent("plain.html")
            try html.write(to: plain, atomically: true, encoding: .utf8)
            _ = try await ExternalTool.run(
                chromium, common(width, folder) + ["--screenshot=\(screenshot)", plain.absoluteString])
        }
        try html.replacingOccurrences(of: "</body>", with: probe + "</body>").write(
            to: file, atomically: true, encoding: .utf8)
        let result = try await ExternalTool.run(chromium, common(width, folder) + ["--dump-dom", file.absoluteString])
        let dom = result.output
        guard let start = dom.range(of: "<title>SEEN "),
            let end = dom.range(of: "</title>", range: start.upperBound..<dom.endIndex)
        else {
            Issue.record("the probe did not run (exit \(result.status)): \(dom.suffix(2000))")
            throw CancellationError()
        }
        let json = String(dom[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        return try JSONDecoder().decode(Seen.self, from: Data(json.utf8))
    }

    @Test("served by certctl serve: fits 1280 px and a phone, most urgent first, sortable, filterable, problems shown")
    func page() async throws {
        let authority = try TestCertificateAuthority()
        let sites = ["ready", "expiring", "expired", "federation-redirect-staging"]
        let project = try LocalProject.make(server: "https://127.0.0.1:1/dir", sites: sites)
        try await project.seedCertificate("ready", startDays: -1, authority: authority)
        try await project.seedCertificate("expiring", startDays: -85, authority: authority)
        try await project.seedCertificate("expired", startDays: -95, authority: authority)
        // A misconfigured Ingress: an upper-case host makes no certificate, only a problem.
        try project.addShoutyIngress()
        let port = freeLoopbackPort()
        let serve = Process()
        serve.executableURL = CertctlProcess.binary
        serve.arguments = ["serve"] + LocalProject.flags + ["--listen", "127.0.0.1:\(port)"]
        serve.currentDirectoryURL = project.directory
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        defer { serve.terminate() }
        let transport = CurlTransport(userAgent: "t")
        var html = ""
        for _ in 0..<100 where html.isEmpty {
            // Until serve listens: each try is a connection refused, not a guess at a delay.
            if let response = try? await transport.send(HTTPRequest(url: "http://127.0.0.1:\(port)/")),
                response.status == 200
            {
                html = String(decoding: response.body, as: UTF8.self)
            } else {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(html.contains("<meta name=\"viewport\""))
        // Without JavaScript: the rows are there in urgency order, the filter box stays hidden.
        #expect(
            html.contains(
                "<input id=\"filter\" type=\"search\" placeholder=\"Filter: namespace, host, state…\" hidden>"))

        let desk = try await Self.open(
            html, width: 1280, screenshot: ProcessInfo.processInfo.environment["CERTCTL_PAGE_SCREENSHOT"])
        #expect(desk.width == 1280)
        #expect(desk.scrollWidth <= desk.width, "no horizontal overflow at 1280 px: \(desk.scrollWidth)")
        #expect(desk.tableOverflow <= 0, "every column in sight at 1280 px: \(desk.tableOverflow) px more")
        #expect(desk.states == ["Expired", "Missing", "Expiring", "Ready"], "\(desk.states)")
        #expect(desk.problems && desk.problemObjects == ["Ingress prod/shouty"], "\(desk.problemObjects)")
        #expect(desk.wrapped.isEmpty, "wrapped inside a name or time: \(desk.wrapped)")
        // Clicking "Time left" sorts by it (missing first, having none), then clicking filters.
        #expect(desk.sortedByTimeLeft == ["Missing", "Expired", "Expiring", "Ready"], "\(desk.sortedByTimeLeft)")
        #expect(desk.filtered == 1)

        let phone = try await Self.open(html, width: 390)
        #expect(phone.scrollWidth <= phone.width, "the page fits a phone; the table scrolls inside it")
    }
}
