import Basics
import CertctlTestSupport
import DNS
import Foundation
import Testing

/// certctl's DNS messages against BIND 9: updates signed with TSIG, the zone of a name, CNAME
/// delegation, and answers read back by `dig`, a reader that is not certctl's.
@Suite("RFC 2136 updates with TSIG against BIND 9", .serialized)
struct DNSUpdateTests {
    static func updater(_ bind: BIND, key: TSIGKey? = nil) -> DynamicUpdate {
        DynamicUpdate(client: bind.client, key: key ?? bind.key, now: { UInt64(Date().timeIntervalSince1970) })
    }

    @Test("a TXT record is added, seen by dig and by every authoritative server, and exactly it removed")
    func addAndDelete() async throws {
        let bind = try await BIND.start()
        defer { bind.stop() }
        let update = Self.updater(bind)
        let name = "_acme-challenge.www.example.test"
        #expect(try await update.zone(of: name) == "example.test")
        try await update.add(.txt(name, "first-value", ttl: 60), zone: "example.test")
        try await update.add(.txt(name, "second-value", ttl: 60), zone: "example.test")
        #expect(Set(try bind.dig(name)) == ["first-value", "second-value"])
        #expect(await DynamicUpdate.missing("first-value", at: name, on: [bind.client]).isEmpty)

        try await update.delete(.txt(name, "first-value", ttl: 60), zone: "example.test")
        #expect(try bind.dig(name) == ["second-value"], "only the record named is deleted")
        #expect(await DynamicUpdate.missing("first-value", at: name, on: [bind.client]) == [bind.address])

        // The zone's NS are found (ns.example.test at 127.0.0.1, port 53 by the rules).
        let servers = try await update.authoritativeServers(of: "example.test")
        #expect(servers.map(\.server) == ["127.0.0.1:53"])
        // CNAME delegation of _acme-challenge (cnameStrategy: Follow).
        #expect(
            try await update.followCNAMEs("_acme-challenge.alias.example.test") == "_acme-challenge.target.example.test"
        )
        #expect(try await update.followCNAMEs(name) == name)
    }

    @Test("a wrong TSIG secret, or a key the server does not know, is refused with what to check; nothing is added")
    func wrongKey() async throws {
        let bind = try await BIND.start()
        defer { bind.stop() }
        let name = "_acme-challenge.bad.example.test"
        for key in [
            TSIGKey(name: bind.key.name, algorithm: .hmacSHA256, secret: Array(repeating: 7, count: 32)),
            TSIGKey(name: "unknown-key", algorithm: .hmacSHA256, secret: bind.key.secret),
            TSIGKey(name: bind.key.name, algorithm: .hmacSHA512, secret: bind.key.secret),
        ] {
            do {
                try await Self.updater(bind, key: key).add(.txt(name, "v", ttl: 60), zone: "example.test")
                Issue.record("the update with \(key.name) should be refused")
            } catch {
                #expect(error.code == .badSignature, "\(error)")
                #expect(error.description.contains(key.name), "\(error)")
            }
        }
        #expect(try bind.dig(name).isEmpty)
    }

    @Test("messages survive a round trip; truncated and looping answers are refused, not trusted")
    func wireFormat() throws {
        var message = DNSMessage(id: 0x1234, opcode: .update)
        message.questions = [.init(name: "example.test", type: .soa)]
        message.authority = [.txt("_acme-challenge.example.test", String(repeating: "x", count: 300), ttl: 60)]
        let decoded = try DNSMessage(decoding: message.encoded())
        #expect(decoded == message)
        #expect(decoded.authority.first?.txtValue == String(repeating: "x", count: 300), "split at 255, joined again")
        let bytes = message.encoded()
        for length in [0, 5, 12, bytes.count - 1] {
            #expect(throws: DNSError.self) { try DNSMessage(decoding: Array(bytes.prefix(length))) }
        }
        // A name that points at itself.
        var looping: [UInt8] = [0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        looping += [0xC0, 12, 0, 6, 0, 1]
        #expect(throws: DNSError.self) { try DNSMessage(decoding: looping) }
    }
}
