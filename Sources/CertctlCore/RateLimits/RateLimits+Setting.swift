import Basics
import Foundation

/// The operator's setting: `none`, `letsencrypt`, `letsencrypt-staging`, or limits separated by
/// commas, each `KIND=COUNT/WINDOW` with a Go duration for the window, and `replaces=exempt`
/// when the CA exempts ARI renewals (counted otherwise):
///
///     certctl.io/rate-limits: "orders=300/3h, domain=50/168h, names=5/168h, replaces=exempt"
///
/// A kind left out is not kept. Counts run from 1 to ``Bounded/largestCount``, windows up to ten
/// years; anything else is refused with what to write instead, never read as something else.
extension RateLimits {
    /// The issuer annotation that sets an issuer's limits.
    public static let annotation = "certctl.io/rate-limits"

    /// Longer is not a setting: refused before it is read.
    static let longestSetting = 1024

    private static let syntax = "orders=COUNT/WINDOW, domain=COUNT/WINDOW, names=COUNT/WINDOW (e.g. orders=300/3h)"

    /// The limits `text` sets; throws ``CertctlError/Code/invalidIssuer`` naming the value, for
    /// `object` (the issuer), and what to write instead.
    public static func parse(_ text: String, object: String? = nil) throws(CertctlError) -> RateLimits {
        func refuse(_ why: String) -> CertctlError {
            CertctlError(.invalidIssuer, object: object, "\(annotation) \(Bounded.quoted(text)): \(why)")
        }
        guard text.utf8.count <= longestSetting else {
            throw refuse("longer than \(longestSetting) bytes; write none, letsencrypt, or \(syntax)")
        }
        let whole = text.trimmingCharacters(in: .whitespaces).lowercased()
        switch whole {
        case "none": return .none
        case "letsencrypt": return .letsEncrypt
        case "letsencrypt-staging": return .letsEncryptStaging
        case "": throw refuse("empty; write none, letsencrypt, letsencrypt-staging, or \(syntax)")
        default: break
        }
        var limits = RateLimits.none
        var seen: Set<String> = []
        for item in whole.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw refuse(
                    "\(Bounded.quoted(item.trimmingCharacters(in: .whitespaces))) is not KIND=VALUE; write \(syntax)")
            }
            guard seen.insert(parts[0]).inserted else { throw refuse("\(parts[0]) is set twice; set each once") }
            do {
                try limits.set(parts[0], to: parts[1])
            } catch let why {
                throw refuse(why.text)
            }
        }
        return limits
    }

    /// The reason an item is refused, without the setting around it.
    private struct ItemProblem: Error {
        var text: String
    }

    private mutating func set(_ key: String, to value: String) throws(ItemProblem) {
        switch key {
        case "replaces":
            switch value {
            case "exempt": replacesExempt = true
            case "counted": replacesExempt = false
            default:
                throw ItemProblem(
                    text: "replaces=\(Bounded.excerpt(value)) is neither; write replaces=exempt when the CA exempts "
                        + "ARI renewals from its limits, replaces=counted (the default) otherwise")
            }
        case "orders": newOrders = try Self.limit(key, value)
        case "domain": registeredDomain = try Self.limit(key, value)
        case "names": nameSet = try Self.limit(key, value)
        case "none", "letsencrypt", "letsencrypt-staging":
            throw ItemProblem(text: "\(key) stands alone; write it as the whole setting")
        default:
            throw ItemProblem(
                text: "\(Bounded.quoted(key)) is no limit certctl keeps; write orders=, domain=, names= or replaces=")
        }
    }

    private static func limit(_ key: String, _ value: String) throws(ItemProblem) -> Limit {
        let parts = value.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else {
            throw ItemProblem(text: "\(key)=\(Bounded.excerpt(value)) is not COUNT/WINDOW; write e.g. \(key)=50/168h")
        }
        guard let count = Bounded.integer(parts[0], in: 1...Bounded.largestCount) else {
            throw ItemProblem(
                text: "\(key)=\(Bounded.excerpt(value)): the count \(Bounded.quoted(parts[0])) is not a whole number "
                    + "from 1 to \(Bounded.largestCount); leave \(key) out to keep no such limit")
        }
        switch Bounded.goDuration(parts[1]) {
        case .seconds(let seconds) where seconds >= 1:
            return Limit(count: count, window: seconds)
        case .tooLong:
            throw ItemProblem(
                text: "\(key)=\(Bounded.excerpt(value)): the window is longer than ten years; write one like 168h")
        default:
            throw ItemProblem(
                text: "\(key)=\(Bounded.excerpt(value)): the window \(Bounded.quoted(parts[1])) is not a duration "
                    + "of a second or more like 3h or 168h")
        }
    }
}
