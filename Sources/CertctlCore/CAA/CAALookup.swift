public import DNS
import Synchronization

/// The CAA records that decide for one name: its Relevant RRset (RFC 8659 §3).
public struct CAASet: Sendable, Equatable {
    /// The name asked about (a wildcard's base: `*.example.org` asks at `example.org`).
    public var name: String
    /// The name of the climb whose query found the set: `name` or a parent; nil when none had one.
    public var node: String?
    /// Where the records are: `node`, or the end of its CNAME chain.
    public var owner: String?
    public var records: [CAARecord]
    /// Records of the set whose RDATA cannot be read, why.
    public var unreadable: [String]

    public init(name: String, node: String?, owner: String?, records: [CAARecord], unreadable: [String] = []) {
        self.name = name
        self.node = node
        self.owner = owner
        self.records = records
        self.unreadable = unreadable
    }

    /// `CAA at example.org (parent of www.example.org)`, `CAA at edge.cdn.example (CNAME target
    /// of www.example.org)`: where the set was found, for messages.
    public var place: String {
        guard let node, let owner else { return "no CAA record at \(name) or its parents" }
        var relation: [String] = []
        if owner != node { relation.append("CNAME target of \(node)") }
        if node != name { relation.append("parent of \(name)") }
        return "CAA at \(owner)" + (relation.isEmpty ? "" : " (\(relation.joined(separator: ", ")))")
    }
}

/// Finds names' relevant CAA sets through one DNS server (RFC 8659 §3): the CAA records at the
/// name, following its CNAMEs (a resolver's alias processing; where the server answers only
/// the CNAME, its target is asked for here, at most ``maximumCNAMEs`` in all); if there are
/// none, the same at its parent, and so on up to (not including) the root. A CNAME's target
/// without records is not climbed from: the climb goes on from the original name's parent, as
/// RFC 8659 says (RFC 6844 climbed the target's). What each name answered is kept, so names
/// that share parents ask for them once.
public final class CAALookup: Sendable {
    public typealias Query = @Sendable (String) async throws(DNSError) -> DNSMessage

    /// More CNAMEs than this from one name is a loop, or as good as one.
    public static let maximumCNAMEs = 8
    /// The server, for messages.
    public let server: String
    private let query: Query
    private let answered = Mutex<[String: (owner: String, records: [DNSRecord])]>([:])

    public init(server: String, query: @escaping Query) {
        self.server = server
        self.query = query
    }

    /// Asks `client` (a resolver, or an authoritative server of every zone climbed through).
    public convenience init(client: DNSClient) {
        self.init(server: client.server) { (name: String) async throws(DNSError) -> DNSMessage in
            try await client.query(name, .caa)
        }
    }

    /// The relevant set of `name` (`*.x`: of `x`); no owner when no name up to the root has one.
    public func relevantSet(for name: String) async throws(DNSError) -> CAASet {
        var base = name.lowercased()
        if base.hasSuffix(".") { base.removeLast() }
        if base.hasPrefix("*.") { base.removeFirst(2) }
        var labels = base.split(separator: ".")
        while !labels.isEmpty {
            let node = labels.joined(separator: ".")
            let (owner, found) = try await records(at: node)
            if !found.isEmpty {
                var readable: [CAARecord] = []
                var unreadable: [String] = []
                for record in found {
                    do {
                        readable.append(try record.caa())
                    } catch {
                        unreadable.append(error.reason)
                    }
                }
                return CAASet(name: base, node: node, owner: owner, records: readable, unreadable: unreadable)
            }
            labels.removeFirst()
        }
        return CAASet(name: base, node: nil, owner: nil, records: [])
    }

    /// The CAA records at `name` or at the end of its CNAME chain, and where that is.
    func records(at name: String) async throws(DNSError) -> (owner: String, records: [DNSRecord]) {
        if let known = answered.withLock({ $0[name] }) { return known }
        var current = name
        var hops = 0
        while true {
            let answer = try await query(current)
            guard answer.rcode == .noError || answer.rcode == .nxDomain else {
                throw DNSError(.refused, "\(server) answered \(answer.rcode) for the CAA records of \(current)")
            }
            let (end, records, followed) = Self.chase(answer, from: current)
            hops += followed
            guard hops <= Self.maximumCNAMEs else {
                throw DNSError(.malformed, "more than \(Self.maximumCNAMEs) CNAMEs from \(name) (a loop?)")
            }
            if !records.isEmpty || end == current {
                answered.withLock { $0[name] = (end, records) }
                return (end, records)
            }
            // The server answered the CNAME without its target's records: ask for them.
            current = end
        }
    }

    /// Follows the CNAMEs from `name` inside one answer: where they end, the CAA records there,
    /// and how many were followed (one past ``maximumCNAMEs`` at most, so a loop ends).
    static func chase(_ answer: DNSMessage, from name: String) -> (end: String, records: [DNSRecord], hops: Int) {
        var current = name
        var hops = 0
        while hops <= maximumCNAMEs {
            let records = answer.answers.filter { $0.type == .caa && $0.name == current }
            if !records.isEmpty { return (current, records, hops) }
            guard let next = answer.answers.first(where: { $0.type == .cname && $0.name == current })?.dataName
            else { break }
            current = next
            hops += 1
        }
        return (current, [], hops)
    }
}
