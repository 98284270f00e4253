public import Basics
import Foundation
public import Transport

/// A small typed client for the API server: get, list (selectors, pagination), create, update
/// with `resourceVersion`, JSON merge patch, delete. Failures keep the server's `Status`.
public struct KubernetesClient: Sendable {
    public let connection: ClusterConnection
    let transport: any HTTPTransport
    let credentials: CredentialSource
    /// Told each answer (its status; nil when none came), by verb.
    public var observer: (@Sendable (_ verb: String, _ status: Int?) -> Void)?
    /// How long one request may take before it is abandoned.
    public var requestTimeout: Duration = .seconds(30)
    /// Told what the server warned about (its `Warning` headers: an unknown field, a deprecated
    /// API) and what the client had to work around (a list restarted after its `continue`
    /// token expired), with the object concerned.
    public var onWarning: (@Sendable (_ object: String, _ warning: String) -> Void)?
    /// How often a list restarts from the first page after 410 Expired before giving up.
    static let listRestarts = 3
    /// When a request is sent again (429, 5xx, connections); ``RequestRetry/never`` for none.
    public var retry = RequestRetry()
    /// No retry waits past this deadline (the run's lock's term, moved on with each renewal).
    public var deadline: RetryDeadline?
    /// Shut when the run's lock is lost: no write is sent after (README, "One run at a time").
    public var writeGate: WriteGate?
    /// Told each request sent again, with why and after how long (the run's metrics).
    public var onRetry: (@Sendable (RetryEvent) -> Void)?

    public init(
        connection: ClusterConnection,
        transport: any HTTPTransport,
        observer: (@Sendable (_ verb: String, _ status: Int?) -> Void)? = nil
    ) {
        self.connection = connection
        self.transport = transport
        self.credentials = CredentialSource(connection: connection)
        self.observer = observer
    }

    // MARK: Verbs

    public func get<R: KubernetesResource>(_ type: R.Type, namespace: String?, name: String) async throws -> R {
        let response = try await send(
            .get, path: Self.path(type, namespace: namespace, name: name), verb: "get",
            object: Self.describe(type, namespace, name), safety: .read)
        return try decode(type, response, object: Self.describe(type, namespace, name))
    }

    /// Every object of `type` (in `namespace`, or all namespaces when nil), page by page.
    public func list<R: KubernetesResource>(
        _ type: R.Type,
        namespace: String?,
        labelSelector: String? = nil,
        fieldSelector: String? = nil,
        pageSize: Int = 500,
        decoding userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) async throws -> [R] {
        var items: [R] = []
        try await forEachPage(
            type, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, pageSize: pageSize,
            decoding: userInfo
        ) { page, fromStart in
            if fromStart { items = [] }
            items += page
        }
        return items
    }

    /// Lists `type` a page at a time, handing each page to `body` as it arrives, so that a list
    /// of thousands of objects is never held whole. The next page is already being fetched
    /// while `body` works on one, so the server's time and certctl's overlap. `fromStart` is true
    /// for the first page, and again when the server compacted past the list's first page
    /// (410 Expired) and the list starts over: what `body` kept of earlier pages is then out of
    /// date. `userInfo` is handed to the decoder of the items (``Ingress/rulesWithoutPaths``).
    public func forEachPage<R: KubernetesResource>(
        _ type: R.Type,
        namespace: String?,
        labelSelector: String? = nil,
        fieldSelector: String? = nil,
        pageSize: Int = 500,
        decoding userInfo: [CodingUserInfoKey: any Sendable] = [:],
        _ body: (_ items: [R], _ fromStart: Bool) async throws -> Void
    ) async throws {
        let list = ListRequest(
            path: Self.path(type, namespace: namespace, name: nil),
            object: "\(R.kind) list in \(namespace.map { "namespace \($0)" } ?? "all namespaces")",
            labelSelector: labelSelector, fieldSelector: fieldSelector, pageSize: pageSize)
        let object = list.object
        func fetch(_ token: String?) -> Task<HTTPResponse, any Error> { page(of: list, continuing: token) }
        var restarts = 0
        var fromStart = true
        var token: String?
        var next = fetch(nil)
        while true {
            let response: HTTPResponse
            do {
                response = try await Self.awaiting(next)
            } catch let error as KubernetesError where error.isExpired && token != nil && restarts < Self.listRestarts {
                // The server compacted past the list's first page (410 Expired): a consistent
                // list can only be had by starting again.
                restarts += 1
                token = nil
                fromStart = true
                onWarning?(object, "the list's continue token expired (410 Expired); the list was restarted")
                next = fetch(nil)
                continue
            }
            // The next page is asked for before this one is decoded, from its metadata alone.
            let layout = ListLayout(response.body)
            let metadata = layout?.metadata.flatMap {
                try? JSONDecoder().decode(ListMeta.self, from: Data(response.body[$0]))
            }
            let early = metadata?.continue.flatMap { $0.isEmpty ? nil : $0 }
            if let early { next = fetch(early) }
            let page: ObjectList<R>
            do {
                page = try await decodePage(
                    R.self, response, layout: layout, metadata: metadata, object: object, userInfo: userInfo)
            } catch {
                if early != nil { next.cancel() }
                throw error
            }
            token = page.metadata.continue.flatMap { $0.isEmpty ? nil : $0 }
            if token != early {
                if early != nil { next.cancel() }
                if let token { next = fetch(token) }
            }
            do {
                try await body(page.items, fromStart)
            } catch {
                if token != nil { next.cancel() }
                throw error
            }
            fromStart = false
            if token == nil { break }
        }
    }

    /// What every page of one list asks.
    private struct ListRequest {
        var path: String
        var object: String
        var labelSelector: String?
        var fieldSelector: String?
        var pageSize: Int
    }

    /// One page of `list`, asked for now (`continuing` the list from a token).
    private func page(of list: ListRequest, continuing token: String?) -> Task<HTTPResponse, any Error> {
        var query: [(String, String)] = [("limit", String(list.pageSize))]
        if let selector = list.labelSelector { query.append(("labelSelector", selector)) }
        if let selector = list.fieldSelector { query.append(("fieldSelector", selector)) }
        if let token { query.append(("continue", token)) }
        return Task { [self, query] in
            try await send(.get, path: list.path, query: query, verb: "list", object: list.object, safety: .read)
        }
    }

    /// A page's answer; the request is cancelled with the task that waits for it.
    private static func awaiting(_ page: Task<HTTPResponse, any Error>) async throws -> HTTPResponse {
        try await withTaskCancellationHandler {
            try await page.value
        } onCancel: {
            page.cancel()
        }
    }

    public func create<R: KubernetesResource>(_ object: R) async throws -> R {
        let namespace = object.metadata.namespace
        let name = object.metadata.name ?? object.metadata.generateName ?? ""
        let description = Self.describe(R.self, namespace, name)
        let body = try encode(object)
        do {
            let response = try await send(
                .post, path: Self.path(R.self, namespace: namespace, name: nil), body: body, verb: "create",
                object: description, safety: .create)
            return try decode(R.self, response, object: description)
        } catch let error as KubernetesError where error.isAlreadyExists && object.metadata.name != nil {
            // An attempt that got no answer may have created it (sent again by this client, or
            // by libcurl itself on a kept-alive connection the server closed): it is ours when it
            // holds everything that was sent (the server adds its own fields).
            let existing = try await get(R.self, namespace: namespace, name: name)
            guard let sent = try? JSONValue.parse(body), let stored = try? JSONValue.parse(try encode(existing)),
                Self.holds(stored, sent, path: [])
            else { throw error }
            return existing
        }
    }

    /// Replaces the object. With `metadata.resourceVersion` set the server refuses (409
    /// Conflict) when someone else wrote since: optimistic concurrency.
    public func update<R: KubernetesResource>(_ object: R) async throws -> R {
        guard let name = object.metadata.name else {
            throw KubernetesError(.configuration, object: R.kind, reason: "an update needs metadata.name")
        }
        let namespace = object.metadata.namespace
        let description = Self.describe(R.self, namespace, name)
        let response = try await send(
            .put,
            path: Self.path(R.self, namespace: namespace, name: name),
            body: try encode(object),
            verb: "update",
            object: description,
            safety: object.metadata.resourceVersion == nil ? .idempotent : .preconditioned
        )
        return try decode(R.self, response, object: description)
    }

    /// A JSON merge patch (RFC 7386), e.g. `{"metadata":{"annotations":{...}}}`: only what it
    /// names changes. With `metadata.resourceVersion` in it the server refuses (409 Conflict)
    /// when someone else wrote since.
    public func mergePatch<R: KubernetesResource>(_ type: R.Type, namespace: String?, name: String, patch: JSONValue)
        async throws -> R
    {
        let description = Self.describe(type, namespace, name)
        let response = try await send(
            .patch,
            path: Self.path(type, namespace: namespace, name: name),
            body: patch.serialized(),
            contentType: "application/merge-patch+json",
            verb: "patch",
            object: description,
            safety: patch["metadata"]?["resourceVersion"] == nil ? .idempotent : .preconditioned
        )
        return try decode(type, response, object: description)
    }

    /// A JSON patch (RFC 6902): its `test` operations make the server refuse (422) a patch of
    /// an object that changed where it applies.
    public func jsonPatch<R: KubernetesResource>(
        _ type: R.Type, namespace: String?, name: String, operations: [JSONValue]
    ) async throws -> R {
        let description = Self.describe(type, namespace, name)
        let response = try await send(
            .patch,
            path: Self.path(type, namespace: namespace, name: name),
            body: JSONValue.array(operations).serialized(),
            contentType: "application/json-patch+json",
            verb: "patch",
            object: description,
            safety: Self.testsResourceVersion(operations) ? .preconditioned : .unsafe
        )
        return try decode(type, response, object: description)
    }

    /// What a delete requires of the object as stored (`DeleteOptions.preconditions`): the
    /// server refuses (409 Conflict) when it is another object of that name, or changed since.
    public struct DeletePreconditions: Sendable, Equatable {
        public var uid: String?
        public var resourceVersion: String?

        public init(uid: String?, resourceVersion: String?) {
            self.uid = uid
            self.resourceVersion = resourceVersion
        }
    }

    public func delete<R: KubernetesResource>(
        _ type: R.Type, namespace: String?, name: String, preconditions: DeletePreconditions? = nil
    ) async throws {
        var body: [UInt8]?
        if let preconditions {
            var fields: [String: JSONValue] = [:]
            if let uid = preconditions.uid { fields["uid"] = .string(uid) }
            if let version = preconditions.resourceVersion { fields["resourceVersion"] = .string(version) }
            body = JSONValue.object([
                "apiVersion": .string("v1"), "kind": .string("DeleteOptions"), "preconditions": .object(fields),
            ]).serialized()
        }
        _ = try await send(
            .delete, path: Self.path(type, namespace: namespace, name: name), body: body, verb: "delete",
            object: Self.describe(type, namespace, name), safety: body == nil ? .delete : .preconditioned)
    }

    // MARK: Plumbing

    static func path<R: KubernetesResource>(_ type: R.Type, namespace: String?, name: String?) -> String {
        var path = R.apiPath
        if let namespace { path += "/namespaces/\(escape(namespace))" }
        path += "/\(R.plural)"
        if let name { path += "/\(escape(name))" }
        return path
    }

    static func describe<R: KubernetesResource>(_ type: R.Type, _ namespace: String?, _ name: String) -> String {
        "\(R.kind) \(namespace.map { "\($0)/" } ?? "")\(name)"
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/")))
            ?? text
    }

    private func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    /// A page of a list, its items (where `layout` found them) decoded on every core in chunks
    /// when there are many; any trouble, and the decoder of the whole page says what is wrong.
    private func decodePage<R: KubernetesResource>(
        _ type: R.Type, _ response: HTTPResponse, layout: ListLayout?, metadata: ListMeta?, object: String,
        userInfo: [CodingUserInfoKey: any Sendable]
    ) async throws -> ObjectList<R> {
        let body = response.body
        guard let layout, layout.items.count >= 128, let metadata else {
            return try decode(ObjectList<R>.self, response, object: object, userInfo: userInfo)
        }
        let chunk = 64
        let chunks = stride(from: 0, to: layout.items.count, by: chunk).map {
            Array(layout.items[$0..<min(layout.items.count, $0 + chunk)])
        }
        do {
            let decoded = try await concurrentCompactMap(chunks, minimumChunk: 1) { ranges -> [R]? in
                var array: [UInt8] = [UInt8(ascii: "[")]
                array.reserveCapacity(ranges.reduce(2) { $0 + $1.count + 1 })
                for (index, range) in ranges.enumerated() {
                    if index > 0 { array.append(UInt8(ascii: ",")) }
                    array.append(contentsOf: body[range])
                }
                array.append(UInt8(ascii: "]"))
                let decoder = JSONDecoder()
                decoder.userInfo = userInfo
                return try decoder.decode([R].self, from: Data(array))
            }
            return ObjectList(apiVersion: nil, kind: nil, metadata: metadata, items: decoded.flatMap { $0 })
        } catch {
            return try decode(ObjectList<R>.self, response, object: object, userInfo: userInfo)
        }
    }

    private func decode<T: Decodable>(
        _ type: T.Type, _ response: HTTPResponse, object: String, userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) throws -> T {
        do {
            let decoder = JSONDecoder()
            decoder.userInfo = userInfo
            return try decoder.decode(type, from: Data(response.body))
        } catch {
            throw KubernetesError(
                .invalidResponse, object: object, reason: "the API server's answer does not decode: \(error)")
        }
    }
}
