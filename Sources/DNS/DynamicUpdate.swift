/// RFC 2136 dynamic updates, TSIG-signed (RFC 8945), to one primary server, and the lookups a
/// DNS-01 solver needs around them: the zone of a name, CNAME delegation, and whether every
/// authoritative server answers a TXT value yet.
public struct DynamicUpdate: Sendable {
    public var client: DNSClient
    public var key: TSIGKey?
    /// Seconds since 1970, for TSIG's time signed.
    public var now: @Sendable () -> UInt64

    public init(client: DNSClient, key: TSIGKey?, now: @escaping @Sendable () -> UInt64) {
        self.client = client
        self.key = key
        self.now = now
    }

    /// The zone `name` is in: the owner of the SOA the server gives for it (in the answer, or
    /// in the authority section of a negative answer, RFC 2308 §3).
    public func zone(of name: String) async throws(DNSError) -> String {
        var labels = name.lowercased().split(separator: ".").map(String.init)
        while !labels.isEmpty {
            let candidate = labels.joined(separator: ".")
            let answer = try await client.query(candidate, .soa)
            if answer.rcode == .noError || answer.rcode == .nxDomain {
                if let soa = (answer.answers + answer.authority).first(where: { $0.type == .soa }) {
                    return soa.name
                }
            } else {
                throw DNSError(
                    .refused, "\(client.server) answered \(answer.rcode) for the SOA of \(candidate)")
            }
            labels.removeFirst()
        }
        throw DNSError(.refused, "\(client.server) is authoritative for no zone above \(name)")
    }

    /// Follows CNAMEs from `name` (cert-manager's `cnameStrategy: Follow`), at most 10.
    public func followCNAMEs(_ name: String) async throws(DNSError) -> String {
        var current = name.lowercased()
        for _ in 0..<10 {
            let answer = try await client.query(current, .cname)
            guard let target = answer.answers.first(where: { $0.type == .cname && $0.name == current })?.dataName
            else { return current }
            current = target
        }
        throw DNSError(.malformed, "more than 10 CNAMEs from \(name)")
    }

    /// Adds `record` to `zone`.
    public func add(_ record: DNSRecord, zone: String) async throws(DNSError) {
        try await update(zone: zone, [record])
    }

    /// Deletes exactly `record` (class NONE, RFC 2136 §2.5.4): other values at the name stay.
    public func delete(_ record: DNSRecord, zone: String) async throws(DNSError) {
        var deletion = record
        deletion.dnsClass = .none
        deletion.ttl = 0
        try await update(zone: zone, [deletion])
    }

    private func update(zone: String, _ records: [DNSRecord]) async throws(DNSError) {
        var message = DNSMessage(id: UInt16.random(in: 0...UInt16.max), opcode: .update)
        message.questions = [.init(name: zone, type: .soa)]
        message.authority = records
        let answer: DNSMessage
        if let key {
            let (bytes, mac) = key.sign(message, time: now())
            let raw = try await client.exchange(bytes)
            answer = try DNSMessage(decoding: raw)
            guard answer.id == message.id else {
                throw DNSError(.malformed, "\(client.server) answered another message")
            }
            if answer.rcode == .notAuth, answer.tsigOffset == nil {
                throw DNSError(
                    .badSignature,
                    "\(client.server) refused the update of \(zone) (NOTAUTH): it does not know the TSIG key \(key.name) with \(key.algorithm.rawValue), or the key is not allowed to update the zone"
                )
            }
            try key.verify(raw, message: answer, requestMAC: mac)
        } else {
            answer = try await client.send(message)
        }
        guard answer.rcode == .noError else {
            throw DNSError(.refused, "\(client.server) refused the update of \(zone): \(answer.rcode)")
        }
    }

    /// The servers to check a record on: the addresses of the zone's NS records, on port 53.
    public func authoritativeServers(of zone: String) async throws(DNSError) -> [DNSClient] {
        let answer = try await client.query(zone, .ns)
        var servers: [DNSClient] = []
        for name in answer.answers.filter({ $0.type == .ns }).compactMap(\.dataName) {
            for type in [DNSType.a, .aaaa] {
                let addresses = try await client.query(name, type)
                for address in addresses.answers.compactMap(\.address) {
                    servers.append(DNSClient(host: address, port: 53, timeout: client.timeout))
                }
            }
        }
        guard !servers.isEmpty else {
            throw DNSError(.refused, "\(client.server) names no reachable NS for \(zone)")
        }
        return servers
    }

    /// The servers of `servers` that do not answer `value` at `name` yet.
    public static func missing(_ value: String, at name: String, on servers: [DNSClient]) async -> [String] {
        var missing: [String] = []
        for server in servers {
            let answer = try? await server.query(name, .txt)
            let values = answer?.answers.filter { $0.type == .txt && $0.name == name.lowercased() }.compactMap(
                \.txtValue)
            if values?.contains(value) != true { missing.append(server.server) }
        }
        return missing
    }
}
