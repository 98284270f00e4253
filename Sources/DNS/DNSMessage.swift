public import Basics

/// A DNS message (RFC 1035 §4.1) as certctl needs it: queries, dynamic updates (RFC 2136) and
/// their answers. Names are written uncompressed; compression pointers are followed when
/// reading, with every offset bounds-checked and loops refused.
public struct DNSMessage: Sendable, Equatable {
    public enum Opcode: UInt8, Sendable {
        case query = 0
        case update = 5
    }

    public struct Question: Sendable, Equatable {
        public var name: String
        public var type: DNSType
        public var dnsClass: DNSClass

        public init(name: String, type: DNSType, dnsClass: DNSClass = .internet) {
            self.name = name
            self.type = type
            self.dnsClass = dnsClass
        }
    }

    public var id: UInt16
    public var isResponse = false
    public var opcode: Opcode = .query
    public var authoritative = false
    public var truncated = false
    public var recursionDesired = false
    public var rcode: DNSResponseCode = .noError
    /// The question section (the zone section of an update).
    public var questions: [Question] = []
    /// The answer section (the prerequisite section of an update).
    public var answers: [DNSRecord] = []
    /// The authority section (the update section of an update).
    public var authority: [DNSRecord] = []
    public var additional: [DNSRecord] = []
    /// Where a decoded message's TSIG record began (it must be the last): what its MAC covers.
    var tsigOffset: Int?

    public init(id: UInt16, opcode: Opcode = .query) {
        self.id = id
        self.opcode = opcode
    }

    public func encoded() -> [UInt8] {
        var writer = DNSWriter()
        writer.u16(id)
        var high: UInt8 = (isResponse ? 0x80 : 0) | (opcode.rawValue << 3)
        if authoritative { high |= 0x04 }
        if truncated { high |= 0x02 }
        if recursionDesired { high |= 0x01 }
        writer.bytes.append(high)
        writer.bytes.append(UInt8(clamping: rcode.rawValue & 0x0F))
        writer.u16(UInt16(clamping: questions.count))
        writer.u16(UInt16(clamping: answers.count))
        writer.u16(UInt16(clamping: authority.count))
        writer.u16(UInt16(clamping: additional.count))
        for question in questions {
            writer.name(question.name)
            writer.u16(question.type.rawValue)
            writer.u16(question.dnsClass.rawValue)
        }
        for record in answers + authority + additional { writer.record(record) }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws(DNSError) {
        var reader = DNSReader(bytes)
        id = try reader.u16()
        let high = try reader.u8()
        let low = try reader.u8()
        isResponse = high & 0x80 != 0
        guard let opcode = Opcode(rawValue: (high >> 3) & 0x0F) else {
            throw DNSError(.malformed, "opcode \((high >> 3) & 0x0F) in the answer")
        }
        self.opcode = opcode
        authoritative = high & 0x04 != 0
        truncated = high & 0x02 != 0
        recursionDesired = high & 0x01 != 0
        rcode = DNSResponseCode(rawValue: UInt16(clamping: low & 0x0F))
        let counts = (try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16())
        for _ in 0..<counts.0 {
            let name = try reader.name()
            questions.append(
                Question(
                    name: name, type: DNSType(rawValue: try reader.u16()),
                    dnsClass: DNSClass(rawValue: try reader.u16())))
        }
        for _ in 0..<counts.1 { answers.append(try reader.record()) }
        for _ in 0..<counts.2 { authority.append(try reader.record()) }
        for _ in 0..<counts.3 {
            let start = reader.offset
            let record = try reader.record()
            if record.type == .tsig { tsigOffset = start }
            additional.append(record)
        }
    }
}

/// A resource record; `data` is the RDATA as on the wire (names in it uncompressed).
public struct DNSRecord: Sendable, Equatable {
    public var name: String
    public var type: DNSType
    public var dnsClass: DNSClass
    public var ttl: UInt32
    public var data: [UInt8]
    /// For records read from an answer: the names inside RDATA (NS, CNAME, SOA's MNAME),
    /// decompressed against the whole message.
    public var dataName: String?

    public init(name: String, type: DNSType, dnsClass: DNSClass = .internet, ttl: UInt32, data: [UInt8]) {
        self.name = name
        self.type = type
        self.dnsClass = dnsClass
        self.ttl = ttl
        self.data = data
    }

    /// A TXT record holding `value` (split into strings of at most 255 bytes, RFC 1035 §3.3.14).
    public static func txt(_ name: String, _ value: String, ttl: UInt32, dnsClass: DNSClass = .internet) -> DNSRecord {
        DNSRecord(name: name, type: .txt, dnsClass: dnsClass, ttl: ttl, data: txtData(value))
    }

    static func txtData(_ value: String) -> [UInt8] {
        var data: [UInt8] = []
        var rest = Array(value.utf8)[...]
        repeat {
            let chunk = rest.prefix(255)
            data.append(UInt8(clamping: chunk.count))
            data += chunk
            rest = rest.dropFirst(chunk.count)
        } while !rest.isEmpty
        return data
    }

    /// The strings of a TXT record, joined (RFC 7208 §3.3's reading of several strings).
    public var txtValue: String? {
        guard type == .txt else { return nil }
        var reader = DNSReader(data)
        var text: [UInt8] = []
        while !reader.atEnd {
            guard let length = try? reader.u8(), let chunk = try? reader.take(Int(clamping: length)) else { return nil }
            text += chunk
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The address of an A or AAAA record, as text.
    public var address: String? {
        switch (type, data.count) {
        case (.a, 4): return data.map(String.init).joined(separator: ".")
        case (.aaaa, 16):
            return stride(from: 0, to: 16, by: 2).map {
                String(UInt16(clamping: data[$0]) << 8 | UInt16(clamping: data[$0 + 1]), radix: 16)
            }
            .joined(separator: ":")
        default: return nil
        }
    }
}

public struct DNSType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = DNSType(rawValue: 1)
    public static let ns = DNSType(rawValue: 2)
    public static let cname = DNSType(rawValue: 5)
    public static let soa = DNSType(rawValue: 6)
    public static let txt = DNSType(rawValue: 16)
    public static let aaaa = DNSType(rawValue: 28)
    public static let tsig = DNSType(rawValue: 250)
    public static let any = DNSType(rawValue: 255)
    /// Certification Authority Authorization (RFC 8659).
    public static let caa = DNSType(rawValue: 257)

    public var description: String {
        [1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 16: "TXT", 28: "AAAA", 250: "TSIG", 255: "ANY", 257: "CAA"][
            rawValue]
            ?? "TYPE\(rawValue)"
    }
}

public struct DNSClass: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let internet = DNSClass(rawValue: 1)
    /// In an update: delete this one record (RFC 2136 §2.5.4).
    public static let none = DNSClass(rawValue: 254)
    public static let any = DNSClass(rawValue: 255)
}

/// RCODEs (RFC 1035 §4.1.1, RFC 2136 §2.2, RFC 8945 §5.3: TSIG's errors).
public struct DNSResponseCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let noError = DNSResponseCode(rawValue: 0)
    public static let nxDomain = DNSResponseCode(rawValue: 3)
    public static let notAuth = DNSResponseCode(rawValue: 9)

    public var description: String {
        let names: [UInt16: String] = [
            0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 6: "YXDOMAIN",
            7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 16: "BADSIG", 17: "BADKEY", 18: "BADTIME",
        ]
        return names[rawValue] ?? "RCODE\(rawValue)"
    }
}

public struct DNSError: ReportedError {
    public enum Code: String, Sendable {
        case malformed, network, timeout, refused, badSignature
    }

    public var code: Code
    /// The server or zone asked, when the reason does not name it.
    public var object: String?
    public var reason: String

    public init(_ code: Code, _ reason: String, object: String? = nil) {
        self.code = code
        self.reason = reason
        self.object = object
    }
}

struct DNSWriter {
    var bytes: [UInt8] = []

    mutating func u16(_ value: UInt16) {
        bytes += [UInt8(clamping: value >> 8), UInt8(clamping: value & 0xFF)]
    }

    mutating func u32(_ value: UInt32) {
        bytes += [
            UInt8(clamping: value >> 24), UInt8(clamping: (value >> 16) & 0xFF), UInt8(clamping: (value >> 8) & 0xFF),
            UInt8(clamping: value & 0xFF),
        ]
    }

    /// `name` in wire form, lower-cased (canonical, RFC 4034 §6.2), without compression.
    mutating func name(_ name: String) {
        for label in name.lowercased().split(separator: ".") {
            let utf8 = Array(label.utf8.prefix(63))
            bytes.append(UInt8(clamping: utf8.count))
            bytes += utf8
        }
        bytes.append(0)
    }

    mutating func record(_ record: DNSRecord) {
        name(record.name)
        u16(record.type.rawValue)
        u16(record.dnsClass.rawValue)
        u32(record.ttl)
        u16(UInt16(clamping: record.data.count))
        bytes += record.data
    }
}

struct DNSReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }

    mutating func u8() throws(DNSError) -> UInt8 {
        guard offset < bytes.count else { throw DNSError(.malformed, "the answer ends early") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(DNSError) -> UInt16 {
        UInt16(clamping: try u8()) << 8 | UInt16(clamping: try u8())
    }

    mutating func u32() throws(DNSError) -> UInt32 {
        UInt32(clamping: try u16()) << 16 | UInt32(clamping: try u16())
    }

    mutating func take(_ count: Int) throws(DNSError) -> [UInt8] {
        guard count >= 0, offset + count <= bytes.count else { throw DNSError(.malformed, "the answer ends early") }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A name at the current offset, following compression pointers (RFC 1035 §4.1.4).
    mutating func name() throws(DNSError) -> String {
        var labels: [String] = []
        var position = offset
        var jumped = false
        var jumps = 0
        var length = 0
        while true {
            guard position < bytes.count else { throw DNSError(.malformed, "a name runs past the answer") }
            let byte = bytes[position]
            if byte & 0xC0 == 0xC0 {
                guard position + 1 < bytes.count else { throw DNSError(.malformed, "a name runs past the answer") }
                let target = Int(clamping: byte & 0x3F) << 8 | Int(clamping: bytes[position + 1])
                if !jumped { offset = position + 2 }
                jumped = true
                jumps += 1
                guard jumps < 64, target < position else { throw DNSError(.malformed, "a name's pointers loop") }
                position = target
                continue
            }
            guard byte & 0xC0 == 0 else { throw DNSError(.malformed, "a label of an unknown kind") }
            position += 1
            if byte == 0 { break }
            guard position + Int(clamping: byte) <= bytes.count else {
                throw DNSError(.malformed, "a label runs past the answer")
            }
            labels.append(String(decoding: bytes[position..<position + Int(clamping: byte)], as: UTF8.self))
            length += Int(clamping: byte) + 1
            guard length <= 255 else { throw DNSError(.malformed, "a name longer than 255 bytes") }
            position += Int(clamping: byte)
        }
        if !jumped { offset = position }
        return labels.joined(separator: ".").lowercased()
    }

    mutating func record() throws(DNSError) -> DNSRecord {
        let name = try name()
        let type = DNSType(rawValue: try u16())
        let dnsClass = DNSClass(rawValue: try u16())
        let ttl = try u32()
        let length = Int(clamping: try u16())
        let start = offset
        let data = try take(length)
        var record = DNSRecord(name: name, type: type, dnsClass: dnsClass, ttl: ttl, data: data)
        if [.ns, .cname, .soa].contains(type) {
            var inner = DNSReader(bytes)
            inner.offset = start
            record.dataName = try inner.name()
        }
        return record
    }
}
