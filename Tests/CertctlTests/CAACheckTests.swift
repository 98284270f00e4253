import ACME
import CertctlCore
import CertctlTestSupport
import DNS
import Foundation
import Logging
import Testing
import Transport

/// CAA as `certctl check` reads it and `certctl caa-record` writes it, through a real BIND 9
/// serving the records (`test`, and `cdn.example` for CNAME targets, which BIND does not chase
/// into from another zone: certctl follows them itself) and the in-process CA listing its
/// `caaIdentities`.
@Suite("CAA through BIND 9: certctl check and caa-record", .serialized)
struct CAACheckTests {
    static let identity = "ca.certctl.test"

    struct Setup {
        let bind: BIND
        let ca: TestACMEServer
        let folder: URL

        /// BIND for `test` and `cdn.example`, the CA, and one managed Ingress per certificate
        /// (`tls-<certificate>`); the wildcards take dns-persist-01, the rest HTTP-01.
        static func make(_ certificates: [String: [String]]) async throws -> Setup {
            let bind = try await BIND.start(zone: "test", otherZones: ["cdn.example"])
            var behaviour = TestACMEServer.Behaviour()
            behaviour.caaIdentities = [identity]
            let ca = try await TestACMEServer.start(validationPort: freeLoopbackPort(), behaviour: behaviour)
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "certctl-caa-\(UUID().uuidString)")
            for directory in ["issuers", "ingress", "state"] {
                try FileManager.default.createDirectory(
                    at: folder.appendingPathComponent(directory), withIntermediateDirectories: true)
            }
            let wildcards = certificates.values.flatMap { $0 }.filter { $0.hasPrefix("*.") }
            try issuerYAML("local", server: ca.directoryURL, wildcards: wildcards).write(
                to: folder.appendingPathComponent("issuers/local.yaml"), atomically: true, encoding: .utf8)
            for (name, hosts) in certificates {
                try """
                apiVersion: networking.k8s.io/v1
                kind: Ingress
                metadata: {name: \(name), namespace: prod, annotations: {kubernetes.io/tls-acme: "true"}}
                spec:
                  tls: [{hosts: [\(hosts.map { "\"\($0)\"" }.joined(separator: ", "))], secretName: tls-\(name)}]
                """.write(to: folder.appendingPathComponent("ingress/\(name).yaml"), atomically: true, encoding: .utf8)
            }
            return Setup(bind: bind, ca: ca, folder: folder)
        }

        /// An issuer at `server` whose dnsPersist01 solver takes `wildcards`, HTTP-01 the rest.
        static func issuerYAML(_ name: String, server: String, wildcards: [String] = []) -> String {
            let names = wildcards.map { "\"\($0)\"" }.joined(separator: ", ")
            let persist = wildcards.isEmpty ? "" : "      - {selector: {dnsNames: [\(names)]}, dnsPersist01: {}}\n"
            return """
                apiVersion: cert-manager.io/v1
                kind: ClusterIssuer
                metadata: {name: \(name)}
                spec:
                  acme:
                    server: \(server)
                    privateKeySecretRef: {name: \(name)-account}
                    solvers:
                \(persist)      - http01: {ingress: {}}
                """
        }

        var updater: DynamicUpdate {
            DynamicUpdate(client: bind.client, key: bind.key, now: { UInt64(Date().timeIntervalSince1970) })
        }

        static func zone(of name: String) -> String { name.hasSuffix("cdn.example") ? "cdn.example" : "test" }

        /// Publishes CAA records (`0 issue ca.example`: flags, tag, value) at `name`.
        func publish(_ name: String, _ records: [String]) async throws {
            for text in records {
                let parts = text.split(separator: " ", maxSplits: 2).map(String.init)
                let record = CAARecord(flags: UInt8(parts[0]) ?? 0, tag: parts[1], parts[2])
                try await updater.add(.caa(name, record, ttl: 60), zone: Self.zone(of: name))
            }
        }

        /// Publishes zone-file lines as `caa-record` prints them (`NAME. IN CAA 0 issue "VALUE"`).
        func publish(zoneLines: [String]) async throws {
            for line in zoneLines {
                let fields = line.split(separator: " ", maxSplits: 5).map(String.init)
                try #require(fields.count == 6 && fields[1] == "IN" && fields[2] == "CAA", "\(line)")
                try await publish(
                    String(fields[0].dropLast()), ["\(fields[3]) \(fields[4]) \(fields[5].dropFirst().dropLast())"])
            }
        }

        func unpublish(_ name: String, _ text: String) async throws {
            let parts = text.split(separator: " ", maxSplits: 2).map(String.init)
            let record = CAARecord(flags: UInt8(parts[0]) ?? 0, tag: parts[1], parts[2])
            try await updater.delete(.caa(name, record, ttl: 60), zone: Self.zone(of: name))
        }

        func alias(_ name: String, to target: String) async throws {
            var wire: [UInt8] = []
            for label in target.split(separator: ".") {
                wire += [UInt8(clamping: label.utf8.count)] + Array(label.utf8)
            }
            wire.append(0)
            try await updater.add(DNSRecord(name: name, type: .cname, ttl: 60, data: wire), zone: Self.zone(of: name))
        }

        /// Addresses for HTTP-01 hosts below a name that has records (the zone's `*` no longer covers them).
        func address(_ names: [String]) async throws {
            for name in names {
                try await updater.add(
                    DNSRecord(name: name, type: .a, ttl: 60, data: [127, 0, 0, 1]), zone: Self.zone(of: name))
            }
        }

        func certctl(_ arguments: [String], state: String = "state") async throws -> CertctlProcess.Result {
            try await CertctlProcess.run(
                arguments + [
                    "--manifests", "ingress", "--state", state, "--issuers", "issuers", "--default-issuer", "local",
                ], directory: folder)
        }

        /// `certctl check`: its exit status and its CAA lines.
        func check(state: String = "state") async throws -> (status: Int32, lines: [String], output: String) {
            let result = try await certctl(["check", "--resolver", bind.address], state: state)
            let lines = result.standardOutput.split(separator: "\n").map(String.init)
            return (result.status, lines.filter { $0.dropFirst(6).hasPrefix("CAA ") }, result.standardOutput)
        }

        /// Registers issuer `local`'s account in `state` as a run would: its URL.
        func register(state: String = "state") async throws -> String {
            let issuers = try IssuerLoader.load(directory: folder.appendingPathComponent("issuers").path)
            let issuer = try #require(issuers[.cluster("local")])
            let client = try await AccountSession.open(
                issuer: issuer, store: LocalAccountStore(stateDirectory: folder.appendingPathComponent(state).path),
                secrets: LocalSecretValues(directories: []), transport: CurlTransport(userAgent: "certctl-test"),
                logger: Logger(label: "caa-test"))
            return try #require(await client.accountURL)
        }

        func stop() async {
            bind.stop()
            await ca.stop()
            try? FileManager.default.removeItem(at: folder)
        }
    }

    static func line(_ outcome: String, _ host: String, _ message: String, role: String = "primary local") -> String {
        "\(outcome.padding(toLength: 5, withPad: " ", startingAt: 0)) CAA          \(host), \(role): \(message)"
    }

    static let advice = "(certctl caa-record prints the records)"

    @Test(
        "check: allowed, a parent's record, the name's own, forbidden, accounturi, CNAMEs, issuewild, validationmethods"
    )
    func check() async throws {
        let setup = try await Setup.make([
            "plain": ["www.plain.test"], "parent": ["a.allowed.test"], "own": ["www.own.test"],
            "forbidden": ["www.forbidden.test"], "account": ["www.account.test"], "cname": ["www.cname.test"],
            "cname2": ["www.cname2.test"], "wild": ["*.wild.test", "wild.test"], "methods": ["www.methods.test"],
        ])
        // Stopped however the test ends (a failed #require throws); BIND at once, not later.
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        let allow = "0 issue \(Self.identity)"
        try await setup.publish("allowed.test", [allow])
        try await setup.publish("www.own.test", [allow])
        try await setup.publish("own.test", ["0 issue pki.goog"])
        try await setup.publish("forbidden.test", ["0 issue pki.goog"])
        try await setup.publish(
            "account.test", ["0 issue \(Self.identity); accounturi=https://elsewhere.example/acct/9"])
        // The alias's own parent forbids: only a followed CNAME allows.
        try await setup.alias("www.cname.test", to: "edge.cdn.example")
        try await setup.publish("edge.cdn.example", [allow])
        try await setup.publish("cname.test", ["0 issue pki.goog"])
        // A target without records: the alias's parent decides, not the target's (cdn.example allows).
        try await setup.alias("www.cname2.test", to: "none.cdn.example")
        try await setup.publish("cdn.example", [allow])
        try await setup.publish("cname2.test", ["0 issue pki.goog"])
        try await setup.publish("wild.test", [allow, "0 issuewild pki.goog"])
        try await setup.publish("methods.test", ["0 issue \(Self.identity); validationmethods=dns-01"])
        try await setup.address([
            "a.allowed.test", "www.own.test", "www.forbidden.test", "www.account.test", "www.methods.test",
            "wild.test", "edge.cdn.example", "none.cdn.example",
        ])
        // What certctl wrote is what BIND serves, read by dig.
        #expect(try setup.bind.dig("allowed.test", type: "CAA") == ["0 issue \"\(Self.identity)\""])

        let before = try await setup.check()
        #expect(before.status == 2, "\(before.output)")
        try Self.expectCommonLines(before.lines)
        #expect(
            before.lines.contains(
                Self.line(
                    "warn", "www.account.test",
                    "CAA at account.test (parent of www.account.test): 0 issue \"ca.certctl.test; accounturi=https://elsewhere.example/acct/9\" allows one account only, and issuer local has no account yet: after the first run registers it, compare its URL (certctl account show --issuer local)"
                )), "\(before.lines)")

        let url = try await setup.register()
        let after = try await setup.check()
        #expect(after.status == 2, "\(after.output)")
        try Self.expectCommonLines(after.lines, account: url)
        #expect(
            after.lines.contains(
                Self.line(
                    "FAIL", "www.account.test",
                    "forbidden by CAA at account.test (parent of www.account.test): 0 issue \"ca.certctl.test; accounturi=https://elsewhere.example/acct/9\": another account (issuer local's is \(url)); add 0 issue \"ca.certctl.test; accounturi=\(url)\" at account.test \(Self.advice)"
                )), "\(after.lines)")
        // The failures are CAA's and no other check's.
        let failed = after.output.split(separator: "\n").filter { $0.hasPrefix("FAIL") }
        #expect(failed.count == 5 && failed.allSatisfy { $0.hasPrefix("FAIL  CAA ") }, "\(failed)")
    }

    /// The records of `certctl caa-record`'s output (its comments left out).
    static func records(_ output: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { !$0.hasPrefix(";") }
    }

    /// What caa-record prints for the shop's names, with `account` as accounturi.
    static func shopRecords(account: String?) -> [String] {
        let pin = account.map { "; accounturi=\($0)" } ?? ""
        return [
            "shop.test. IN CAA 0 issue \"ca.certctl.test\(pin); validationmethods=http-01\"",
            "shop.test. IN CAA 0 issuewild \"ca.certctl.test\(pin); validationmethods=dns-persist-01\"",
        ]
    }

    @Test(
        "caa-record prints what lets exactly this issuer and account issue; published, check passes, for another account it fails"
    )
    func roundTrip() async throws {
        let setup = try await Setup.make(["shop": ["www.shop.test", "api.shop.test", "*.shop.test"]])
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        try await setup.publish("shop.test", ["0 issue pki.goog"])
        try await setup.address(["www.shop.test", "api.shop.test"])
        // No account yet: the records leave accounturi out, and a comment says so.
        let fresh = try await setup.certctl(["caa-record"])
        #expect(fresh.status == 0, "\(fresh.standardError)")
        #expect(Self.records(fresh.standardOutput) == Self.shopRecords(account: nil), "\(fresh.standardOutput)")
        #expect(
            fresh.standardOutput.contains(
                "; issuer local has no ACME account yet: this lets any account at ca.certctl.test issue; after the first certctl run registers one, run certctl caa-record again to add its accounturi"
            ), "\(fresh.standardOutput)")
        let refused = try await setup.check()
        #expect(refused.status == 2, "\(refused.output)")
        #expect(refused.lines.filter { $0.hasPrefix("FAIL  CAA ") }.count == 3, "\(refused.lines)")

        let url = try await setup.register()
        let printed = try await setup.certctl(["caa-record"])
        let records = Self.records(printed.standardOutput)
        #expect(records == Self.shopRecords(account: url), "\(printed.standardOutput)")
        // Published as printed, in place of the record that forbade.
        try await setup.unpublish("shop.test", "0 issue pki.goog")
        try await setup.publish(zoneLines: records)
        let passed = try await setup.check()
        #expect(passed.status == 0, "\(passed.output)")
        let value = "ca.certctl.test; accounturi=\(url)"
        let wildcard = "allowed by CAA at shop.test: 0 issuewild \"\(value); validationmethods=dns-persist-01\""
        let expected =
            [Self.line("ok", "*.shop.test", wildcard)]
            + ["api.shop.test", "www.shop.test"].map {
                Self.line(
                    "ok", $0,
                    "allowed by CAA at shop.test (parent of \($0)): 0 issue \"\(value); validationmethods=http-01\"")
            }
        #expect(passed.lines.sorted() == expected, "\(passed.output)")

        // Another account of the same CA (another state directory): refused, every name.
        let other = try await setup.register(state: "other-state")
        let stranger = try await setup.check(state: "other-state")
        #expect(stranger.status == 2, "\(stranger.output)")
        #expect(
            stranger.lines.filter {
                $0.hasPrefix("FAIL  CAA ") && $0.contains("another account (issuer local's is \(other))")
            }
            .count == 3, "\(stranger.lines)")
    }

    @Test("caa-record -d: a name no Ingress has takes --issuer's chain; without --issuer it is refused, saying so")
    func givenNames() async throws {
        let setup = try await Setup.make(["hub": ["hub.example.test"]])
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        let given = try await setup.certctl(["caa-record", "-d", "www.else.test", "-d", "hub.example.test"])
        #expect(given.status != 0)
        #expect(
            given.standardError.contains(
                "-d www.else.test: no managed Ingress has this name, so its issuer is not known; give --issuer NAME"),
            "\(given.standardError)")
        let url = try await setup.register()
        let named = try await setup.certctl([
            "caa-record", "-d", "www.else.test", "-d", "hub.example.test", "--issuer", "local",
        ])
        #expect(
            Self.records(named.standardOutput) == [
                "www.else.test. IN CAA 0 issue \"ca.certctl.test; accounturi=\(url); validationmethods=http-01\"",
                "hub.example.test. IN CAA 0 issue \"ca.certctl.test; accounturi=\(url); validationmethods=http-01\"",
            ], "\(named.standardOutput)\(named.standardError)")
    }

    @Test("a chain: each issuer on a line of its own, labelled by position; a fallback CAA forbids fails the check")
    func chain() async throws {
        let setup = try await Setup.make(["parent": ["a.allowed.test"]])
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        var behaviour = TestACMEServer.Behaviour()
        behaviour.caaIdentities = ["backup.example"]
        let backupCA = try await TestACMEServer.start(validationPort: freeLoopbackPort(), behaviour: behaviour)
        let unlistedCA = try await TestACMEServer.start(validationPort: freeLoopbackPort())
        defer {
            Task {
                await backupCA.stop()
                await unlistedCA.stop()
            }
        }
        for (name, server) in [("backup", backupCA.directoryURL), ("unlisted", unlistedCA.directoryURL)] {
            try Setup.issuerYAML(name, server: server).write(
                to: setup.folder.appendingPathComponent("issuers/\(name).yaml"), atomically: true, encoding: .utf8)
        }
        try await setup.publish("allowed.test", ["0 issue \(Self.identity)"])
        let issuers = try IssuerLoader.load(directory: setup.folder.appendingPathComponent("issuers").path)
        let state = setup.folder.appendingPathComponent("state").path
        let store = LocalDirectoryStore(manifests: setup.folder.appendingPathComponent("ingress").path, state: state)
        let preflight = Preflight(
            store: store, scope: .all, issuers: issuers, defaultIssuer: "local", place: .local(state: state),
            transport: CurlTransport(userAgent: "certctl-test"), client: nil, namespace: nil,
            resolver: setup.bind.address, requestTimeout: .seconds(5), logger: Logger(label: "caa-test"))
        let inventory = try await Inventory.load(from: store, scope: .all, issuers: issuers, defaultIssuer: "local")
        let fallbacks = try ["backup", "unlisted"].map { try #require(issuers[.cluster($0)]) }
        let results = await preflight.caa(inventory, chain: { [$0] + fallbacks })
        let place = "CAA at allowed.test (parent of a.allowed.test)"
        #expect(
            results == [
                Preflight.Result(
                    .ok, "CAA", "a.allowed.test, primary local: allowed by \(place): 0 issue \"ca.certctl.test\""),
                Preflight.Result(
                    .failed, "CAA",
                    "a.allowed.test, fallback 1 backup: forbidden by \(place): 0 issue \"ca.certctl.test\": another CA (this issuer's is backup.example); add 0 issue \"backup.example\" at allowed.test \(Self.advice)"
                ),
                Preflight.Result(
                    .warning, "CAA",
                    "a.allowed.test, fallback 2 unlisted: \(place) restricts issuance (0 issue \"ca.certctl.test\"), and the CA's directory \(unlistedCA.directoryURL) lists no caaIdentities: whether it may issue cannot be checked; compare the records with the CA's documentation"
                ),
            ], "\(results.map(\.message))")
    }

    /// The lines that do not depend on the account (`account`: the accounturi the advice adds).
    static func expectCommonLines(_ lines: [String], account: String? = nil) throws {
        let pin = account.map { "; accounturi=\($0)" } ?? ""
        let refusal = "0 issue \"pki.goog\": another CA (this issuer's is ca.certctl.test)"
        let expected = [
            line("ok", "www.plain.test", "no CAA record at www.plain.test or its parents: any CA may issue"),
            line(
                "ok", "a.allowed.test",
                "allowed by CAA at allowed.test (parent of a.allowed.test): 0 issue \"ca.certctl.test\""),
            line("ok", "www.own.test", "allowed by CAA at www.own.test: 0 issue \"ca.certctl.test\""),
            line(
                "FAIL", "www.forbidden.test",
                "forbidden by CAA at forbidden.test (parent of www.forbidden.test): \(refusal); add 0 issue \"ca.certctl.test\(pin)\" at forbidden.test \(advice)"
            ),
            line(
                "ok", "www.cname.test",
                "allowed by CAA at edge.cdn.example (CNAME target of www.cname.test): 0 issue \"ca.certctl.test\""),
            line(
                "FAIL", "www.cname2.test",
                "forbidden by CAA at cname2.test (parent of www.cname2.test): \(refusal); add 0 issue \"ca.certctl.test\(pin)\" at cname2.test \(advice)"
            ),
            line("ok", "wild.test", "allowed by CAA at wild.test: 0 issue \"ca.certctl.test\""),
            line(
                "FAIL", "*.wild.test",
                "forbidden by CAA at wild.test: 0 issuewild \"pki.goog\": another CA (this issuer's is ca.certctl.test); add 0 issuewild \"ca.certctl.test\(pin)\" at wild.test \(advice)"
            ),
            line(
                "FAIL", "www.methods.test",
                "forbidden by CAA at methods.test (parent of www.methods.test): 0 issue \"ca.certctl.test; validationmethods=dns-01\": it allows dns-01 only; issuer local validates the name with http-01; add 0 issue \"ca.certctl.test\(pin)\" at methods.test \(advice)"
            ),
        ]
        for line in expected {
            #expect(lines.contains(line), "missing: \(line)\nin: \(lines.joined(separator: "\n"))")
        }
        #expect(lines.count == expected.count + 1, "one line per name: \(lines)")
    }
}
