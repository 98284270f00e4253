import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import SwiftASN1
import Synchronization
import Testing
import X509

@Suite("Issuance against a real Pebble", .serialized)
struct PebbleIssuanceTests {
    @Test("one name, new account: a chain that verifies to Pebble's root", arguments: [1, 3])
    func issue(nameCount: Int) async throws {
        try await withPebble { pebble, responder in
            let requests = Mutex<[String]>([])
            // Patient for a nonce as long as Pebble may take on a machine building the image beside
            // it: what is counted is that no request fetches its own while answers are coming.
            let client = try pebble.client(
                observer: { record in requests.withLock { $0.append(record.action) } }, noncePatience: .seconds(60))
            let account = try await client.register(contact: ["mailto:ops@example.org"])
            #expect(account.status == "valid")
            #expect(account.url.hasPrefix("https://localhost"))

            let names = ["mybinder.org", "hub.mybinder.org", "static.mybinder.org"].prefix(nameCount).map { $0 }
            let key = try PrivateKey(generating: .ecdsaP256)
            let issued = try await client.issue(
                CertificateOrder(names: names, key: key), solver: ResponderSolver(responder: responder))

            let summary = CertificateSummary(issued.chain.leaf)
            #expect(Set(summary.dnsNames) == Set(names))
            #expect(key.matches(issued.chain.leaf))
            #expect(summary.notAfter > Date())
            #expect(issued.chain.certificates.count >= 2)
            try expectChainVerifies(issued.chain.certificates, root: try await pebble.root(0))
            try IssuedCheck.verify(issued, key: key, names: names, now: Date())

            let actions = requests.withLock { $0 }
            #expect(actions.first == "directory")
            #expect(
                actions.filter { $0 == "newNonce" }.count == 1,
                "one HEAD newNonce per run, however many names: \(actions)")
        }
    }

    @Test("certificate key types", arguments: [KeyType.ecdsaP384, .rsa2048])
    func keyTypes(type: KeyType) async throws {
        try await withPebble { pebble, responder in
            let client = try pebble.client()
            _ = try await client.register()
            let key = try PrivateKey(generating: type)
            let issued = try await client.issue(
                CertificateOrder(names: ["grafana.mybinder.org"], key: key),
                solver: ResponderSolver(responder: responder))
            #expect(CertificateSummary(issued.chain.leaf).keyType == type)
            #expect(key.matches(issued.chain.leaf))
        }
    }

    @Test("the same key finds the same account; an unknown key finds none")
    func accountReuse() async throws {
        try await withPebble { pebble, _ in
            let key = try AccountKey(generating: .ecdsaP256)
            let first = try await pebble.client(key: key).register()
            let again = try await pebble.client(key: key).register()
            #expect(again.url == first.url)
            let found = try await pebble.client(key: key).lookUpAccount()
            #expect(found?.url == first.url)
            #expect(try await pebble.client().lookUpAccount() == nil)
        }
    }

    @Test("an existing RS256 account key still works")
    func rsaAccount() async throws {
        try await withPebble { pebble, responder in
            let client = try pebble.client(key: try AccountKey(generating: .rsa2048))
            _ = try await client.register()
            let key = try PrivateKey(generating: .ecdsaP256)
            let issued = try await client.issue(
                CertificateOrder(names: ["prometheus.mybinder.org"], key: key),
                solver: ResponderSolver(responder: responder))
            #expect(CertificateSummary(issued.chain.leaf).dnsNames == ["prometheus.mybinder.org"])
        }
    }

    @Test("half of all nonces rejected: every issuance still succeeds")
    func nonceRejection() async throws {
        var options = Pebble.Options()
        options.nonceRejectPercent = 50
        try await withPebble(options) { pebble, responder in
            let badNonces = Mutex(0)
            let client = try pebble.client(observer: { record in
                if record.status == 400 { badNonces.withLock { $0 += 1 } }
            })
            _ = try await client.register()
            for index in 0..<3 {
                let key = try PrivateKey(generating: .ecdsaP256)
                let issued = try await client.issue(
                    CertificateOrder(names: ["n\(index).mybinder.org", "m\(index).mybinder.org"], key: key),
                    solver: ResponderSolver(responder: responder)
                )
                #expect(key.matches(issued.chain.leaf))
            }
            #expect(badNonces.withLock { $0 } > 0, "Pebble should have rejected some nonces")
        }
    }

    @Test("preferred chain picks the alternate whose root has that name; default otherwise")
    func alternateChains() async throws {
        var options = Pebble.Options()
        options.alternateRoots = 2
        try await withPebble(options) { pebble, responder in
            let client = try pebble.client()
            _ = try await client.register()
            let alternateRoot = try Certificate(pemEncoded: try await pebble.root(1))
            let wanted = try #require(alternateRoot.subject.commonName)
            let defaultRoot = try Certificate(pemEncoded: try await pebble.root(0))

            let preferred = try await client.issue(
                CertificateOrder(
                    names: ["static.mybinder.org"], key: try PrivateKey(generating: .ecdsaP256), preferredChain: wanted),
                solver: ResponderSolver(responder: responder)
            )
            #expect(preferred.chain.topIssuerCommonName == wanted)
            try expectChainVerifies(preferred.chain.certificates, root: try await pebble.root(1))

            let standard = try await client.issue(
                CertificateOrder(names: ["static.mybinder.org"], key: try PrivateKey(generating: .ecdsaP256)),
                solver: ResponderSolver(responder: responder)
            )
            #expect(standard.chain.topIssuerCommonName == defaultRoot.subject.commonName)

            let unknown = try await client.issue(
                CertificateOrder(
                    names: ["static.mybinder.org"], key: try PrivateKey(generating: .ecdsaP256),
                    preferredChain: "No Such Root"),
                solver: ResponderSolver(responder: responder)
            )
            #expect(unknown.chain.topIssuerCommonName == defaultRoot.subject.commonName)
        }
    }
}
