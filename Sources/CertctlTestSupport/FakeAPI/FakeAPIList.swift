import Basics
import Foundation
import Transport

/// Lists: selectors, `limit` and `continue` as the real server pages (a continued list reads
/// the snapshot its first page was taken from, and 410 Expired once that is compacted).
extension FakeAPIState {
    /// How many first pages' snapshots are kept for their `continue` tokens.
    static let snapshotLimit = 32

    func list(_ target: Target) -> ServerResponse {
        let kind = target.kind
        var labelSelector: LabelSelector?
        if let text = target.query["labelSelector"], !text.isEmpty {
            do {
                labelSelector = try LabelSelector(text)
            } catch {
                return Status.badRequest(error.message)
            }
        }
        var fieldSelector: FieldSelector?
        if let text = target.query["fieldSelector"], !text.isEmpty {
            do {
                fieldSelector = try FieldSelector(text)
            } catch {
                return Status.badRequest(error.message)
            }
            let supported = kind.fieldSelectors.union(["metadata.name", "metadata.namespace"])
            for requirement in fieldSelector?.requirements ?? [] where !supported.contains(requirement.field) {
                return Status.badRequest("field label not supported: \(requirement.field)")
            }
        }
        var objects = store[kind.storage] ?? [:]
        var version = resourceVersion
        var start: String?
        if let token = target.query["continue"], !token.isEmpty {
            switch decodeContinue(token) {
            case .failure(let message):
                return Status.badRequest("invalid continue token: \(message)")
            case .success(let (tokenVersion, key)):
                guard tokenVersion >= compactedVersion,
                    let snapshot = snapshots.first(where: { $0.version == tokenVersion && $0.storage == kind.storage })
                else {
                    return expired(kind, start: key)
                }
                objects = snapshot.objects
                version = tokenVersion
                start = key
            }
        }
        let filtered = labelSelector != nil || fieldSelector != nil
        let all = orderedKeys(kind.storage, version: version, objects)
        var first = all.startIndex
        if let start {
            // Past `start`: the first key that sorts after it.
            var low = all.startIndex
            var high = all.endIndex
            while low < high {
                let middle = (low + high) / 2
                if start.utf8.lexicographicallyPrecedes(all[middle].utf8) { high = middle } else { low = middle + 1 }
            }
            first = low
        }
        let keys = all[first...].filter { key in
            if let namespace = target.namespace, !key.hasPrefix("\(namespace)/") { return false }
            return true
        }
        func matches(_ key: String) -> Bool {
            guard let object = objects[key] else { return false }
            guard labelSelector != nil || fieldSelector != nil else { return true }
            let served = kind.toServed(object)
            if let labelSelector {
                let labels = (served.object("metadata")["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
                if !labelSelector.matches(labels) { return false }
            }
            for requirement in fieldSelector?.requirements ?? [] {
                let value = served.string(requirement.field) ?? ""
                if (value == requirement.value) == requirement.negated { return false }
            }
            return true
        }
        let limit = Int(target.query["limit"] ?? "") ?? 0
        // The selectors are applied in key order until one match past the page is found: that
        // is all a page needs (whether there is more), and keeps a paged list of N objects from
        // costing N selector checks per page.
        var page: [String] = []
        var more = false
        for key in keys where matches(key) {
            if limit > 0, page.count == limit {
                more = true
                break
            }
            page.append(key)
        }
        var metadata: [String: JSONValue] = ["resourceVersion": .string(String(version))]
        if more {
            if start == nil {
                snapshots.append((version, kind.storage, objects))
                if snapshots.count > Self.snapshotLimit { snapshots.removeFirst() }
            }
            metadata["continue"] = .string(encodeContinue(version: version, after: page.last ?? ""))
            if !filtered { metadata["remainingItemCount"] = JSONValue(keys.count - limit) }
        } else if kind.isCustom {
            metadata["continue"] = .string("")
        }
        let items: [[UInt8]] = page.compactMap { key in
            guard let object = objects[key] else { return nil }
            return listItem(kind, key: key, object)
        }
        if let pages = compactAfterPages {
            compactAfterPages = pages > 1 ? pages - 1 : nil
            if pages <= 1 { compact() }
        }
        // The list as JSONValue would serialize it, with the items' bytes spliced in.
        let envelope = JSONValue.object([
            "kind": .string(kind.kind + "List"), "apiVersion": .string(kind.groupVersion),
            "metadata": .object(metadata), "items": .array([]),
        ]).serialized()
        let marker = Array(#""items":[]"#.utf8)
        var response = Status.json(200, .object([:]))
        guard let at = envelope.indices.first(where: { envelope[$0...].starts(with: marker) }) else {
            return Status.json(500, .string("the list envelope has no items"))
        }
        var body = Array(envelope[..<(at + marker.count - 1)])
        body.reserveCapacity(envelope.count + items.reduce(0) { $0 + $1.count + 1 })
        for (index, item) in items.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: item)
        }
        body.append(contentsOf: envelope[(at + marker.count - 1)...])
        response.body = body
        return response
    }

    /// `objects`' keys in byte order, sorted once per storage and resourceVersion.
    private func orderedKeys(_ storage: String, version: Int, _ objects: [String: [String: JSONValue]]) -> [String] {
        if let cached = sortedKeys[storage], cached.version == version, cached.keys.count == objects.count {
            return cached.keys
        }
        let keys = objects.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        sortedKeys[storage] = (version, keys)
        return keys
    }

    /// One object as a list serves it (built-in lists carry apiVersion and kind once, not per
    /// item), made again only when the object's resourceVersion changed.
    private func listItem(_ kind: ResourceKind, key: String, _ object: [String: JSONValue]) -> [UInt8] {
        let version = object["metadata"]?["resourceVersion"]?.stringValue ?? ""
        let cacheKey = kind.storage + "\u{0}" + key
        if let cached = listItems[cacheKey], cached.version == version, !version.isEmpty { return cached.bytes }
        var item = served(object, kind)
        if !kind.isCustom {
            item["apiVersion"] = nil
            item["kind"] = nil
        }
        let bytes = JSONValue.object(item).serialized()
        listItems[cacheKey] = (version, bytes)
        return bytes
    }

    /// `base64url(JSON {"v":"meta.k8s.io/v1","rv":N,"start":"KEY\u0000"})`, like the real token.
    private func encodeContinue(version: Int, after key: String) -> String {
        let token = JSONValue.object([
            "v": .string("meta.k8s.io/v1"), "rv": JSONValue(version), "start": .string(key + "\u{0}"),
        ])
        return token.serialized().base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(
            of: "/", with: "_"
        ).replacingOccurrences(of: "=", with: "")
    }

    private enum ContinueToken {
        case success((Int, String))
        case failure(String)
    }

    private func decodeContinue(_ token: String) -> ContinueToken {
        var text = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if token.contains("=") || token.contains("+") || token.contains("/") {
            let offset = token.firstIndex { "=+/".contains($0) }.map { token.distance(from: token.startIndex, to: $0) }
            return .failure("continue key is not valid: illegal base64 data at input byte \(offset ?? 0)")
        }
        // Raw (unpadded) base64url: complete the last quantum; stray bits are ignored, as in Go.
        if text.utf8.count % 4 == 1 {
            return .failure("continue key is not valid: illegal base64 data at input byte \(text.utf8.count - 1)")
        }
        text += String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
        let decoded: [UInt8]
        switch Base64Std.decode(text) {
        case .success(let bytes): decoded = bytes
        case .failure(let offset):
            return .failure("continue key is not valid: illegal base64 data at input byte \(offset)")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(decoded)
        } catch {
            return .failure("continue key is not valid: \(error.message)")
        }
        guard value["v"]?.stringValue == "meta.k8s.io/v1" else {
            return .failure("continue key is not valid: server does not recognize this encoded version")
        }
        guard let version = value["rv"]?.integerValue, version > 0, var start = value["start"]?.stringValue else {
            return .failure(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        }
        if start.hasSuffix("\u{0}") { start.removeLast() }
        return .success((Int(clamping: version), start))
    }

    private func expired(_ kind: ResourceKind, start: String) -> ServerResponse {
        var response = Status.failure(
            410, "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
        )
        if var body = try? JSONValue.parse(response.body).objectValue {
            body["metadata"] = .object(["continue": .string(encodeContinue(version: resourceVersion, after: start))])
            response.body = JSONValue.object(body).serialized()
        }
        return response
    }
}
