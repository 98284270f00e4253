public import Foundation

/// An order or authorization identifier (RFC 8555 §7.1.3, RFC 8738 for `ip`).
public struct ACMEIdentifier: Sendable, Hashable, Codable, CustomStringConvertible {
    public var type: String
    public var value: String

    public init(type: String, value: String) {
        self.type = type
        self.value = value
    }

    public static func dns(_ name: String) -> ACMEIdentifier { ACMEIdentifier(type: "dns", value: name) }
    public static func ip(_ address: String) -> ACMEIdentifier { ACMEIdentifier(type: "ip", value: address) }

    public var description: String { value }
}

/// The directory (RFC 8555 §7.1.1) with ARI's `renewalInfo` (RFC 9773 §3) and profiles in `meta`.
public struct ACMEDirectory: Sendable, Codable, Equatable {
    public struct Meta: Sendable, Codable, Equatable {
        public var termsOfService: String?
        public var website: String?
        public var caaIdentities: [String]?
        public var externalAccountRequired: Bool?
        /// Profile name to description (draft-aaron-acme-profiles, as Let's Encrypt serves it).
        public var profiles: [String: String]?
    }

    public var newNonce: String
    public var newAccount: String
    public var newOrder: String
    public var newAuthz: String?
    public var revokeCert: String
    public var keyChange: String
    public var renewalInfo: String?
    public var meta: Meta?
}

/// An account object (RFC 8555 §7.1.2).
public struct ACMEAccount: Sendable, Codable, Equatable {
    public var status: String
    public var contact: [String]?
    public var termsOfServiceAgreed: Bool?
    public var orders: String?
    /// When the CA made it, where it says (Boulder and Pebble do; RFC 8555 has no such field).
    public var createdAt: String?
    /// The account URL (the `kid`), from the `Location` header.
    public var url: String = ""

    enum CodingKeys: String, CodingKey {
        case status, contact, termsOfServiceAgreed, orders, createdAt
    }
}

/// An order (RFC 8555 §7.1.3).
public struct ACMEOrder: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case pending, ready, processing, valid, invalid
    }

    public var status: Status
    public var expires: String?
    public var identifiers: [ACMEIdentifier]
    public var notBefore: String?
    public var notAfter: String?
    public var error: ACMEProblem?
    public var authorizations: [String]
    public var finalize: String
    public var certificate: String?
    public var profile: String?
    public var replaces: String?
    /// The order URL, from the `Location` header of newOrder.
    public var url: String = ""
    /// Set when the CA answered `alreadyReplaced` and the order went out without `replaces`.
    public var replacesDropped = false

    enum CodingKeys: String, CodingKey {
        case status, expires, identifiers, notBefore, notAfter, error, authorizations, finalize
        case certificate, profile, replaces
    }
}

/// An authorization (RFC 8555 §7.1.4).
public struct ACMEAuthorization: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case pending, valid, invalid, deactivated, expired, revoked
    }

    public var identifier: ACMEIdentifier
    public var status: Status
    public var expires: String?
    /// The challenges certctl can read; one of a type (or a shape) it does not know is left out,
    /// never an error (a CA adds types: Let's Encrypt's staging offers dns-persist-01).
    public var challenges: [ACMEChallenge]
    public var wildcard: Bool?

    enum CodingKeys: String, CodingKey {
        case identifier, status, expires, challenges, wildcard
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        identifier = try container.decode(ACMEIdentifier.self, forKey: .identifier)
        status = try container.decode(Status.self, forKey: .status)
        expires = try container.decodeIfPresent(String.self, forKey: .expires)
        wildcard = try container.decodeIfPresent(Bool.self, forKey: .wildcard)
        var list = try container.nestedUnkeyedContainer(forKey: .challenges)
        var challenges: [ACMEChallenge] = []
        while !list.isAtEnd {
            if let challenge = try? list.decode(ACMEChallenge.self) {
                challenges.append(challenge)
            } else {
                _ = try list.decode(Skipped.self)
            }
        }
        self.challenges = challenges
    }

    /// Any JSON value, read and dropped.
    private struct Skipped: Decodable {
        init(from decoder: any Decoder) throws {}
    }
}

/// A challenge (RFC 8555 §7.1.5, §8).
public struct ACMEChallenge: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case pending, processing, valid, invalid
    }

    public var type: String
    public var url: String
    public var status: Status
    public var token: String?
    public var validated: String?
    public var error: ACMEProblem?
    /// dns-persist-01 (draft-ietf-acme-dns-persist §3.1): the names of the CA a persistent
    /// record may name, 1 to 10.
    public var issuerDomainNames: [String]?
    /// dns-persist-01: the account URI the record must name, as the CA writes it (newer CAs
    /// send it; without it the client's account URL is meant).
    public var accountURI: String?

    enum CodingKeys: String, CodingKey {
        case type, url, status, token, validated, error
        case issuerDomainNames = "issuer-domain-names"
        case accountURI = "accounturi"
    }
}

/// A renewalInfo response (RFC 9773 §4.2).
public struct ACMERenewalInfo: Sendable, Codable, Equatable {
    public struct Window: Sendable, Codable, Equatable {
        public var start: Date
        public var end: Date
    }

    public var suggestedWindow: Window
    public var explanationURL: String?
    /// When to ask again, from `Retry-After` (not part of the JSON).
    public var retryAfter: Date?

    enum CodingKeys: String, CodingKey {
        case suggestedWindow, explanationURL
    }

    /// A uniformly random instant in the window (RFC 9773 §4.2). When it is in the past the
    /// certificate is due now.
    public func renewalTime(using generator: inout some RandomNumberGenerator) -> Date {
        let start = suggestedWindow.start.timeIntervalSinceReferenceDate
        let end = suggestedWindow.end.timeIntervalSinceReferenceDate
        guard end > start else { return suggestedWindow.start }
        return Date(timeIntervalSinceReferenceDate: Double.random(in: start..<end, using: &generator))
    }
}

/// Revocation reasons (RFC 5280 §5.3.1) that ACME accepts.
public enum RevocationReason: Int, Sendable, CaseIterable {
    case unspecified = 0
    case keyCompromise = 1
    case affiliationChanged = 3
    case superseded = 4
    case cessationOfOperation = 5

    /// RFC 5280 §5.3.1's name (`keyCompromise`).
    public var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .keyCompromise: "keyCompromise"
        case .affiliationChanged: "affiliationChanged"
        case .superseded: "superseded"
        case .cessationOfOperation: "cessationOfOperation"
        }
    }

    public init?(name: String) {
        guard let found = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = found
    }
}
