import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import SwiftASN1
import Testing
import X509

@Suite("Accounts and revocation against a real Pebble", .serialized)
struct PebbleAccountTests {
    @Test("revocation by the account key with a reason, then by the certificate key")
    func revocation() async throws {
        try await withPebble { pebble, responder in
            let client = try pebble.client()
            _ = try await client.register()
            let solver = ResponderSolver(responder: responder)

            let first = try await client.issue(
                CertificateOrder(names: ["binder.mybinder.org"], key: try PrivateKey(generating: .ecdsaP256)),
                solver: solver)
            let der = try first.chain.leaf.derRepresentation()
            try await client.revoke(der, reason: .keyCompromise)
            await #expect(throws: ACMEError.self) { try await client.revoke(der, reason: .keyCompromise) }
            do {
                try await client.revoke(der)
            } catch let error as ACMEError {
                #expect(error.problem?.kind == .alreadyRevoked)
            }

            let key = try PrivateKey(generating: .ecdsaP256)
            let second = try await client.issue(
                CertificateOrder(names: ["binder.mybinder.org"], key: key), solver: solver)
            try await client.revoke(
                try second.chain.leaf.derRepresentation(), reason: .superseded,
                certificateKey: try AccountKey(pem: try key.pemRepresentation()))
        }
    }

    @Test("key rollover: the new key signs for the same account, the old one finds nothing")
    func keyRollover() async throws {
        try await withPebble { pebble, responder in
            let oldKey = try AccountKey(generating: .ecdsaP256)
            let client = try pebble.client(key: oldKey)
            let account = try await client.register()
            let newKey = try AccountKey(generating: .ecdsaP384)
            try await client.rollOver(to: newKey)
            #expect(await client.accountKey.thumbprint == newKey.thumbprint)
            #expect(try await client.fetchAccount().url == account.url)
            #expect(try await pebble.client(key: newKey).lookUpAccount()?.url == account.url)
            #expect(try await pebble.client(key: oldKey).lookUpAccount() == nil)
            let issued = try await client.issue(
                CertificateOrder(names: ["hub.mybinder.org"], key: try PrivateKey(generating: .ecdsaP256)),
                solver: ResponderSolver(responder: responder))
            #expect(CertificateSummary(issued.chain.leaf).dnsNames == ["hub.mybinder.org"])
        }
    }

    @Test("contact update and deactivation")
    func updateAndDeactivate() async throws {
        try await withPebble { pebble, responder in
            let client = try pebble.client()
            _ = try await client.register(contact: ["mailto:old@example.org"])
            let updated = try await client.updateAccount(contact: ["mailto:new@example.org"])
            #expect(updated.contact == ["mailto:new@example.org"])
            let deactivated = try await client.deactivateAccount()
            #expect(deactivated.status == "deactivated")
            await #expect(throws: ACMEError.self) {
                _ = try await client.issue(
                    CertificateOrder(names: ["x.mybinder.org"], key: try PrivateKey(generating: .ecdsaP256)),
                    solver: ResponderSolver(responder: responder))
            }
        }
    }

    @Test("External Account Binding: required, refused when missing or wrong, accepted when right")
    func externalAccountBinding() async throws {
        var options = Pebble.Options()
        let macKey = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
        options.externalAccountMACKeys = ["kid-1": macKey]
        try await withPebble(options) { pebble, _ in
            let directory = try await pebble.client().directory()
            #expect(directory.meta?.externalAccountRequired == true)

            do {
                _ = try await pebble.client().register()
                Issue.record("registration without EAB should fail")
            } catch let error as ACMEError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.reason.contains("External Account Binding"))
            }

            let wrong = ExternalAccountBinding(keyID: "kid-1", macKey: Array(repeating: 1, count: 48))
            do {
                _ = try await pebble.client().register(externalAccountBinding: wrong)
                Issue.record("a wrong MAC should be refused")
            } catch let error as ACMEError {
                #expect(error.code == .problem)
            }

            let right = try ExternalAccountBinding(keyID: "kid-1", encodedMACKey: macKey)
            let account = try await pebble.client().register(externalAccountBinding: right)
            #expect(account.status == "valid")
        }
    }
}
