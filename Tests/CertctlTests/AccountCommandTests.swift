import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Logging
import Testing
import Transport

/// `certctl account show|rollover|deactivate` against a real Pebble, through the binary in local
/// mode (README "Accounts").
@Suite("certctl account, against Pebble", .serialized)
struct AccountCommandTests {
    struct Setup {
        let pebble: Pebble
        let project: LocalProject
        let port: Int

        static func make() async throws -> Setup {
            let port = freeLoopbackPort()
            let pebble = try await Pebble.start(httpPort: port)
            let project = try LocalProject.make(server: pebble.directoryURL, sites: ["hub"])
            return Setup(pebble: pebble, project: project, port: port)
        }

        func certctl(_ arguments: [String], input: String? = nil) async throws -> CertctlProcess.Result {
            try await CertctlProcess.run(arguments + LocalProject.flags, directory: project.directory, input: input)
        }

        func run() async throws -> CertctlProcess.Result {
            try await certctl(["run", "--http01-listen", "127.0.0.1:\(port)"])
        }

        func renewNow() async throws -> CertctlProcess.Result {
            try await certctl(["renew", "tls-hub", "--now", "--http01-listen", "127.0.0.1:\(port)"])
        }

        var accountFolder: URL { project.directory.appendingPathComponent("state/accounts/local-account") }

        func file(_ name: String) -> String? {
            try? String(contentsOf: accountFolder.appendingPathComponent(name), encoding: .utf8)
        }

        /// The account as stored, read as a run reads it.
        func stored() async throws -> StoredAccount {
            let issuer = try #require(
                try IssuerLoader.load(directory: project.directory.appendingPathComponent("issuers").path)["local"])
            return try #require(
                try await LocalAccountStore(stateDirectory: project.directory.appendingPathComponent("state").path)
                    .load(for: issuer))
        }

        /// Which account, if any, Pebble has for `key` (a lookup that creates none).
        func accountURL(of key: AccountKey) async throws -> String? {
            let client = ACMEClient(
                configuration: .init(directoryURL: pebble.directoryURL, tls: pebble.tls), accountKey: key,
                transport: CurlTransport(userAgent: "t"), logger: Logger(label: "t"))
            return try await client.lookUpAccount()?.url
        }

        /// The serial of the Secret's certificate.
        func serial() async throws -> String? {
            let secret = try await project.store.secret(namespace: "prod", name: "tls-hub")
            return secret.flatMap { CurrentCertificate(secret: $0).summary?.serialHex }
        }
    }

    static func value(_ label: String, in output: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix(label + " ") }.map {
            String($0.dropFirst(label.count)).trimmingCharacters(in: .whitespaces)
        }
    }

    @Test(
        "show, then a rollover keeps the account URL and moves it to a new key, with which the next certificate is issued"
    )
    func rollover() async throws {
        let setup = try await Setup.make()
        defer { setup.pebble.stop() }
        let none = try await setup.certctl(["account", "show", "--issuer", "local"])
        #expect(none.status == 64, "\(none.standardError)")
        #expect(none.standardError.contains("has no ACME account at \(setup.pebble.directoryURL) yet"))

        let first = try await setup.run()
        #expect(first.status == 0, "\(first.standardOutput)\(first.standardError)")
        let shown = try await setup.certctl(["account", "show", "--issuer", "local"])
        #expect(shown.status == 0, "\(shown.standardError)")
        let before = try await setup.stored()
        let url = try #require(before.url)
        #expect(Self.value("account", in: shown.standardOutput) == url, "\(shown.standardOutput)")
        #expect(Self.value("status", in: shown.standardOutput) == "valid")
        #expect(Self.value("contact", in: shown.standardOutput) == "mailto:ops@example.org")
        #expect(Self.value("key", in: shown.standardOutput) == "ES256, thumbprint \(before.key.thumbprint)")
        #expect(Self.value("in flight", in: shown.standardOutput) == "no order kept")

        let rolled = try await setup.certctl(["account", "rollover", "--issuer", "local"])
        #expect(rolled.status == 0, "\(rolled.standardError)")
        let after = try await setup.stored()
        #expect(after.url == url, "the same account URL")
        #expect(after.key.thumbprint != before.key.thumbprint)
        #expect(after.nextKey == nil && setup.file("next-key.pem") == nil, "the old key removed, no key left beside")
        #expect(
            rolled.standardOutput.contains(
                "account \(url): key \(before.key.thumbprint) replaced by \(after.key.thumbprint)"))
        #expect(try await setup.accountURL(of: after.key) == url, "the CA has the account under the new key")
        #expect(try await setup.accountURL(of: before.key) == nil, "and no longer under the old one")

        let serial = try await setup.serial()
        let renewed = try await setup.renewNow()
        #expect(renewed.status == 0, "\(renewed.standardOutput)\(renewed.standardError)")
        #expect(try await setup.serial() != serial, "a certificate issued with the new key")
        #expect(try await setup.stored().url == url, "no new account")
    }

    @Test(
        "a rollover killed between its two writes: the next run asks the CA which key it has and goes on with that one",
        arguments: [true, false])
    func killedRollover(reachedTheCA: Bool) async throws {
        let setup = try await Setup.make()
        defer { setup.pebble.stop() }
        #expect(try await setup.run().status == 0)
        var account = try await setup.stored()
        let url = try #require(account.url)
        let old = account.key
        // Write 1 (the new key beside the old), then maybe the CA's key change, then the kill.
        let new = try AccountKey(generating: .ecdsaP256)
        account.nextKey = new
        let issuer = try #require(
            try IssuerLoader.load(directory: setup.project.directory.appendingPathComponent("issuers").path)["local"])
        try await LocalAccountStore(stateDirectory: setup.project.directory.appendingPathComponent("state").path)
            .save(account, for: issuer)
        #expect(setup.file("next-key.pem") != nil)
        if reachedTheCA {
            let client = ACMEClient(
                configuration: .init(directoryURL: setup.pebble.directoryURL, tls: setup.pebble.tls), accountKey: old,
                accountURL: url, transport: CurlTransport(userAgent: "t"), logger: Logger(label: "t"))
            try await client.rollOver(to: new)
        }

        // `account show` holds no lock: it shows the account as the CA has it and writes nothing
        // (a rollover under the lock may be saving meanwhile).
        let shown = try await setup.certctl(["account", "show", "--issuer", "local"])
        #expect(shown.status == 0, "\(shown.standardOutput)\(shown.standardError)")
        #expect(shown.standardOutput.contains(url), "\(shown.standardOutput)")
        #expect(setup.file("next-key.pem") != nil, "the unfinished rollover left as it is")
        #expect(try await setup.stored().nextKey?.thumbprint == new.thumbprint)

        let serial = try await setup.serial()
        let renewed = try await setup.renewNow()
        #expect(renewed.status == 0, "\(renewed.standardOutput)\(renewed.standardError)")
        #expect(try await setup.serial() != serial)
        let settled = try await setup.stored()
        #expect(settled.url == url, "the same account")
        #expect(settled.key.thumbprint == (reachedTheCA ? new : old).thumbprint)
        #expect(settled.nextKey == nil && setup.file("next-key.pem") == nil)
    }

    @Test("deactivate asks first; confirmed (or --yes), the CA refuses the account afterwards and the run says so")
    func deactivate() async throws {
        let setup = try await Setup.make()
        defer { setup.pebble.stop() }
        #expect(try await setup.run().status == 0)
        let refused = try await setup.certctl(["account", "deactivate", "--issuer", "local"], input: "no\n")
        #expect(refused.status == 64, "\(refused.standardOutput)\(refused.standardError)")
        #expect(refused.standardError.contains("not confirmed: nothing was changed"))
        #expect(
            Self.value("status", in: try await setup.certctl(["account", "show", "--issuer", "local"]).standardOutput)
                == "valid")

        let confirmed = try await setup.certctl(["account", "deactivate", "--issuer", "local"], input: "yes\n")
        #expect(confirmed.status == 0, "\(confirmed.standardOutput)\(confirmed.standardError)")
        #expect(
            confirmed.standardOutput.contains(": deactivated; runs for issuer local fail until its key is replaced"))
        let renewed = try await setup.renewNow()
        #expect(renewed.status != 0, "a deactivated account issues nothing: \(renewed.standardOutput)")
        #expect(renewed.standardOutput.contains("Account has been deactivated"), "\(renewed.standardOutput)")
        // certctl check names the issuer whose account the CA no longer takes.
        let check = try await setup.certctl(["check", "--resolver", "127.0.0.1:1"])
        #expect(
            check.standardOutput.split(separator: "\n").contains {
                $0.hasPrefix("FAIL  account      issuer local: ") && $0.contains("deactivated")
            }, "\(check.standardOutput)")
    }
}
