import Foundation
import Kubernetes
import Testing

@Suite("YAML as Kubernetes reads it")
struct YAMLTextTests {
    @Test("plain scalars resolve as YAML 1.1; quoted and block scalars stay strings")
    func resolution() throws {
        let value = try #require(
            try YAMLText.load(
                """
                a: true
                b: "true"
                c: off
                d: 42
                e: -0x1f
                f: 0o17
                g: 1_000
                h: 3.5
                i: ~
                j:
                k: 'null'
                l: mybinder.org
                m: "2026-01-02"
                n: 1.2.3
                o: |
                  literal
                p: [1, two, "3"]
                q: {r: s}
                anchor: &x {t: u}
                alias: *x
                """) as? [String: Any])
        #expect(value["a"] as? Bool == true)
        #expect(value["b"] as? String == "true")
        #expect(value["c"] as? Bool == false)
        #expect(value["d"] as? Int == 42)
        #expect(value["e"] as? Int == -31)
        #expect(value["f"] as? Int == 15)
        #expect(value["g"] as? Int == 1000)
        #expect(value["h"] as? Double == 3.5)
        #expect(value["i"] is NSNull)
        #expect(value["j"] is NSNull)
        #expect(value["k"] as? String == "null")
        #expect(value["l"] as? String == "mybinder.org")
        #expect(value["m"] as? String == "2026-01-02")
        #expect(value["n"] as? String == "1.2.3")
        #expect(value["o"] as? String == "literal\n")
        let list = try #require(value["p"] as? [Any])
        #expect(list[0] as? Int == 1 && list[1] as? String == "two" && list[2] as? String == "3")
        #expect((value["q"] as? [String: Any])?["r"] as? String == "s")
        #expect((value["alias"] as? [String: Any])?["t"] as? String == "u", "aliases are dereferenced")
    }

    @Test("a mapping key that is not a string is refused, fast, however deep (a fuzzer's hang)")
    func complexKeys() throws {
        for text in [
            "{[a]: b}", "? {a: b}\n: c\n", String(repeating: "{", count: 200) + String(repeating: "}", count: 200),
        ] {
            do {
                _ = try YAMLText.load(text)
                Issue.record("\(text.prefix(20)) must be refused")
            } catch let error as YAMLText.NotJSON {
                #expect(error.description.contains("a mapping key must be a string"))
            } catch {
                // Deep nesting may also stop in libyaml itself: an error, not a hang, is what counts.
            }
        }
    }

    @Test("every string written as a scalar reads back as the same string")
    func scalarRoundTrip() throws {
        let strings = [
            "plain", "true", "off", "null", "~", "", "42", "0x10", "3.5", "1.2.3", "LS0tLS1CRUdJTg==", "a: b", "#x",
            "- item", "quote\"d", "new\nline", "tab\there", "ünïcödé", " padded ", "@at", "*star", "&amp", "!bang",
            "%percent", "`tick`", "{brace}", "[bracket]", "key:", "2026-01-02T03:04:05Z", "/leading/slash", "ends:",
        ]
        let text = YAMLText.block(
            Dictionary(uniqueKeysWithValues: strings.enumerated().map { ("k\($0.offset)", $0.element) }))
        let read = try #require(try YAMLText.load(text) as? [String: Any])
        for (index, string) in strings.enumerated() {
            #expect(read["k\(index)"] as? String == string, "\(string) wrote as \(YAMLText.scalar(string))")
        }
        #expect(YAMLText.scalar("LS0tLS1CRUdJTg==") == "LS0tLS1CRUdJTg==", "base64 stays plain")
        #expect(YAMLText.scalar("true") == "\"true\"")
    }
}
