import Basics
import Foundation
import Transport
import Yams

/// YAML as Kubernetes reads it (YAML 1.1 plain scalars, as go-yaml), parsed by libyaml through
/// Yams but resolved here: Yams resolves plain scalars with NSRegularExpression, which on Linux
/// loads ICU and was a sixth of a short run's CPU over thousands of manifests.
public enum YAMLText {
    /// A document that parses as YAML but is no JSON object: a mapping key that is not a string.
    public struct NotJSON: Error, CustomStringConvertible {
        public var line: Int
        public var description: String {
            "line \(line): a mapping key must be a string (Kubernetes objects are JSON)"
        }
    }

    /// Every document of a multi-document text, with the line it starts on (1-based).
    public static func documents(_ text: String) throws -> [(value: Any, line: Int)] {
        // UTF-8 named: Yams's default reads the environment on every parse.
        let parser = try Parser(yaml: text, resolver: .basic, encoding: .utf8)
        var documents: [(value: Any, line: Int)] = []
        while let node = try parser.nextRoot() {
            documents.append((try value(of: node), node.mark.map { $0.line } ?? 0))
        }
        return documents
    }

    /// The first document's value; nil for an empty text.
    public static func load(_ text: String) throws -> Any? {
        try documents(text).first?.value
    }

    /// Mappings become `[String: Any]`, sequences `[Any]`; plain scalars are resolved to `Bool`,
    /// `Int`, `Double` or `NSNull` where YAML 1.1 says so; quoted and block scalars stay strings.
    static func value(of node: Node) throws -> Any {
        switch node {
        case .scalar(let scalar):
            return scalar.style == .plain ? resolve(plain: scalar.string) : scalar.string
        case .mapping(let mapping):
            var object: [String: Any] = [:]
            for (key, value) in mapping {
                // A key that is a mapping or a list has no JSON form (and describing one nested
                // a hundred deep, as a fuzzer's input was, takes exponential time).
                guard case .scalar(let scalar) = key else { throw NotJSON(line: key.mark?.line ?? 0) }
                object[scalar.string] = try Self.value(of: value)
            }
            return object
        case .sequence(let sequence):
            return try sequence.map { try value(of: $0) }
        case .alias:
            return NSNull()  // the parser dereferences aliases; a constructed node may keep one
        }
    }

    private static let nulls: Set<String> = ["", "~", "null", "Null", "NULL"]
    private static let trues: Set<String> = ["true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"]
    private static let falses: Set<String> = ["false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"]

    /// A plain scalar's value under YAML 1.1's null, bool, int and float rules.
    public static func resolve(plain text: String) -> Any {
        if nulls.contains(text) { return NSNull() }
        if trues.contains(text) { return true }
        if falses.contains(text) { return false }
        if let integer = integer(text) { return integer }
        if let double = float(text) { return double }
        return text
    }

    private static func integer(_ text: String) -> Int? {
        var digits = Substring(text)
        var negative = false
        if let sign = digits.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        guard let first = digits.first, first.isASCII, first.isNumber else { return nil }
        let cleaned = digits.filter { $0 != "_" }
        let value: Int?
        if cleaned.hasPrefix("0x") {
            value = Int(cleaned.dropFirst(2), radix: 16)
        } else if cleaned.hasPrefix("0o") {
            value = Int(cleaned.dropFirst(2), radix: 8)
        } else if cleaned.count > 1, cleaned.hasPrefix("0") {
            value = Int(cleaned.dropFirst(), radix: 8)
        } else {
            value = Int(cleaned, radix: 10)
        }
        // -Int.min does not exist: such a scalar is no integer certctl takes (it stays text).
        return value.flatMap { negative ? ($0 == .min ? nil : -$0) : $0 }
    }

    private static func float(_ text: String) -> Double? {
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        // [-+]? digits with one '.', optional exponent: what go-yaml and Yams read as floats.
        let allowed = Set("0123456789.-+eE_")
        guard text.contains("."), text.allSatisfy({ allowed.contains($0) }),
            text.contains(where: { $0.isNumber })
        else { return nil }
        return Double(text.filter { $0 != "_" })
    }

    // MARK: Writing

    /// `value` as a YAML scalar: plain when it reads back as the same string, else double-quoted
    /// (JSON escaping, which YAML accepts).
    public static func scalar(_ value: String) -> String {
        let safe = value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "+/=._-".contains($0)) }
        if safe, let first = value.first, first.isLetter || first.isNumber || first == "/",
            resolve(plain: value) as? String == value
        {
            return value
        }
        return (try? JSONText.encode(value)) ?? "\"\""
    }

    /// A block mapping, sorted: nested mappings as blocks, strings as scalars, and lists, booleans,
    /// numbers and nulls in JSON's flow form (which YAML reads back as the same values), so that a
    /// manifest certctl rewrites keeps every field it had (finalizers, ownerReferences, `immutable`).
    public static func block(_ object: [String: Any], indent: Int = 0) -> String {
        var text = ""
        let padding = String(repeating: " ", count: indent)
        for key in object.keys.sorted() {
            switch object[key] {
            case let nested as [String: Any]:  // [String: String] (labels, data) too
                text +=
                    "\(padding)\(scalar(key)):" + (nested.isEmpty ? " {}\n" : "\n" + block(nested, indent: indent + 2))
            case let string as String:
                text += "\(padding)\(scalar(key)): \(scalar(string))\n"
            case let flag as Bool:
                text += "\(padding)\(scalar(key)): \(flag)\n"
            case let value?:
                text += "\(padding)\(scalar(key)): \((try? JSONText.encode(value)) ?? "null")\n"
            case nil:
                text += "\(padding)\(scalar(key)): null\n"
            }
        }
        return text
    }
}
