import Foundation

/// One invalid field, as the API server's `field.Error` reports it: a cause of a 422 Invalid.
struct FieldError: Sendable, Equatable {
    enum Kind: String, Sendable {
        case required = "FieldValueRequired"
        case invalid = "FieldValueInvalid"
        case forbidden = "FieldValueForbidden"
        case tooLong = "FieldValueTooLong"
        case notSupported = "FieldValueNotSupported"
        case duplicate = "FieldValueDuplicate"
        case typeInvalid = "FieldValueTypeInvalid"

        /// The words `ErrorBody` starts with.
        var words: String {
            switch self {
            case .required: "Required value"
            case .invalid, .typeInvalid: "Invalid value"
            case .forbidden: "Forbidden"
            case .tooLong: "Too long"
            case .notSupported: "Unsupported value"
            case .duplicate: "Duplicate value"
            }
        }
    }

    /// A bad value as Go's `%v`/`%q` prints it.
    enum Value: Sendable, Equatable {
        case string(String)
        case integer(Int64)
        /// Printed as it is (a list-map key: `{"name":"a"}`).
        case raw(String)
        case null
        case omitted
    }

    var field: String
    var kind: Kind
    var value: Value
    var detail: String

    static func required(_ field: String, _ detail: String = "") -> FieldError {
        FieldError(field: field, kind: .required, value: .omitted, detail: detail)
    }

    static func invalid(_ field: String, _ value: String, _ detail: String) -> FieldError {
        FieldError(field: field, kind: .invalid, value: .string(value), detail: detail)
    }

    static func invalid(_ field: String, _ value: Int64, _ detail: String) -> FieldError {
        FieldError(field: field, kind: .invalid, value: .integer(value), detail: detail)
    }

    static func forbidden(_ field: String, _ detail: String) -> FieldError {
        FieldError(field: field, kind: .forbidden, value: .omitted, detail: detail)
    }

    static func tooLong(_ field: String, _ detail: String) -> FieldError {
        FieldError(field: field, kind: .tooLong, value: .omitted, detail: detail)
    }

    static func notSupported(_ field: String, _ value: String, _ supported: [String]) -> FieldError {
        FieldError(
            field: field, kind: .notSupported, value: .string(value),
            detail: "supported values: " + supported.map(GoTime.quote).joined(separator: ", "))
    }

    /// `Invalid value: "x": detail`, `Required value`, `Forbidden: detail`.
    var body: String {
        var text = kind.words
        switch (kind, value) {
        case (.required, _), (.forbidden, _), (.tooLong, _), (_, .omitted): break
        case (_, .string(let string)): text += ": " + GoTime.quote(string)
        case (_, .integer(let integer)): text += ": \(integer)"
        case (_, .raw(let raw)): text += ": " + raw
        case (_, .null): text += ": null"
        }
        if !detail.isEmpty { text += ": " + detail }
        return text
    }

    var message: String { "\(field): \(body)" }

    /// Go's `ErrorList.ToAggregate()`: one error as is, several in brackets.
    static func aggregate(_ errors: [FieldError]) -> String {
        errors.count == 1 ? errors[0].message : "[" + errors.map(\.message).joined(separator: ", ") + "]"
    }
}

/// The name and key rules of `k8s.io/apimachinery/pkg/util/validation`, with their messages.
enum NameRules {
    static let dns1123LabelPattern = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    static let dns1123SubdomainPattern = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    static let qualifiedNamePattern = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
    static let labelValuePattern = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
    static let configKeyPattern = "[-._a-zA-Z0-9]+"

    static func regexError(_ message: String, _ pattern: String, _ examples: [String]) -> String {
        message + " (e.g. " + examples.map { "'\($0)'" }.joined(separator: ",  or ")
            + ", regex used for validation is '\(pattern)')"
    }

    static func maxLength(_ length: Int) -> String { "must be no more than \(length) characters" }

    private static func isAlphanumeric(_ byte: UInt8, upper: Bool) -> Bool {
        (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) || (upper && (0x41...0x5a).contains(byte))
    }

    static func isDNS1123Label(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        return isAlphanumeric(first, upper: false) && isAlphanumeric(last, upper: false)
            && bytes.allSatisfy { isAlphanumeric($0, upper: false) || $0 == UInt8(ascii: "-") }
    }

    /// `IsDNS1123Label`: at most 63, lowercase alphanumerics and `-`.
    static func dns1123Label(_ text: String) -> [String] {
        var errors: [String] = []
        if text.utf8.count > 63 { errors.append(maxLength(63)) }
        if !isDNS1123Label(text) {
            errors.append(
                regexError(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                    dns1123LabelPattern, ["my-name", "123-abc"]))
        }
        return errors
    }

    /// `IsDNS1123Subdomain`: at most 253, dot-separated labels.
    static func dns1123Subdomain(_ text: String) -> [String] {
        var errors: [String] = []
        if text.utf8.count > 253 { errors.append(maxLength(253)) }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        if text.isEmpty || !labels.allSatisfy({ isDNS1123Label(String($0)) }) {
            errors.append(
                regexError(
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                    dns1123SubdomainPattern, ["example.com"]))
        }
        return errors
    }

    /// `IsWildcardDNS1123Subdomain` for Ingress hosts: `*.` and a subdomain.
    static func wildcardSubdomain(_ text: String) -> [String] {
        var errors: [String] = []
        if text.utf8.count > 253 { errors.append(maxLength(253)) }
        let rest = text.dropFirst(2)
        if !text.hasPrefix("*.")
            || !rest.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({
                isDNS1123Label(String($0))
            })
        {
            errors.append(
                regexError(
                    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
                    "\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", ["*.example.com"]))
        }
        return errors
    }

    private static func matchesQualifiedName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        return isAlphanumeric(first, upper: true) && isAlphanumeric(last, upper: true)
            && bytes.allSatisfy {
                isAlphanumeric($0, upper: true) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                    || $0 == UInt8(ascii: ".")
            }
    }

    /// `IsQualifiedName`: an optional DNS subdomain prefix and `/`, then a name of at most 63.
    static func qualifiedName(_ text: String) -> [String] {
        var errors: [String] = []
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let name: String
        let nameError = regexError(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            qualifiedNamePattern, ["MyName", "my.name", "123-abc"])
        switch parts.count {
        case 1:
            name = parts[0]
        case 2:
            name = parts[1]
            if parts[0].isEmpty {
                errors.append("prefix part must be non-empty")
            } else {
                errors += dns1123Subdomain(parts[0]).map { "prefix part " + $0 }
            }
        default:
            return [
                "a qualified name " + nameError
                    + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        }
        if name.isEmpty {
            errors.append("name part must be non-empty")
        } else if name.utf8.count > 63 {
            errors.append("name part " + maxLength(63))
        }
        if !matchesQualifiedName(name) { errors.append("name part " + nameError) }
        return errors
    }

    /// `IsValidLabelValue`: empty, or at most 63 of a qualified name's characters.
    static func labelValue(_ text: String) -> [String] {
        var errors: [String] = []
        if text.utf8.count > 63 { errors.append(maxLength(63)) }
        if !text.isEmpty, !matchesQualifiedName(text) {
            errors.append(
                regexError(
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                    labelValuePattern, ["MyValue", "my_value", "12345"]))
        }
        return errors
    }

    /// `IsConfigMapKey`: the data keys of Secrets and ConfigMaps.
    static func configKey(_ text: String) -> [String] {
        var errors: [String] = []
        if text.utf8.count > 253 { errors.append(maxLength(253)) }
        let valid =
            !text.isEmpty
            && text.utf8.allSatisfy {
                isAlphanumeric($0, upper: true) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                    || $0 == UInt8(ascii: ".")
            }
        if !valid {
            errors.append(
                regexError(
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                    configKeyPattern, ["key.name", "KEY_NAME", "key-name"]))
        }
        if text == "." { errors.append("must not be '.'") }
        if text == ".." { errors.append("must not be '..'") }
        if text.hasPrefix("..") { errors.append("must not start with '..'") }
        return errors
    }

    /// An IPv4 address in dotted-quad form, as `netutils.ParseIPSloppy` takes it.
    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { part in
                !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                    && (Int(part) ?? 256) <= 255
            }
    }

    static func isIPv6(_ text: String) -> Bool {
        guard text.contains(":"), text.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
        let groups = text.components(separatedBy: "::")
        return groups.count <= 2 && text.split(separator: ":").count <= 8
    }
}
