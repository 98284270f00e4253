import CertctlTestSupport
import Testing

@testable import CertctlCore

@Suite("The Prometheus exposition writer")
struct ExpositionTests {
    @Test("a label set given twice keeps its place and its last value; families in first-use order")
    func repeated() async throws {
        var out = Exposition()
        out.gauge("b_seconds", "B.", labels: [("secret", "x")], 1)
        out.counter("a_total", "A.", labels: [("secret", "x")], 3)
        out.gauge("b_seconds", "B.", labels: [("secret", "y")], 2)
        out.gauge("b_seconds", "B.", labels: [("secret", "x")], 5)
        out.counter("a_total", "A.", 4)
        let lines = out.text.split(separator: "\n").map(String.init)
        #expect(
            lines == [
                "# HELP b_seconds B.", "# TYPE b_seconds gauge", #"b_seconds{secret="x"} 5.0"#,
                #"b_seconds{secret="y"} 2.0"#, "# HELP a_total A.", "# TYPE a_total counter",
                #"a_total{secret="x"} 3"#, "a_total 4",
            ])
        #expect(out.bytes == Array(out.text.utf8))
    }

    @Test("ten thousand label sets, each repeated, come out once each with the last value; promtool accepts them")
    func many() async throws {
        var out = Exposition()
        for round in 0..<2 {
            for index in 0..<10_000 {
                out.gauge(
                    "certctl_test_seconds", "With \"quotes\", a back\\slash and a\nline feed.",
                    labels: [("namespace", "ns\(index % 7)"), ("secret", "tls-\(index)\"\\\n")], Double(round * index))
            }
        }
        let text = out.text
        let samples = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(samples.count == 10_000)
        #expect(samples[9_999].hasSuffix(" 9999.0"))
        #expect(samples[1] == #"certctl_test_seconds{namespace="ns1",secret="tls-1\"\\\n"} 1.0"#)
        let checked = try await ExternalTool.run("/usr/bin/promtool", ["check", "metrics"], input: text)
        #expect(checked.status == 0, "\(checked.output)")
    }
}
