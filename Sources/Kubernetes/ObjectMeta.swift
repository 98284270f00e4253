import Foundation

/// `metadata` of every object (the fields certctl reads and writes).
public struct ObjectMeta: Codable, Sendable, Equatable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var creationTimestamp: Time?
    /// Set when the object is being deleted and waits for its finalizers.
    public var deletionTimestamp: Time?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var ownerReferences: [OwnerReference]?
    public var finalizers: [String]?

    public init(
        name: String? = nil,
        namespace: String? = nil,
        labels: [String: String]? = nil,
        annotations: [String: String]? = nil,
        resourceVersion: String? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.resourceVersion = resourceVersion
    }
}

public struct OwnerReference: Codable, Sendable, Equatable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool?

    public init(apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = nil) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
    }
}

/// `metadata` of a list: where the next page starts.
public struct ListMeta: Codable, Sendable, Equatable {
    public var resourceVersion: String?
    public var `continue`: String?
    public var remainingItemCount: Int?

    public init(resourceVersion: String? = nil, continue token: String? = nil) {
        self.resourceVersion = resourceVersion
        self.continue = token
    }
}

/// Any `*List` object.
public struct ObjectList<Item: Codable & Sendable>: Codable, Sendable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ListMeta
    public var items: [Item]

    public init(apiVersion: String?, kind: String?, metadata: ListMeta, items: [Item]) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.metadata = metadata
        self.items = items
    }
}

/// Where a list's `metadata` and each of its `items` lie in its JSON text, found in one pass that
/// skips over values (strings and nesting respected) without building them. nil when the text
/// is not a JSON object of that shape. The next page of a list can be asked for from its
/// `metadata` alone, while the items are decoded.
public struct ListLayout {
    public var metadata: Range<Int>?
    public var items: [Range<Int>] = []

    public init?(_ json: [UInt8]) {
        var index = 0
        func skipSpace() {
            while index < json.count,
                json[index] == 0x20 || json[index] == 0x0A || json[index] == 0x0D || json[index] == 0x09
            {
                index += 1
            }
        }
        /// Past a string whose opening quote is at `index`; false when it is not closed.
        func skipString() -> Bool {
            index += 1
            while index < json.count {
                switch json[index] {
                case UInt8(ascii: "\\"): index += 2
                case UInt8(ascii: "\""):
                    index += 1
                    return true
                default: index += 1
                }
            }
            return false
        }
        /// Past the value that starts at `index`.
        func skipValue() -> Bool {
            guard index < json.count else { return false }
            switch json[index] {
            case UInt8(ascii: "\""):
                return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while index < json.count {
                    switch json[index] {
                    case UInt8(ascii: "\""):
                        guard skipString() else { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            index += 1
                            return true
                        }
                    default: break
                    }
                    index += 1
                }
                return false
            default:
                let start = index
                while index < json.count, !",}] \n\r\t".utf8.contains(json[index]) { index += 1 }
                return index > start
            }
        }
        skipSpace()
        guard index < json.count, json[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        skipSpace()
        if index < json.count, json[index] == UInt8(ascii: "}") { return }
        while true {
            skipSpace()
            guard index < json.count, json[index] == UInt8(ascii: "\"") else { return nil }
            let keyStart = index + 1
            guard skipString() else { return nil }
            let key = json[keyStart..<(index - 1)]
            skipSpace()
            guard index < json.count, json[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            if key.elementsEqual("items".utf8), index < json.count, json[index] == UInt8(ascii: "[") {
                index += 1
                skipSpace()
                if index < json.count, json[index] == UInt8(ascii: "]") {
                    index += 1
                } else {
                    while true {
                        skipSpace()
                        let itemStart = index
                        guard skipValue() else { return nil }
                        items.append(itemStart..<index)
                        skipSpace()
                        guard index < json.count else { return nil }
                        if json[index] == UInt8(ascii: "]") {
                            index += 1
                            break
                        }
                        guard json[index] == UInt8(ascii: ",") else { return nil }
                        index += 1
                    }
                }
            } else {
                let valueStart = index
                guard skipValue() else { return nil }
                if key.elementsEqual("metadata".utf8) { metadata = valueStart..<index }
            }
            skipSpace()
            guard index < json.count else { return nil }
            if json[index] == UInt8(ascii: "}") { return }
            guard json[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
    }
}
