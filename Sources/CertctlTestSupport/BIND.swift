public import DNS
import Foundation

/// BIND 9 from Debian (`named`), started on a free loopback port as the primary of one zone
/// that a TSIG key may update (RFC 2136): the real DNS server of the DNS-01 tests.
public final class BIND: Sendable {
    public let zone: String
    public let port: Int
    public let key: TSIGKey
    private let process: Process
    private let work: URL

    public var address: String { "127.0.0.1:\(port)" }
    public var client: DNSClient { DNSClient(host: "127.0.0.1", port: port, timeout: .seconds(5)) }
    /// The key's secret as BIND's `key` statement and a Secret hold it (base64).
    public var secretText: String { Data(key.secret).base64EncodedString() }

    /// Starts `named` for `zone`, whose every name resolves to 127.0.0.1 (so that Pebble, which
    /// resolves through it, reaches the tests' HTTP-01 responders too), and for each of
    /// `otherZones` (empty but for what the key adds): a parent, so that a climb to the root
    /// (CAA's) is answered rather than refused, or a zone a CNAME points into.
    public static func start(
        zone: String = "example.test", keyName: String = "certctl-test", otherZones: [String] = []
    ) async throws -> BIND {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("certctl-bind-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let port = freeLoopbackPort(udp: true)
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let key = TSIGKey(name: keyName, algorithm: .hmacSHA256, secret: secret)
        let zoneFile = work.appendingPathComponent("\(zone).db")
        try """
        $TTL 60
        @ IN SOA ns.\(zone). hostmaster.\(zone). 1 60 60 600 60
        @ IN NS ns.\(zone).
        ns IN A 127.0.0.1
        @ IN A 127.0.0.1
        * IN A 127.0.0.1
        _acme-challenge.alias IN CNAME _acme-challenge.target.\(zone).

        """.write(to: zoneFile, atomically: true, encoding: .utf8)
        var zones = [(zone, zoneFile)]
        for (index, other) in otherZones.enumerated() {
            let file = work.appendingPathComponent("other-\(index).db")
            try """
            $TTL 60
            @ IN SOA ns hostmaster 1 60 60 600 60
            @ IN NS ns
            ns IN A 127.0.0.1

            """.write(to: file, atomically: true, encoding: .utf8)
            zones.append((other, file))
        }
        let statements = zones.map {
            "zone \"\($0.0)\" { type primary; file \"\($0.1.path)\"; allow-update { key \"\(keyName)\"; }; };"
        }.joined(separator: "\n")
        let configuration = work.appendingPathComponent("named.conf")
        try """
        options {
            directory "\(work.path)";
            pid-file "\(work.path)/named.pid";
            session-keyfile "\(work.path)/session.key";
            listen-on port \(port) { 127.0.0.1; };
            listen-on-v6 { none; };
            recursion no;
            dnssec-validation no;
            allow-query { any; };
            notify no;
        };
        controls { };
        key "\(keyName)" { algorithm hmac-sha256; secret "\(Data(secret).base64EncodedString())"; };
        \(statements)

        """.write(to: configuration, atomically: true, encoding: .utf8)
        let process = try Pebble.launch(
            "/usr/sbin/named", ["-g", "-n", "1", "-c", configuration.path], environment: [:],
            log: work.appendingPathComponent("named.log"))
        let bind = BIND(zone: zone, port: port, key: key, process: process, work: work)
        try await bind.waitUntilReady()
        return bind
    }

    private init(zone: String, port: Int, key: TSIGKey, process: Process, work: URL) {
        self.zone = zone
        self.port = port
        self.key = key
        self.process = process
        self.work = work
    }

    private func waitUntilReady() async throws {
        for _ in 0..<200 {
            if let answer = try? await DNSClient(host: "127.0.0.1", port: port, timeout: .seconds(1)).query(zone, .soa),
                answer.answers.contains(where: { $0.type == .soa })
            {
                return
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = self.log
        stop()
        throw PebbleError(reason: "named did not answer for \(zone) on \(address): \(log)")
    }

    /// named's log so far.
    public var log: String {
        (try? String(contentsOf: work.appendingPathComponent("named.log"), encoding: .utf8)) ?? ""
    }

    /// The TXT values at `name`, as `dig` (bind9-dnsutils) reads them: a reader that is not certctl's.
    public func dig(_ name: String) throws -> [String] {
        try dig(name, type: "TXT").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
    }

    /// The records of `type` at `name` in presentation form (`0 issue "ca.example.net"`), as
    /// `dig +short` writes them.
    public func dig(_ name: String, type: String) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/dig")
        process.arguments = ["@127.0.0.1", "-p", "\(port)", "+short", "+tcp", name, type]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: work)
    }
}
