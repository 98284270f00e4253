public import Foundation
import Transport

/// `Retry-After` (RFC 9110 §10.2.3) of an ACME answer: delta-seconds or an HTTP-date, within
/// ``RetryAfter/acme``'s bounds (a second to a week); nil when neither.
public func parseRetryAfter(_ value: String?, now: Date) -> Date? {
    RetryAfter.acme.date(value, now: now)
}

/// One `Link` header entry (RFC 8288): target URL and its `rel` values.
public struct LinkValue: Sendable, Equatable {
    public var url: String
    public var relations: [String]
}

/// Parses every `Link` header value, which may each hold several comma-separated links.
public func parseLinks(_ values: [String]) -> [LinkValue] {
    var links: [LinkValue] = []
    for value in values {
        var rest = Substring(value)
        while let open = rest.firstIndex(of: "<") {
            guard let close = rest[open...].firstIndex(of: ">") else { break }
            let url = String(rest[rest.index(after: open)..<close])
            var parameters = rest[rest.index(after: close)...]
            // Parameters run to the next link (a comma outside quotes) or the end.
            var end = parameters.endIndex
            var quoted = false
            for index in parameters.indices {
                let character = parameters[index]
                if character == "\"" { quoted.toggle() }
                if character == "," && !quoted {
                    end = index
                    break
                }
            }
            let parameterText = parameters[..<end]
            var relations: [String] = []
            for parameter in parameterText.split(separator: ";") {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "rel" else {
                    continue
                }
                let raw = pair[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\""))
                relations += raw.split(separator: " ").map { $0.lowercased() }
            }
            links.append(LinkValue(url: url, relations: relations))
            parameters = end < parameters.endIndex ? parameters[parameters.index(after: end)...] : parameters[end...]
            rest = parameters
        }
    }
    return links
}
