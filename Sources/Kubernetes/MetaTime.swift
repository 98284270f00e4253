import Basics
public import Foundation
import Transport

/// `metav1.Time`: RFC 3339 with whole seconds in UTC on the wire (`2026-12-01T08:45:49Z`), as
/// the API server writes `creationTimestamp` and `deletionTimestamp`. Read leniently (a fraction
/// or an offset is accepted, as the server accepts them).
public struct Time: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var date: Date

    public init(_ date: Date) {
        self.date = date
    }

    /// The wire form.
    public var description: String { Timestamp.rfc3339(date) }

    public static func < (lhs: Time, rhs: Time) -> Bool { lhs.date < rhs.date }
}

/// `metav1.MicroTime`: RFC 3339 with exactly six fractional digits (`2026-12-01T08:45:49.450123Z`),
/// the only form the API server accepts for a Lease's `acquireTime`/`renewTime` and an Event's
/// `eventTime` (three digits or none are refused with 400 BadRequest).
public struct MicroTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var date: Date

    public init(_ date: Date) {
        self.date = date
    }

    /// The wire form.
    public var description: String { Timestamp.rfc3339(date, fractionDigits: 6) }

    public static func < (lhs: MicroTime, rhs: MicroTime) -> Bool { lhs.date < rhs.date }
}

/// A timestamp written as `description` and read as any RFC 3339 text (Time, MicroTime).
public protocol KubernetesTimestamp: Codable, CustomStringConvertible {
    init(_ date: Date)
}

extension KubernetesTimestamp {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = Timestamp.rfc3339(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "\(Self.self) is not an RFC 3339 timestamp: \(text)")
        }
        self.init(date)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Time: KubernetesTimestamp {}
extension MicroTime: KubernetesTimestamp {}
