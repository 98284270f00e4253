import Crypto

/// A TSIG key (RFC 8945): its name, algorithm and secret, as `nsupdate -y` and BIND's `key`
/// statement name them.
public struct TSIGKey: Sendable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case hmacSHA1 = "hmac-sha1"
        case hmacSHA256 = "hmac-sha256"
        case hmacSHA512 = "hmac-sha512"

        /// cert-manager's spelling (`tsigAlgorithm: HMACSHA256`) or the RFC's (`hmac-sha256`).
        public init?(name: String) {
            let folded = name.lowercased().filter { $0 != "-" }
            guard let found = Self.allCases.first(where: { $0.rawValue.filter { $0 != "-" } == folded })
            else { return nil }
            self = found
        }

        func mac(_ data: [UInt8], key: [UInt8]) -> [UInt8] {
            let symmetric = SymmetricKey(data: key)
            switch self {
            case .hmacSHA1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: symmetric))
            case .hmacSHA256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: symmetric))
            case .hmacSHA512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: symmetric))
            }
        }
    }

    public var name: String
    public var algorithm: Algorithm
    public var secret: [UInt8]

    public init(name: String, algorithm: Algorithm, secret: [UInt8]) {
        self.name = name
        self.algorithm = algorithm
        self.secret = secret
    }

    /// How far apart the signer's and the server's clocks may be (RFC 8945 §10: 300 s).
    static let fudge: UInt16 = 300

    /// `message` signed: its bytes with a TSIG record appended, and the MAC (which the answer's
    /// TSIG covers too).
    public func sign(_ message: DNSMessage, time: UInt64) -> (bytes: [UInt8], mac: [UInt8]) {
        let unsigned = message.encoded()
        let mac = algorithm.mac(unsigned + variables(time: time, error: 0), key: secret)
        var signed = message
        signed.additional.append(record(mac: mac, originalID: message.id, time: time, error: 0))
        return (signed.encoded(), mac)
    }

    /// Checks the TSIG of `answer` (raw bytes, decoded as `message`) against the request's MAC
    /// (RFC 8945 §5.3.1); an unsigned answer is refused.
    public func verify(_ answer: [UInt8], message: DNSMessage, requestMAC: [UInt8]) throws(DNSError) {
        guard let offset = message.tsigOffset, let tsig = message.additional.last, tsig.type == .tsig else {
            throw DNSError(.badSignature, "the server's answer is not signed with the key \(name)")
        }
        var reader = DNSReader(tsig.data)
        _ = try reader.name()
        let timeHigh = UInt64(clamping: try reader.u16())
        let time = timeHigh << 32 | UInt64(clamping: try reader.u32())
        _ = try reader.u16()
        let macSize = Int(clamping: try reader.u16())
        let mac = try reader.take(macSize)
        let originalID = try reader.u16()
        let error = try reader.u16()
        guard error == 0 else {
            throw DNSError(
                .badSignature, "the server refused the key \(name): \(DNSResponseCode(rawValue: error))")
        }
        // The answer as it was before its TSIG: ARCOUNT one less, the original ID.
        var body = Array(answer[..<offset])
        body[0] = UInt8(clamping: originalID >> 8)
        body[1] = UInt8(clamping: originalID & 0xFF)
        let count = (UInt16(clamping: body[10]) << 8 | UInt16(clamping: body[11])) &- 1
        body[10] = UInt8(clamping: count >> 8)
        body[11] = UInt8(clamping: count & 0xFF)
        var prefix = DNSWriter()
        prefix.u16(UInt16(clamping: requestMAC.count))
        let expected = algorithm.mac(
            prefix.bytes + requestMAC + body + variables(time: time, error: error), key: secret)
        guard expected == mac else {
            throw DNSError(.badSignature, "the server's answer does not verify with the key \(name)")
        }
    }

    /// The TSIG variables the MAC covers (RFC 8945 §4.3.3).
    private func variables(time: UInt64, error: UInt16) -> [UInt8] {
        var writer = DNSWriter()
        writer.name(name)
        writer.u16(DNSClass.any.rawValue)
        writer.u32(0)
        writer.name(algorithm.rawValue)
        writer.u16(UInt16(clamping: time >> 32))
        writer.u32(UInt32(clamping: time & 0xFFFF_FFFF))
        writer.u16(Self.fudge)
        writer.u16(error)
        writer.u16(0)
        return writer.bytes
    }

    private func record(mac: [UInt8], originalID: UInt16, time: UInt64, error: UInt16) -> DNSRecord {
        var writer = DNSWriter()
        writer.name(algorithm.rawValue)
        writer.u16(UInt16(clamping: time >> 32))
        writer.u32(UInt32(clamping: time & 0xFFFF_FFFF))
        writer.u16(Self.fudge)
        writer.u16(UInt16(clamping: mac.count))
        writer.bytes += mac
        writer.u16(originalID)
        writer.u16(error)
        writer.u16(0)
        return DNSRecord(name: name, type: .tsig, dnsClass: .any, ttl: 0, data: writer.bytes)
    }
}
