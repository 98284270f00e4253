// MARK: Reading

extension JSONValue {
    /// A document that is not JSON, with the words Go's `encoding/json` uses for the same fault
    /// (`invalid character 'n' looking for beginning of object key string`).
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        /// The byte where reading stopped.
        public var offset: Int

        public var description: String { message }
    }

    /// Parses one JSON document (RFC 8259), nested at most `maximumDepth` deep. Duplicate object
    /// keys are reported through `duplicates` (the last one wins, as in Go).
    public static func parse(_ bytes: [UInt8], maximumDepth: Int = 1000, duplicates: ((String) -> Void)? = nil)
        throws(SyntaxError) -> JSONValue
    {
        var parser = Parser(bytes: bytes, maximumDepth: maximumDepth, duplicates: duplicates)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        if parser.index < bytes.count {
            throw parser.invalid("after top-level value")
        }
        return value
    }

    public static func parse(_ text: String) throws(SyntaxError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    private struct Parser {
        let bytes: [UInt8]
        let maximumDepth: Int
        let duplicates: ((String) -> Void)?
        var index = 0

        init(bytes: [UInt8], maximumDepth: Int, duplicates: ((String) -> Void)?) {
            self.bytes = bytes
            self.maximumDepth = maximumDepth
            self.duplicates = duplicates
        }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[index]) { index += 1 }
        }

        func invalid(_ context: String) -> SyntaxError {
            guard index < bytes.count else {
                return SyntaxError(message: "unexpected end of JSON input", offset: index)
            }
            return SyntaxError(
                message: "invalid character \(Self.quote(bytes[index])) \(context)", offset: index)
        }

        /// Go's `quoteChar`: `'x'`, `'\n'`, `'\u0081'`.
        static func quote(_ byte: UInt8) -> String {
            switch byte {
            case UInt8(ascii: "'"): return "'\\''"
            case UInt8(ascii: "\""): return "'\"'"
            case UInt8(ascii: "\n"): return "'\\n'"
            case UInt8(ascii: "\r"): return "'\\r'"
            case UInt8(ascii: "\t"): return "'\\t'"
            case 0x20..<0x7f: return "'\(Character(UnicodeScalar(byte)))'"
            case 0..<0x20, 0x7f:
                return "'\\x" + String(hexDigits[Int(clamping: byte >> 4)])
                    + String(hexDigits[Int(clamping: byte & 0xf)]) + "'"
            default:
                let hex = String(byte, radix: 16)
                return "'\\u" + String(repeating: "0", count: 4 - hex.count) + hex + "'"
            }
        }

        private static let hexDigits = Array("0123456789abcdef")

        mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
            guard depth < maximumDepth else {
                throw SyntaxError(message: "exceeded max depth", offset: index)
            }
            guard index < bytes.count else { throw invalid("looking for beginning of value") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw invalid("looking for beginning of value")
            }
        }

        mutating func literal(_ word: String, _ result: JSONValue) throws(SyntaxError) -> JSONValue {
            let expected = Array(word.utf8)
            for (offset, byte) in expected.enumerated() {
                guard index < bytes.count else { throw invalid("") }
                if bytes[index] != byte {
                    throw invalid("in literal \(word) (expecting '\(Character(UnicodeScalar(expected[offset])))')")
                }
                index += 1
            }
            return result
        }

        mutating func number() throws(SyntaxError) -> JSONValue {
            let start = index
            func isDigit(_ at: Int) -> Bool { at < bytes.count && (0x30...0x39).contains(bytes[at]) }
            if bytes[index] == UInt8(ascii: "-") {
                index += 1
                guard isDigit(index) else { throw invalid("in numeric literal") }
            }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else {
                while isDigit(index) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard isDigit(index) else { throw invalid("after decimal point in numeric literal") }
                while isDigit(index) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    index += 1
                }
                guard isDigit(index) else { throw invalid("in exponent of numeric literal") }
                while isDigit(index) { index += 1 }
            }
            return .number(String(decoding: bytes[start..<index], as: UTF8.self))
        }

        mutating func string() throws(SyntaxError) -> String {
            index += 1  // the opening quote
            var scalars: [UInt8] = []
            while true {
                guard index < bytes.count else { throw invalid("") }
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(decoding: scalars, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw invalid("") }
                    let escape = bytes[index]
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                    case UInt8(ascii: "b"): scalars.append(0x08)
                    case UInt8(ascii: "f"): scalars.append(0x0c)
                    case UInt8(ascii: "n"): scalars.append(0x0a)
                    case UInt8(ascii: "r"): scalars.append(0x0d)
                    case UInt8(ascii: "t"): scalars.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xd800..<0xdc00).contains(code), index + 2 < bytes.count,
                            bytes[index + 1] == UInt8(ascii: "\\"), bytes[index + 2] == UInt8(ascii: "u")
                        {
                            let saved = index
                            index += 2
                            let low = try hex4()
                            if (0xdc00..<0xe000).contains(low) {
                                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00)
                            } else {
                                index = saved
                            }
                        }
                        let scalar = UnicodeScalar(code) ?? "\u{fffd}"
                        scalars += Array(String(Character(scalar)).utf8)
                    default: throw invalid("in string escape code")
                    }
                    index += 1
                case 0..<0x20:
                    throw invalid("in string literal")
                default:
                    scalars.append(byte)
                    index += 1
                }
            }
        }

        /// Reads `XXXX` after `\u`, leaving `index` on its last digit.
        mutating func hex4() throws(SyntaxError) -> UInt32 {
            var code: UInt32 = 0
            for _ in 0..<4 {
                index += 1
                guard index < bytes.count else { throw invalid("") }
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(clamping: byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(clamping: byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(clamping: byte - UInt8(ascii: "A") + 10)
                default: throw invalid("in \\u hexadecimal character escape")
                }
                code = code * 16 + digit
            }
            return code
        }

        mutating func array(depth: Int) throws(SyntaxError) -> JSONValue {
            index += 1
            var elements: [JSONValue] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipSpace()
                elements.append(try value(depth: depth + 1))
                skipSpace()
                guard index < bytes.count else { throw invalid("") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(elements)
                } else {
                    throw invalid("after array element")
                }
            }
        }

        mutating func object(depth: Int) throws(SyntaxError) -> JSONValue {
            index += 1
            var members: [String: JSONValue] = [:]
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw invalid("looking for beginning of object key string")
                }
                let key = try string()
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw invalid("after object key") }
                index += 1
                skipSpace()
                let member = try value(depth: depth + 1)
                if members.updateValue(member, forKey: key) != nil { duplicates?(key) }
                skipSpace()
                guard index < bytes.count else { throw invalid("") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                } else {
                    throw invalid("after object key:value pair")
                }
            }
        }
    }
}
