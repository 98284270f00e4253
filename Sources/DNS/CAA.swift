/// A CAA record's RDATA (RFC 8659 §4.1): a flags octet, the tag's length, the tag (ASCII
/// letters and digits), and the value, the rest of the RDATA. Read from outside, so every
/// length is checked against what is there: a short or hostile RDATA is an error, never a trap.
public struct CAARecord: Sendable, Hashable {
    /// Bit 7 (128) is the Issuer Critical Flag.
    public var flags: UInt8
    /// As written; compare it with ``normalizedTag``.
    public var tag: String
    public var value: [UInt8]

    public init(flags: UInt8, tag: String, value: [UInt8]) {
        self.flags = flags
        self.tag = tag
        self.value = value
    }

    public init(flags: UInt8 = 0, tag: String, _ value: String) {
        self.init(flags: flags, tag: tag, value: Array(value.utf8))
    }

    public init(rdata: [UInt8]) throws(DNSError) {
        guard rdata.count >= 2 else {
            throw DNSError(.malformed, "a CAA record of \(rdata.count) bytes (at least a flags octet and a tag length)")
        }
        let length = Int(clamping: rdata[1])
        guard length >= 1 else { throw DNSError(.malformed, "a CAA record with an empty tag (RFC 8659 §4.1.1)") }
        guard 2 + length <= rdata.count else {
            throw DNSError(.malformed, "a CAA record whose tag of \(length) bytes runs past its \(rdata.count) bytes")
        }
        let tag = rdata[2..<2 + length]
        guard tag.allSatisfy(Self.isAlphanumeric) else {
            throw DNSError(.malformed, "a CAA record whose tag is not ASCII letters and digits (RFC 8659 §4.1.1)")
        }
        flags = rdata[0]
        self.tag = String(decoding: tag, as: UTF8.self)
        value = Array(rdata[(2 + length)...])
    }

    /// The RDATA on the wire. The tag is cut to 255 bytes, which its length octet holds.
    public var rdata: [UInt8] {
        let tag = Array(tag.utf8.prefix(255))
        return [flags, UInt8(clamping: tag.count)] + tag + value
    }

    public var isCritical: Bool { flags & 0x80 != 0 }

    /// The tag in lower case: tags match case-insensitively (RFC 8659 §4.1.1).
    public var normalizedTag: String { tag.lowercased() }

    /// As a zone file writes it, `0 issue "ca.example.net"`, the value cut after `limit` bytes
    /// and every byte that is not printable ASCII written `\DDD` (RFC 1035 §5.1): a hostile
    /// value reaches a terminal as text.
    public func zoneText(limit: Int = 160) -> String {
        var text = ""
        for byte in value.prefix(limit) {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): text += "\\" + String(UnicodeScalar(byte))
            case 0x20...0x7E: text.unicodeScalars.append(UnicodeScalar(byte))
            default: text += "\\" + String(repeating: "0", count: byte < 10 ? 2 : byte < 100 ? 1 : 0) + String(byte)
            }
        }
        let cut = value.count > limit ? "…" : ""
        return "\(flags) \(tag) \"\(text)\(cut)\""
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
}

extension DNSRecord {
    /// A CAA record at `name`.
    public static func caa(_ name: String, _ record: CAARecord, ttl: UInt32) -> DNSRecord {
        DNSRecord(name: name, type: .caa, ttl: ttl, data: record.rdata)
    }

    /// The CAA RDATA of this record (of type CAA), read strictly.
    public func caa() throws(DNSError) -> CAARecord {
        guard type == .caa else { throw DNSError(.malformed, "a \(type) record read as CAA", object: name) }
        do {
            return try CAARecord(rdata: data)
        } catch {
            throw DNSError(error.code, error.reason, object: name)
        }
    }
}
