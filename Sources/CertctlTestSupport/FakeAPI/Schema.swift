import Basics
import Foundation
import Transport

/// The Go types of the built-in kinds the fake serves, as far as decoding needs them: which
/// fields exist (the rest are unknown: a warning, or 400 under `fieldValidation=Strict`, and
/// dropped), what type each has (a mismatch is 400 BadRequest, as Go's decoder refuses it), and
/// how the server writes it back (`omitempty`, pointers, structs that are always written).
indirect enum FieldType: Sendable {
    case string
    case int32
    case int64
    case bool
    /// `[]byte`: base64 on the wire.
    case bytes
    /// `metav1.Time`.
    case time
    /// `metav1.MicroTime`.
    case microTime
    case intOrString
    /// Kept as sent (managedFields, selectors of reviews).
    case any
    case object(ObjectSchema)
    case map(FieldType)
    case array(FieldType)

    /// Go's name for the type, in decoding errors.
    var goName: String {
        switch self {
        case .string: "string"
        case .int32: "int32"
        case .int64: "int64"
        case .bool: "bool"
        case .bytes: "[]uint8"
        case .time: "v1.Time"
        case .microTime: "v1.MicroTime"
        case .intOrString: "intstr.IntOrString"
        case .any: "interface {}"
        case .object(let schema): "v1." + schema.goType
        case .map(let value): "map[string]" + value.goName
        case .array(let element): "[]" + element.goName
        }
    }
}

/// How a struct field is written back when absent or zero.
enum Presence: Sendable {
    /// `omitempty`: left out when absent or zero ("", 0, false, empty map or list).
    case omitEmpty
    /// A pointer with `omitempty`: left out only when absent (a zero value stays).
    case pointer
    /// A struct field without `omitempty`: always written, its zero value when absent.
    case always
}

struct Field: Sendable {
    var type: FieldType
    var presence: Presence

    static func o(_ type: FieldType) -> Field { Field(type: type, presence: .omitEmpty) }
    static func p(_ type: FieldType) -> Field { Field(type: type, presence: .pointer) }
    static func a(_ type: FieldType) -> Field { Field(type: type, presence: .always) }
}

final class ObjectSchema: Sendable {
    let goType: String
    let fields: [String: Field]

    init(_ goType: String, _ fields: [String: Field]) {
        self.goType = goType
        self.fields = fields
    }
}

/// A body the server cannot decode: 400 BadRequest with this text after
/// `Kind in version "v1" cannot be handled as a Kind: `.
struct DecodeFailure: Error {
    var message: String
}

/// Reads a JSON body against a schema: unknown fields are collected (and dropped), types are
/// checked, timestamps and bytes are parsed and written back in the server's own form.
struct SchemaDecoder {
    /// Paths of fields the schema does not have (`bogus`, `spec.foo`, `spec.rules[0].bar`).
    var unknownFields: [String] = []

    mutating func decode(_ value: JSONValue, as schema: ObjectSchema) throws(DecodeFailure) -> [String: JSONValue] {
        try object(value, schema, path: "", container: schema.goType)
    }

    private mutating func object(_ value: JSONValue, _ schema: ObjectSchema, path: String, container: String)
        throws(DecodeFailure) -> [String: JSONValue]
    {
        guard case .object(let members) = value else {
            throw mismatch(value, path: path, container: container, type: .object(schema))
        }
        var result: [String: JSONValue] = [:]
        for (key, member) in members {
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            guard let field = schema.fields[key] else {
                unknownFields.append(childPath)
                continue
            }
            if member.isNull { continue }
            result[key] = try decode(member, as: field.type, path: childPath, container: schema.goType)
        }
        return result
    }

    private mutating func decode(_ value: JSONValue, as type: FieldType, path: String, container: String)
        throws(DecodeFailure) -> JSONValue
    {
        switch type {
        case .any:
            return value
        case .string:
            guard case .string = value else { throw mismatch(value, path: path, container: container, type: type) }
            return value
        case .bool:
            guard case .bool = value else { throw mismatch(value, path: path, container: container, type: type) }
            return value
        case .int32, .int64:
            guard case .number(let text) = value else {
                throw mismatch(value, path: path, container: container, type: type)
            }
            let range: ClosedRange<Int64> =
                if case .int32 = type { Int64(clamping: Int32.min)...Int64(clamping: Int32.max) } else {
                    Int64.min...Int64.max
                }
            guard let integer = Int64(text), range.contains(integer) else {
                throw DecodeFailure(
                    message:
                        "json: cannot unmarshal number \(text) into Go struct field \(container).\(path) of type \(type.goName)"
                )
            }
            return .number(String(integer))
        case .intOrString:
            switch value {
            case .string: return value
            case .number(let text) where Int32(text) != nil: return .number(text)
            default: throw mismatch(value, path: path, container: container, type: type)
            }
        case .bytes:
            guard case .string(let text) = value else {
                throw mismatch(value, path: path, container: container, type: type)
            }
            switch Base64Std.decode(text) {
            case .success(let bytes): return .string(Data(bytes).base64EncodedString())
            case .failure(let offset): throw DecodeFailure(message: "illegal base64 data at input byte \(offset)")
            }
        case .time, .microTime:
            guard case .string(let text) = value else {
                throw mismatch(value, path: path, container: container, type: type)
            }
            let micro: Bool = if case .microTime = type { true } else { false }
            do {
                let date = try GoTime.parse(text, layout: micro ? GoTime.rfc3339Micro : GoTime.rfc3339)
                return .string(Timestamp.rfc3339(date, fractionDigits: micro ? 6 : 0))
            } catch {
                throw DecodeFailure(message: error.description)
            }
        case .object(let schema):
            return .object(try object(value, schema, path: path, container: schema.goType))
        case .map(let valueType):
            guard case .object(let members) = value else {
                throw mismatch(value, path: path, container: container, type: type)
            }
            var result: [String: JSONValue] = [:]
            for (key, member) in members {
                if member.isNull {
                    result[key] = Self.zero(valueType)
                    continue
                }
                result[key] = try decode(member, as: valueType, path: path, container: container)
            }
            return .object(result)
        case .array(let element):
            guard case .array(let elements) = value else {
                throw mismatch(value, path: path, container: container, type: type)
            }
            var result: [JSONValue] = []
            for (index, member) in elements.enumerated() {
                if member.isNull {
                    result.append(Self.zero(element))
                    continue
                }
                result.append(try decode(member, as: element, path: "\(path)[\(index)]", container: container))
            }
            return .array(result)
        }
    }

    private func mismatch(_ value: JSONValue, path: String, container: String, type: FieldType) -> DecodeFailure {
        let field = path.replacingOccurrences(of: #"\[\d+\]"#, with: "", options: .regularExpression)
        if field.isEmpty {
            return DecodeFailure(
                message: "json: cannot unmarshal \(value.typeName) into Go value of type \(type.goName)")
        }
        return DecodeFailure(
            message:
                "json: cannot unmarshal \(value.typeName) into Go struct field \(container).\(field) of type \(type.goName)"
        )
    }

    /// The zero value Go writes for `type`.
    static func zero(_ type: FieldType) -> JSONValue {
        switch type {
        case .string: .string("")
        case .int32, .int64: .number("0")
        case .bool: .bool(false)
        case .object(let schema): .object(render([:], as: schema))
        default: .null
        }
    }

    /// An object as the server writes it: `omitempty` zeros left out, structs always there.
    static func render(_ object: [String: JSONValue], as schema: ObjectSchema) -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for (key, field) in schema.fields {
            guard let value = object[key], !value.isNull else {
                if field.presence == .always { result[key] = zero(field.type) }
                continue
            }
            if field.presence == .omitEmpty, isZero(value) { continue }
            result[key] = render(value, as: field.type)
        }
        return result
    }

    private static func render(_ value: JSONValue, as type: FieldType) -> JSONValue {
        switch (type, value) {
        case (.object(let schema), .object(let members)): .object(render(members, as: schema))
        case (.map(let valueType), .object(let members)): .object(members.mapValues { render($0, as: valueType) })
        case (.array(let element), .array(let elements)): .array(elements.map { render($0, as: element) })
        default: value
        }
    }

    static func isZero(_ value: JSONValue) -> Bool {
        switch value {
        case .null: true
        case .string(let text): text.isEmpty
        case .number(let text): Double(text) == 0
        case .bool(let flag): !flag
        case .array(let elements): elements.isEmpty
        case .object(let members): members.isEmpty
        }
    }
}

/// Go's `base64.StdEncoding.DecodeString`: padding required, `\r` and `\n` skipped.
enum Base64Std {
    enum Result {
        case success([UInt8])
        /// The byte where decoding failed.
        case failure(Int)
    }

    static func decode(_ text: String) -> Result {
        var output: [UInt8] = []
        var quantum: [UInt8] = []
        var padding = 0
        var quantumStart = 0
        for (index, byte) in text.utf8.enumerated() {
            if byte == 0x0a || byte == 0x0d { continue }
            if quantum.isEmpty { quantumStart = index }
            if byte == UInt8(ascii: "=") {
                guard quantum.count >= 2 else { return .failure(index) }
                padding += 1
                quantum.append(0)
            } else {
                guard padding == 0, let sextet = value(byte) else { return .failure(padding > 0 ? index - 1 : index) }
                quantum.append(sextet)
            }
            if quantum.count == 4 {
                let bits =
                    UInt32(clamping: quantum[0]) << 18 | UInt32(clamping: quantum[1]) << 12 | UInt32(
                        clamping: quantum[2]) << 6 | UInt32(clamping: quantum[3])
                output += [
                    UInt8(clamping: bits >> 16 & 0xff), UInt8(clamping: bits >> 8 & 0xff), UInt8(clamping: bits & 0xff),
                ].prefix(3 - padding)
                if padding > 0 {
                    // Nothing may follow padding.
                    let rest = text.utf8.dropFirst(index + 1).filter { $0 != 0x0a && $0 != 0x0d }
                    return rest.isEmpty ? .success(output) : .failure(index + 1)
                }
                quantum = []
            }
        }
        return quantum.isEmpty ? .success(output) : .failure(quantumStart + quantum.count)
    }

    private static func value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
