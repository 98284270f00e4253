import CertctlCore
import Foundation
import Testing

/// The registered domain by the public suffix list (libpsl and Debian's publicsuffix), as Let's
/// Encrypt's per-domain limit counts it.
@Suite("Registered domains by the public suffix list")
struct RegisteredDomainTests {
    @Test("the system's list is loaded: no fallback warning")
    func listLoaded() {
        #expect(RegisteredDomain.listProblem == nil)
    }

    @Test(
        "a name's registered domain: ICANN and private suffixes, wildcards, case, a trailing dot",
        arguments: [
            ("www.example.org", "example.org"),
            ("example.org", "example.org"),
            ("new.blog.example.co.uk", "example.co.uk"),
            ("*.a.example.org", "example.org"),
            ("*.example.org", "example.org"),
            ("WWW.Example.ORG", "example.org"),
            ("hub.mybinder.org.", "mybinder.org"),
            // The list's private section counts: each github.io site is its own registered domain.
            ("foo.github.io", "foo.github.io"),
            ("a.b.foo.github.io", "foo.github.io"),
            ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
        ])
    func registered(_ name: String, _ expected: String) {
        #expect(RegisteredDomain.of(name) == expected)
    }

    @Test(
        "no registered domain: a public suffix itself, an address, an empty label, too long",
        arguments: [
            "co.uk", "org", "github.io", "*.co.uk", "localhost", "192.0.2.1", "2001:db8::1", "", ".", "a..example.org",
            ".example.org", String(repeating: "a.", count: 130) + "example.org", "exa\u{0}mple.org",
        ])
    func none(_ name: String) {
        #expect(RegisteredDomain.of(name) == nil)
    }

    @Test(
        "the limit's key: an IPv4 address itself, an IPv6 address's /64, a public suffix itself",
        arguments: [
            ("192.0.2.1", "192.0.2.1"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("2001:DB8:1:2::9", "2001:db8:1:2::/64"),
            ("localhost", "localhost"),
            ("CO.UK.", "co.uk"),
            ("*.hub.mybinder.org", "mybinder.org"),
        ])
    func limitKey(_ name: String, _ expected: String) {
        #expect(RegisteredDomain.limitKey(name) == expected)
    }

    @Test("lookups from many tasks at once agree (the context is loaded once and shared)")
    func concurrent() async {
        let names = (0..<64).map { "host\($0).team\($0 % 4).example.co.uk" }
        let results = await withTaskGroup(of: String?.self) { group in
            for name in names { group.addTask { RegisteredDomain.of(name) } }
            var all: [String?] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 64)
        #expect(Set(results) == ["example.co.uk"])
    }
}
