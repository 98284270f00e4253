import Basics
import CertctlTestSupport
import Foundation
import Testing
import Transport

/// The fake API server against the recording of a real kube-apiserver v1.36.2
/// (`tests/kube-apiserver/conformance.json`, then `gateway-api.json` with the Gateway API CRDs
/// installed midway): every case replayed in order against a fresh fake, its answer compared
/// with the real one's.
@Suite("The fake API server answers as a real kube-apiserver v1.36.2")
struct KubeAPIConformanceTests {
    /// Where the replay changes a recorded case, and why. Nothing else is excused.
    static let corrections: [String: String] = [
        "configmap-create-slash-key":
            "the recorded body was rewritten after recording (it shows the valid keys of the next case) while the answer is for the key `certctl.io/failure-count`; the case is replayed with that key, as its answer and its why say"
    ]

    /// What the fake knowingly does not do as the real server does, beyond the recording.
    static let knownDifferences: [(request: String, why: String)] = [
        ("GET a collection with watch=true", "watches are not served (certctl never watches): 405"),
        ("DELETE a collection", "deletecollection is not served (certctl deletes by name): 405"),
        (
            "PATCH with application/apply-patch+yaml",
            "server-side apply is not implemented (certctl uses merge patches): 415"
        ),
        (
            "a CRD's x-kubernetes-validations",
            "CEL is not evaluated: the Gateway API rules certctl and its tests can meet are written out in Swift with their messages (CustomRules: unique listener names, Terminate for HTTPS, a port on a Service backendRef, absolute Exact and PathPrefix paths); every other rule is not checked. A missing, unsupported or mistyped value adds the real server's \"some validation rules were not checked\" cause"
        ),
        ("DELETE a namespace", "no controllers run: it stays Terminating, as on the recorded server (no controllers)"),
        ("metadata.managedFields", "one Update entry with the fields set, not the server's exact field set"),
        (
            "a continue token",
            "the 32 newest first pages are kept; an older token is 410 Expired, as after a compaction"
        ),
    ]

    @Test("what the fake does not serve is refused in words that say so")
    func unsupported() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let transport = CurlTransport(userAgent: "t")
        func send(_ method: HTTPRequest.Method, _ path: String, type: String? = nil) async throws -> HTTPResponse {
            var headers: HTTPHeaders = ["Authorization": "Bearer test-token"]
            if let type { headers.add("Content-Type", type) }
            return try await transport.send(
                HTTPRequest(
                    method: method, url: server.url + path, headers: headers,
                    body: type == nil ? nil : Array("{}".utf8),
                    tls: server.tls))
        }
        let watch = try await send(.get, "/api/v1/namespaces/prod/secrets?watch=true")
        #expect(watch.status == 405)
        #expect(String(decoding: watch.body, as: UTF8.self).contains("does not serve watch"))
        let collection = try await send(.delete, "/api/v1/namespaces/prod/secrets")
        #expect(collection.status == 405)
        _ = try await send(.post, "/api/v1/namespaces/prod/configmaps", type: "application/json")
        let apply = try await send(.patch, "/api/v1/namespaces/prod/secrets/x", type: "application/apply-patch+yaml")
        #expect(apply.status == 415)
        #expect(String(decoding: apply.body, as: UTF8.self).contains("server-side apply"))
        #expect(Self.knownDifferences.count == 7)
    }

    static var recordingURL: URL {
        CertctlProcess.repository.appendingPathComponent("tests/kube-apiserver/conformance.json")
    }

    static var gatewayRecordingURL: URL {
        CertctlProcess.repository.appendingPathComponent("tests/kube-apiserver/gateway-api.json")
    }

    struct Case {
        var index: Int
        var name: String
        var request: [String: JSONValue]
        var response: [String: JSONValue]
    }

    static func cases(_ url: URL = recordingURL) throws -> [Case] {
        let recording = try JSONValue.parse(Array(try Data(contentsOf: url)))
        return (recording["cases"]?.arrayValue ?? []).enumerated().map { index, value in
            Case(
                index: index, name: value["name"]?.stringValue ?? "?", request: value["request"]?.objectValue ?? [:],
                response: value["response"]?.objectValue ?? [:])
        }
    }

    @Test("the copy in the repository is the recording the project was given")
    func copyIsCurrent() throws {
        let cases = try Self.cases()
        #expect(cases.count == 146)
        let shared = CertctlProcess.repository.deletingLastPathComponent().appendingPathComponent(
            "shared/kube-apiserver/conformance.json")
        if FileManager.default.fileExists(atPath: shared.path) {
            #expect(try Data(contentsOf: shared) == Data(contentsOf: Self.recordingURL))
        }
        #expect(try Self.cases(Self.gatewayRecordingURL).count == 39)
        let sharedGateway = shared.deletingLastPathComponent().appendingPathComponent("gateway-api.json")
        if FileManager.default.fileExists(atPath: sharedGateway.path) {
            #expect(try Data(contentsOf: sharedGateway) == Data(contentsOf: Self.gatewayRecordingURL))
        }
    }

    /// A fake as the recorded server was: the two users, cert-manager's CRDs, no namespace yet.
    static func recordedServer() async throws -> FakeAPIServer {
        try await FakeAPIServer.start(
            users: [
                .admin(token: "admin-token"),
                .serviceAccount("default", "limited", token: "limited-token", rules: []),
            ],
            namespaces: [],
            customResourceDefinitions: FakeAPIServer.certManagerCRDs
        )
    }

    @Test("all 146 cases, in order: status, Status reason, causes, message, warnings and the fields the server sets")
    func replay() async throws {
        let server = try await Self.recordedServer()
        defer { Task { await server.stop() } }
        var replay = Replay()
        let failures = try await replay.run(Self.cases(), on: server)
        #expect(failures.isEmpty, "\(failures.count) cases differ:\n\(failures.joined(separator: "\n"))")
    }

    @Test("the 39 Gateway API cases after them: before the CRDs are installed, and with them")
    func replayGatewayAPI() async throws {
        let server = try await Self.recordedServer()
        defer { Task { await server.stop() } }
        var replay = Replay()
        _ = try await replay.run(Self.cases(), on: server)
        // The recording installed the CRDs between these two cases.
        replay.before["gw-discovery"] = {
            try await server.install(customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        }
        let failures = try await replay.run(Self.cases(Self.gatewayRecordingURL), on: server)
        #expect(failures.isEmpty, "\(failures.count) cases differ:\n\(failures.joined(separator: "\n"))")
    }

    /// Replays cases in order, carrying the placeholders' values from one case to the next.
    struct Replay {
        var versions: [String: (first: String, latest: String)] = [:]
        var continueToken = ""
        /// What happens to the cluster before the case of that name (a CRD installed).
        var before: [String: @Sendable () async throws -> Void] = [:]
        let transport = CurlTransport(userAgent: "certctl-conformance/1")

        /// The cases that differ from the recording, each with what differs.
        mutating func run(_ cases: [Case], on server: FakeAPIServer) async throws -> [String] {
            var failures: [String] = []
            for recorded in cases {
                try await before[recorded.name]?()
                var request = recorded.request
                if KubeAPIConformanceTests.corrections[recorded.name] != nil {
                    request["body"] = request["body"]?.merging(
                        .object([
                            "data": .object([
                                "failure-count": .null, "certctl.io/failure-count": .string("1"),
                                "next-attempt": .string("2026-11-30T13:00:00Z"),
                            ])
                        ]))
                }
                let method = request["method"]?.stringValue ?? "GET"
                let path = request["path"]?.stringValue ?? "/"
                let object = KubeAPIConformanceTests.objectKey(method: method, path: path, body: request["body"])
                var body = request["body"].flatMap { $0.isNull ? nil : $0 }
                if let known = versions[object] {
                    body = body.map {
                        KubeAPIConformanceTests.substitute($0, ["${rv}": known.latest, "${stale_rv}": known.first])
                    }
                }
                var url = server.url + path
                if let query = request["query"]?.stringValue {
                    url += "?" + query.replacingOccurrences(of: "${continue}", with: continueToken)
                }
                var headers: HTTPHeaders = ["Accept": "application/json"]
                switch request["token"]?.stringValue {
                case "admin": headers.add("Authorization", "Bearer admin-token")
                case "limited": headers.add("Authorization", "Bearer limited-token")
                case "bad": headers.add("Authorization", "Bearer not-a-token")
                default: break
                }
                if let type = request["contentType"]?.stringValue { headers.add("Content-Type", type) }
                let bytes: [UInt8]? = body.map { value in
                    if case .string(let raw) = value { Array(raw.utf8) } else { value.serialized() }
                }
                let answer = try await transport.send(
                    HTTPRequest(
                        method: HTTPRequest.Method(rawValue: method) ?? .get, url: url, headers: headers, body: bytes,
                        tls: server.tls))

                let expected = recorded.response
                var differences: [String] = []
                let status = expected["status"]?.integerValue.map(Int.init) ?? 0
                if answer.status != status { differences.append("status \(answer.status), recorded \(status)") }
                let contentType = answer.headers["Content-Type"] ?? ""
                if contentType != expected["contentType"]?.stringValue {
                    differences.append("Content-Type \(contentType), recorded \(expected["contentType"]?.text ?? "")")
                }
                let warnings = answer.headers.values("Warning").map(KubeAPIConformanceTests.warningText)
                let expectedWarnings = (expected["warnings"]?.arrayValue ?? []).compactMap(\.stringValue)
                if warnings != expectedWarnings {
                    differences.append("warnings \(warnings), recorded \(expectedWarnings)")
                }
                let actualBody: JSONValue =
                    (try? JSONValue.parse(answer.body)) ?? .string(String(decoding: answer.body, as: UTF8.self))
                differences += KubeAPIConformanceTests.compare(expected["body"] ?? .null, actualBody, at: "body")
                if !differences.isEmpty {
                    failures.append("case \(recorded.index) \(recorded.name): " + differences.joined(separator: "; "))
                }

                // What later cases' placeholders stand for.
                if (200..<300).contains(answer.status),
                    let version = actualBody["metadata"]?["resourceVersion"]?.stringValue
                {
                    versions[object] = (versions[object]?.first ?? version, version)
                }
                if let token = actualBody["metadata"]?["continue"]?.stringValue, !token.isEmpty {
                    continueToken = token
                }
            }
            return failures
        }
    }

    /// The object a request is about: its collection and name (a create's name is in its body).
    static func objectKey(method: String, path: String, body: JSONValue?) -> String {
        let base = path.hasSuffix("/status") ? String(path.dropLast("/status".count)) : path
        if method == "POST", let name = body?["metadata"]?["name"]?.stringValue { return "\(base)/\(name)" }
        return base
    }

    static func substitute(_ value: JSONValue, _ values: [String: String]) -> JSONValue {
        switch value {
        case .string(let text): .string(values[text] ?? text)
        case .array(let elements): .array(elements.map { substitute($0, values) })
        case .object(let members): .object(members.mapValues { substitute($0, values) })
        default: value
        }
    }

    static func warningText(_ header: String) -> String {
        let parts = header.split(separator: " ", maxSplits: 2)
        guard parts.count == 3 else { return header }
        return String(parts[2].dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
    }

    /// Differences between a recorded value (with its placeholders) and the fake's, by path.
    static func compare(_ expected: JSONValue, _ actual: JSONValue, at path: String) -> [String] {
        if case .string(let text) = expected, let matches = placeholder(text) {
            return matches(actual) ? [] : ["\(path): \(actual.text) is not a \(text)"]
        }
        switch (expected, actual) {
        case (.object(let want), .object(let have)):
            var differences: [String] = []
            for key in Set(want.keys).union(have.keys).sorted() {
                switch (want[key], have[key]) {
                case (let wanted?, let had?): differences += compare(wanted, had, at: "\(path).\(key)")
                case (_?, nil): differences.append("\(path).\(key) missing")
                case (nil, let had?): differences.append("\(path).\(key) = \(had.text) not in the recording")
                default: break
                }
            }
            return differences
        case (.array(let want), .array(let have)):
            guard want.count == have.count else {
                return ["\(path): \(have.count) elements, recorded \(want.count): \(actual.text)"]
            }
            return zip(want, have).enumerated().flatMap { compare($1.0, $1.1, at: "\(path)[\($0)]") }
        case (.number(let want), .number(let have)):
            return Double(want) == Double(have) ? [] : ["\(path): \(have), recorded \(want)"]
        case (.string(let want), .string(let have)) where path.hasSuffix(".message"):
            // resourceVersions in a message differ from run to run: "(219)" stands for any number.
            let normalize = { (text: String) in
                text.replacingOccurrences(of: #"\(\d+\)"#, with: "(N)", options: .regularExpression)
            }
            return normalize(want) == normalize(have) ? [] : ["\(path): \(actual.text), recorded \(expected.text)"]
        default:
            return expected == actual ? [] : ["\(path): \(actual.text), recorded \(expected.text)"]
        }
    }

    /// What a recording's `<placeholder>` accepts.
    static func placeholder(_ text: String) -> ((JSONValue) -> Bool)? {
        func string(_ pattern: String) -> (JSONValue) -> Bool {
            { value in value.stringValue?.range(of: "^" + pattern + "$", options: .regularExpression) != nil }
        }
        switch text {
        case "<uid>": return string("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
        case "<resourceVersion>": return string("[0-9]+")
        case "<creationTimestamp>", "<time>": return string(#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"#)
        case "<clusterIP>": return string(#"\d+\.\d+\.\d+\.\d+"#)
        case "<continue>": return string(".+")
        case "<generation>": return { $0.integerValue != nil }
        case "<managedFields>": return { !($0.arrayValue ?? []).isEmpty }
        default:
            guard text.hasPrefix("<time."), let digits = Int(text.dropFirst(6).dropLast()) else { return nil }
            return string(#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{\#(digits)}Z"#)
        }
    }
}
