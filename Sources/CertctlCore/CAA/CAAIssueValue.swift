/// The value of an `issue` or `issuewild` property (RFC 8659 §4.2), read as strictly as its
/// grammar: `[issuer-domain-name] [";" tag=value *(";" tag=value)]`, white space (SP, HTAB)
/// around the parts, every byte printable ASCII. A malformed value grants no CA anything, as a
/// CA reads it; RFC 8657's `accounturi` and `validationmethods` are parameters of it.
public struct CAAIssueValue: Sendable, Equatable {
    public struct Parameter: Sendable, Equatable {
        /// In lower case: tags match case-insensitively.
        public var tag: String
        public var value: String
    }

    /// Why a value is malformed, for a message.
    public struct Malformed: Error, Sendable, Equatable {
        public var reason: String
    }

    /// Empty: the value names no CA (`";"`), which lets none issue.
    public var issuerDomain: String
    public var parameters: [Parameter]

    public init(parsing bytes: [UInt8]) throws(Malformed) {
        guard bytes.allSatisfy({ $0 == 0x09 || (0x20...0x7E).contains($0) }) else {
            throw Malformed(reason: "a byte that is not printable ASCII")
        }
        let parts = bytes.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
        let domain = Self.trimmed(parts[0])
        guard domain.isEmpty || Self.isDomainName(domain) else {
            throw Malformed(reason: "the issuer domain name is not a domain name (letters, digits, hyphens, dots)")
        }
        issuerDomain = String(decoding: domain, as: UTF8.self)
        parameters = []
        let rest = parts.dropFirst()
        // `ca.example.net;` (a `;` and nothing after it) is allowed; an empty parameter is not.
        if rest.count == 1, let only = rest.first, Self.trimmed(only).isEmpty { return }
        for part in rest {
            let parameter = try Self.parameter(part)
            guard self.parameter(parameter.tag) == nil else {
                throw Malformed(reason: "the parameter \(parameter.tag) is given twice")
            }
            parameters.append(parameter)
        }
    }

    /// The value of the parameter `tag` (lower case).
    public func parameter(_ tag: String) -> String? {
        parameters.first { $0.tag == tag }?.value
    }

    /// RFC 8657 §4: `validationmethods` as its labels; nil when one is not a label, which makes
    /// the whole parameter, and so the property, grant nothing.
    public static func methods(_ value: String) -> [String]? {
        let methods = value.split(separator: ",", omittingEmptySubsequences: false)
        guard methods.allSatisfy({ isLabel(Array($0.utf8)[...]) }) else { return nil }
        return methods.map(String.init)
    }

    /// `tag = value`: the tag a label, the value printable ASCII without white space or `;`.
    private static func parameter(_ part: ArraySlice<UInt8>) throws(Malformed) -> Parameter {
        guard let equals = part.firstIndex(of: UInt8(ascii: "=")) else {
            throw Malformed(reason: "a parameter without \"=\" (tag=value)")
        }
        let tag = trimmed(part[..<equals])
        let value = trimmed(part[(equals + 1)...])
        guard isLabel(tag) else {
            throw Malformed(reason: "a parameter tag that is not letters, digits and inner hyphens")
        }
        guard value.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw Malformed(reason: "a parameter value with white space in it")
        }
        return Parameter(
            tag: String(decoding: tag, as: UTF8.self).lowercased(), value: String(decoding: value, as: UTF8.self))
    }

    /// `bytes` without the SP and HTAB around them.
    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let space: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        guard let first = bytes.firstIndex(where: { !space($0) }), let last = bytes.lastIndex(where: { !space($0) })
        else { return [] }
        return bytes[first...last]
    }

    /// `label *("." label)`, at most 253 bytes, each label at most 63 (no trailing dot).
    static func isDomainName(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard bytes.count <= 253 else { return false }
        return bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy {
            $0.count <= 63 && isLabel($0)
        }
    }

    /// `(ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`: letters and digits, hyphens inside only.
    static func isLabel(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else {
            return false
        }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
}
