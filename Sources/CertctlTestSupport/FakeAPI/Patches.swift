import Basics
import Foundation
import Transport

/// The patch types the API server takes besides the merge patch (``JSONValue/merging(_:)``).
enum Patches {
    struct Failure: Error {
        var message: String
    }

    // MARK: RFC 6902 JSON patch

    static func jsonPatch(_ document: JSONValue, _ operations: JSONValue) throws(Failure) -> JSONValue {
        guard let list = operations.arrayValue else { throw Failure(message: "a JSON patch is a list of operations") }
        var result = document
        for operation in list {
            guard let op = operation["op"]?.stringValue, let path = operation["path"]?.stringValue else {
                throw Failure(message: "an operation needs op and path")
            }
            let pointer = try parsePointer(path)
            switch op {
            case "add":
                guard let value = operation["value"] else { throw Failure(message: "add needs a value") }
                result = try add(result, pointer[...], value)
            case "remove":
                result = try remove(result, pointer[...])
            case "replace":
                guard let value = operation["value"] else { throw Failure(message: "replace needs a value") }
                result = try add(try remove(result, pointer[...]), pointer[...], value)
            case "test":
                guard get(result, pointer[...]) == operation["value"] else {
                    throw Failure(message: "testing value \(path) failed")
                }
            case "move", "copy":
                guard let from = operation["from"]?.stringValue, let source = get(result, try parsePointer(from)[...])
                else { throw Failure(message: "\(op) needs an existing from") }
                if op == "move" { result = try remove(result, try parsePointer(from)[...]) }
                result = try add(result, pointer[...], source)
            default:
                throw Failure(message: "unexpected operation \(op)")
            }
        }
        return result
    }

    private static func parsePointer(_ path: String) throws(Failure) -> [String] {
        guard path.isEmpty || path.hasPrefix("/") else { throw Failure(message: "invalid JSON pointer \(path)") }
        return path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    private static func get(_ value: JSONValue, _ pointer: ArraySlice<String>) -> JSONValue? {
        guard let key = pointer.first else { return value }
        switch value {
        case .object(let members): return members[key].flatMap { get($0, pointer.dropFirst()) }
        case .array(let elements):
            guard let index = Int(key), elements.indices.contains(index) else { return nil }
            return get(elements[index], pointer.dropFirst())
        default: return nil
        }
    }

    private static func add(_ value: JSONValue, _ pointer: ArraySlice<String>, _ new: JSONValue) throws(Failure)
        -> JSONValue
    {
        guard let key = pointer.first else { return new }
        switch value {
        case .object(var members):
            if pointer.count == 1 {
                members[key] = new
            } else {
                guard let child = members[key] else { throw Failure(message: "missing path for add") }
                members[key] = try add(child, pointer.dropFirst(), new)
            }
            return .object(members)
        case .array(var elements):
            if pointer.count == 1 {
                if key == "-" {
                    elements.append(new)
                } else {
                    guard let index = Int(key), (0...elements.count).contains(index) else {
                        throw Failure(message: "index out of range for add")
                    }
                    elements.insert(new, at: index)
                }
            } else {
                guard let index = Int(key), elements.indices.contains(index) else {
                    throw Failure(message: "missing path for add")
                }
                elements[index] = try add(elements[index], pointer.dropFirst(), new)
            }
            return .array(elements)
        default:
            throw Failure(message: "missing path for add")
        }
    }

    private static func remove(_ value: JSONValue, _ pointer: ArraySlice<String>) throws(Failure) -> JSONValue {
        guard let key = pointer.first else { throw Failure(message: "cannot remove the whole document") }
        switch value {
        case .object(var members):
            guard let child = members[key] else { throw Failure(message: "missing path for remove") }
            members[key] = pointer.count == 1 ? nil : try remove(child, pointer.dropFirst())
            return .object(members)
        case .array(var elements):
            guard let index = Int(key), elements.indices.contains(index) else {
                throw Failure(message: "missing path for remove")
            }
            if pointer.count == 1 {
                elements.remove(at: index)
            } else {
                elements[index] = try remove(elements[index], pointer.dropFirst())
            }
            return .array(elements)
        default:
            throw Failure(message: "missing path for remove")
        }
    }

    // MARK: Strategic merge patch

    /// A strategic merge patch, for the lists certctl's neighbours patch: `metadata.finalizers`
    /// (merged as a set) and `metadata.ownerReferences` (merged by `uid`); everything else as a
    /// merge patch. `$patch`, `$retainKeys`, `$deleteFromPrimitiveList` and
    /// `$setElementOrder` directives are not interpreted (the last is dropped).
    static func strategicMerge(_ document: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard var changes = patch.objectValue else { return patch }
        for key in changes.keys where key.hasPrefix("$setElementOrder/") { changes[key] = nil }
        var result = document.merging(.object(changes.filter { $0.key != "metadata" }))
        guard let metadataPatch = changes["metadata"]?.objectValue else { return result }
        var metadata = document["metadata"]?.objectValue ?? [:]
        var plain = metadataPatch
        if let finalizers = metadataPatch["finalizers"]?.arrayValue {
            var merged = metadata["finalizers"]?.arrayValue ?? []
            for finalizer in finalizers where !merged.contains(finalizer) { merged.append(finalizer) }
            metadata["finalizers"] = .array(merged)
            plain["finalizers"] = nil
        }
        if let references = metadataPatch["ownerReferences"]?.arrayValue {
            var merged = metadata["ownerReferences"]?.arrayValue ?? []
            for reference in references {
                if let index = merged.firstIndex(where: { $0["uid"] == reference["uid"] }) {
                    merged[index] = merged[index].merging(reference)
                } else {
                    merged.append(reference)
                }
            }
            metadata["ownerReferences"] = .array(merged)
            plain["ownerReferences"] = nil
        }
        if case .object(var members) = result {
            members["metadata"] = JSONValue.object(metadata).merging(.object(plain))
            result = .object(members)
        }
        return result
    }
}
