import Basics
import CertctlCore
import Foundation
import Testing

/// An issuer's CA limits: Let's Encrypt's as published, and the operator's setting
/// (`certctl.io/rate-limits`), read or refused by name, never trapping.
@Suite("Rate limits of an issuer")
struct RateLimitsTests {
    @Test("Let's Encrypt's published limits, production and staging")
    func letsEncrypt() {
        let production = RateLimits.letsEncrypt
        #expect(production.newOrders == .init(count: 300, window: 3 * 3600))
        #expect(production.registeredDomain == .init(count: 50, window: 7 * 86_400))
        #expect(production.nameSet == .init(count: 5, window: 7 * 86_400))
        #expect(production.replacesExempt)
        #expect(production.longestWindow == 7 * 86_400)
        #expect("\(production)" == "orders=300/3h, domain=50/168h, names=5/168h, replaces=exempt")
        let staging = RateLimits.letsEncryptStaging
        #expect(staging.newOrders?.count == 1500)
        #expect(staging.registeredDomain?.count == 30_000)
        #expect(staging.nameSet?.count == 30_000)
        #expect(RateLimits.none.isNone && "\(RateLimits.none)" == "none" && RateLimits.none.longestWindow == 0)
    }

    @Test(
        "a setting reads as written, and its description reads back the same",
        arguments: [
            ("none", RateLimits.none),
            (" None ", RateLimits.none),
            ("letsencrypt", RateLimits.letsEncrypt),
            ("letsencrypt-staging", RateLimits.letsEncryptStaging),
            ("orders=300/3h, domain=50/168h, names=5/168h, replaces=exempt", RateLimits.letsEncrypt),
            ("names=5/168h,orders=300/3h,domain=50/168h,replaces=exempt", RateLimits.letsEncrypt),
            ("orders=10/1h30m", RateLimits(newOrders: .init(count: 10, window: 5400))),
            ("domain = 2 / 90s , replaces=counted", RateLimits(registeredDomain: .init(count: 2, window: 90))),
        ])
    func reads(_ text: String, _ expected: RateLimits) throws {
        let limits = try RateLimits.parse(text)
        #expect(limits == expected)
        #expect(try RateLimits.parse("\(limits)") == limits)
    }

    @Test(
        "a value certctl cannot keep is refused, naming it and what to write",
        arguments: [
            ("", "empty; write none"),
            ("orders=300", "is not COUNT/WINDOW; write e.g. orders=50/168h"),
            ("orders=0/3h", "the count \"0\" is not a whole number from 1 to 1000000"),
            ("orders=-1/3h", "the count \"-1\""),
            ("orders=99999999999999999999999/3h", "is not a whole number from 1 to 1000000"),
            ("orders=1000001/3h", "from 1 to 1000000; leave orders out"),
            ("orders=3/3x", "the window \"3x\" is not a duration of a second or more like 3h"),
            ("orders=3/0s", "the window \"0s\" is not a duration"),
            ("orders=3/-3h", "the window \"-3h\""),
            ("orders=3/999999999999h", "longer than ten years; write one like 168h"),
            ("orders=3/1e300h", "the window"),
            ("hourly=3/1h", "\"hourly\" is no limit certctl keeps; write orders=, domain=, names= or replaces="),
            ("orders=3/1h, orders=4/1h", "orders is set twice"),
            ("orders=3/1h,", "\"\" is not KIND=VALUE"),
            ("replaces=maybe", "replaces=maybe is neither; write replaces=exempt"),
            ("orders=3/1h, none", "\"none\" is not KIND=VALUE"),
            ("orders=3/1h, letsencrypt=1", "letsencrypt stands alone"),
        ])
    func refused(_ text: String, _ expected: String) {
        do {
            let limits = try RateLimits.parse(text, object: "ClusterIssuer letsencrypt")
            Issue.record("\(Bounded.quoted(text)) must be refused, read as \(limits)")
        } catch {
            #expect(error.code == .invalidIssuer)
            #expect(error.object == "ClusterIssuer letsencrypt")
            #expect(error.reason.hasPrefix("certctl.io/rate-limits \(Bounded.quoted(text))"), "\(error.reason)")
            #expect(error.reason.contains(expected), "\(error.reason)")
            #expect(error.reason.utf8.count < 400, "a line, not a page: \(error.reason.utf8.count) bytes")
        }
    }

    @Test("a setting of 64 KB is refused in a line")
    func long() {
        let text = "orders=" + String(repeating: "9", count: 65_536) + "/3h"
        do {
            _ = try RateLimits.parse(text)
            Issue.record("a 64 KB setting must be refused")
        } catch {
            #expect(error.reason.contains("longer than 1024 bytes; write none, letsencrypt, or orders=COUNT/WINDOW"))
            #expect(error.reason.contains("(65546 bytes)"), "\(error.reason)")
            #expect(error.reason.utf8.count < 300)
        }
    }

    static func issuer(server: String, annotation: String?) -> String {
        """
        kind: ClusterIssuer
        metadata:
          name: le
        \(annotation.map { "  annotations: {certctl.io/rate-limits: \($0)}" } ?? "")
        spec:
          acme:
            server: \(server)
            privateKeySecretRef: {name: le-account}
        """
    }

    @Test("an issuer's limits: its annotation, else Let's Encrypt's for its two directories, else none")
    func issuerLimits() throws {
        func limits(_ server: String, _ annotation: String?) throws -> RateLimits {
            try #require(
                try IssuerLoader.parse(Self.issuer(server: server, annotation: annotation), source: "le.yaml").first
            )
            .rateLimits
        }
        let production = "https://acme-v02.api.letsencrypt.org/directory"
        let staging = "https://acme-staging-v02.api.letsencrypt.org/directory"
        #expect(try limits(production, nil) == .letsEncrypt)
        #expect(try limits(staging, nil) == .letsEncryptStaging)
        #expect(try limits("https://acme.zerossl.com/v2/DV90", nil) == .none)
        #expect(try limits(production, "none") == .none)
        #expect(
            try limits("https://ca.example/dir", "\"orders=10/1h\"")
                == RateLimits(newOrders: .init(count: 10, window: 3600)))
        // The bundled issuers say so themselves.
        for (file, expected) in [
            ("letsencrypt-prod", RateLimits.letsEncrypt), ("letsencrypt-staging", .letsEncryptStaging),
        ] {
            let text = try String(contentsOfFile: "issuers/\(file).yaml", encoding: .utf8)
            #expect(text.contains("certctl.io/rate-limits:"))
            #expect(try IssuerLoader.parse(text, source: file).first?.rateLimits == expected)
        }
    }

    @Test(
        "a hostile certctl.io/rate-limits makes its issuer unusable, named, with what to write",
        arguments: ["[1, 2]", "{a: b}", "orders=-1/3h", "orders=99999999999999999999/3h", "orders=1/-3h", "\"\""])
    func issuerRefused(_ value: String) throws {
        do {
            _ = try IssuerLoader.parse(
                Self.issuer(server: "https://ca.example/dir", annotation: value), source: "le.yaml")
            Issue.record("\(value) was read")
        } catch let error as CertctlError {
            #expect(error.code == .invalidIssuer)
            #expect("\(error)".contains("certctl.io/rate-limits"), "\(error)")
            #expect("\(error)".contains("le"), "\(error)")
        }
    }

    @Test("issuers sharing one account share its limits: the stricter of each, said when they differ")
    func sharedAccount() throws {
        let yaml = """
            kind: ClusterIssuer
            metadata:
              name: le
              annotations: {certctl.io/rate-limits: "orders=300/3h, domain=50/168h, replaces=exempt"}
            spec: {acme: {server: "https://ca.example/dir", privateKeySecretRef: {name: shared}}}
            ---
            kind: ClusterIssuer
            metadata:
              name: le-dns
              annotations: {certctl.io/rate-limits: "orders=100/3h, names=5/168h"}
            spec: {acme: {server: "https://ca.example/dir", privateKeySecretRef: {name: shared}}}
            ---
            kind: ClusterIssuer
            metadata: {name: le-none, annotations: {certctl.io/rate-limits: none}}
            spec: {acme: {server: "https://ca.example/dir", privateKeySecretRef: {name: shared}}}
            ---
            kind: ClusterIssuer
            metadata: {name: other}
            spec: {acme: {server: "https://ca.example/dir", privateKeySecretRef: {name: own}}}
            """
        let parsed = try IssuerLoader.parse(yaml, source: "issuers.yaml")
        let (linked, notes) = IssuerLoader.linkFallbacks(Dictionary(uniqueKeysWithValues: parsed.map { ($0.key, $0) }))
        let expected = try RateLimits.parse("orders=100/3h, domain=50/168h, names=5/168h")
        // Fewer in the longer window: within both of 50 a week and 5 an hour.
        #expect(
            try RateLimits.parse("domain=50/168h").merged(with: try RateLimits.parse("domain=5/1h"))
                == (try RateLimits.parse("domain=5/168h")))
        for name in ["le", "le-dns", "le-none"] {
            #expect(linked[IssuerKey(name: name)]?.rateLimits == expected, "\(name)")
        }
        #expect(linked["other"]?.rateLimits == RateLimits.none)
        #expect(notes.count == 1)
        #expect(
            notes.first?.contains("share the account Secret shared with different certctl.io/rate-limits") == true,
            "\(notes)")
        // replaces is exempt only where every issuer that keeps limits says so; one keeping none says nothing.
        #expect(RateLimits.letsEncrypt.merged(with: .none).replacesExempt)
        #expect(!RateLimits.letsEncrypt.merged(with: try RateLimits.parse("orders=1/1h")).replacesExempt)
    }
}
