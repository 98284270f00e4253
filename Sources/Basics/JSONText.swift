import Foundation

/// JSON text of `[String: Any]` trees with keys in byte order: the same bytes on every run, for
/// JWS payloads, webhook bodies, JSON logs and `-o json`. Foundation's `JSONSerialization` sorts
/// keys through a locale, which on Linux loads ICU (megabytes of a short process's memory).
public enum JSONText {
    public struct Unencodable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Compact (`{"a":1}`), or pretty with two-space indentation.
    public static func encode(_ value: Any, pretty: Bool = false) throws -> String {
        var output = ""
        try write(value, into: &output, pretty: pretty, depth: 0)
        return output
    }

    public static func data(_ value: Any, pretty: Bool = false) throws -> [UInt8] {
        Array(try encode(value, pretty: pretty).utf8)
    }

    private static func write(_ value: Any, into output: inout String, pretty: Bool, depth: Int) throws {
        switch value {
        case let string as String:
            quote(string, into: &output)
        case let bool as Bool where type(of: value) == Bool.self:
            output += bool ? "true" : "false"
        case let integer as Int:
            output += String(integer)
        case let integer as Int64:
            output += String(integer)
        case let integer as UInt64:
            output += String(integer)
        case let integer as Int32:
            output += String(integer)
        case let double as Double:
            guard double.isFinite else { throw Unencodable(description: "\(double) is not a JSON number") }
            output += double == double.rounded() && abs(double) < 1e15 ? String(Bounded.int(double)) : "\(double)"
        case let array as [Any]:
            try writeArray(array, into: &output, pretty: pretty, depth: depth)
        case let object as [String: Any]:
            try writeObject(object, into: &output, pretty: pretty, depth: depth)
        // After the containers: casting a Swift dictionary to a class bridges it to NSDictionary
        // first, which cost more than writing it.
        case is NSNull:
            output += "null"
        case let number as NSNumber:
            try write(number.doubleValue, into: &output, pretty: pretty, depth: depth)
        default:
            let mirror = Mirror(reflecting: value)
            if mirror.displayStyle == .optional {
                if let wrapped = mirror.children.first?.value {
                    try write(wrapped, into: &output, pretty: pretty, depth: depth)
                } else {
                    output += "null"
                }
                return
            }
            throw Unencodable(description: "a \(type(of: value)) is not JSON")
        }
    }

    private static func writeArray(_ array: [Any], into output: inout String, pretty: Bool, depth: Int) throws {
        guard !array.isEmpty else {
            output += "[]"
            return
        }
        output += "["
        for (index, element) in array.enumerated() {
            if index > 0 { output += "," }
            newline(into: &output, pretty: pretty, depth: depth + 1)
            try write(element, into: &output, pretty: pretty, depth: depth + 1)
        }
        newline(into: &output, pretty: pretty, depth: depth)
        output += "]"
    }

    /// Keys in the order of their UTF-8 bytes, so that the same object always reads the same.
    private static func writeObject(_ object: [String: Any], into output: inout String, pretty: Bool, depth: Int)
        throws
    {
        guard !object.isEmpty else {
            output += "{}"
            return
        }
        output += "{"
        for (index, key) in object.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
            if index > 0 { output += "," }
            newline(into: &output, pretty: pretty, depth: depth + 1)
            quote(key, into: &output)
            output += pretty ? ": " : ":"
            try write(object[key]!, into: &output, pretty: pretty, depth: depth + 1)
        }
        newline(into: &output, pretty: pretty, depth: depth)
        output += "}"
    }

    private static func newline(into output: inout String, pretty: Bool, depth: Int) {
        guard pretty else { return }
        output += "\n" + String(repeating: "  ", count: depth)
    }

    private static func quote(_ string: String, into output: inout String) {
        output += "\""
        // Most strings (names, base64 of certificates) need no escape: appended whole.
        if !string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            output += string
            output += "\""
            return
        }
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{8}": output += "\\b"
            case "\u{C}": output += "\\f"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
