/// An RFC 7807 problem document as ACME uses it (RFC 8555 §6.7), with its subproblems.
public struct ACMEProblem: Sendable, Equatable, Codable, CustomStringConvertible {
    public static let namespace = "urn:ietf:params:acme:error:"

    /// The error types certctl acts on; anything else is `.other`.
    public enum Kind: String, Sendable {
        case badNonce, rateLimited, alreadyReplaced, invalidProfile, accountDoesNotExist
        case externalAccountRequired, userActionRequired, badSignatureAlgorithm, unauthorized
        case orderNotReady, serverInternal, malformed, rejectedIdentifier, unsupportedIdentifier
        case connection, dns, caa, incorrectResponse, tls, badCSR, badRevocationReason, alreadyRevoked
        case other
    }

    public struct Subproblem: Sendable, Equatable, Codable {
        public var type: String
        public var detail: String?
        public var identifier: ACMEIdentifier?
    }

    public var type: String
    public var detail: String?
    public var status: Int?
    public var subproblems: [Subproblem]?
    public var instance: String?

    public init(type: String, detail: String? = nil, status: Int? = nil, subproblems: [Subproblem]? = nil) {
        self.type = type
        self.detail = detail
        self.status = status
        self.subproblems = subproblems
    }

    public var kind: Kind {
        guard type.hasPrefix(Self.namespace) else { return .other }
        return Kind(rawValue: String(type.dropFirst(Self.namespace.count))) ?? .other
    }

    /// The type without the ACME namespace (`rateLimited`).
    public var shortType: String {
        type.hasPrefix(Self.namespace) ? String(type.dropFirst(Self.namespace.count)) : type
    }

    public var description: String {
        var text = shortType
        if let detail, !detail.isEmpty { text += ": \(detail)" }
        for sub in subproblems ?? [] {
            let name = sub.identifier.map { "\($0.value): " } ?? ""
            let subType =
                sub.type.hasPrefix(Self.namespace) ? String(sub.type.dropFirst(Self.namespace.count)) : sub.type
            text += "; \(name)\(subType)"
            if let detail = sub.detail, !detail.isEmpty { text += " (\(detail))" }
        }
        return text
    }
}
