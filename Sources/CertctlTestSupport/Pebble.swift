public import ACME
import Certificates
public import Foundation
public import Logging
public import Transport

/// A real Pebble (Debian's `pebble`) and `pebble-challtestsrv` as DNS, on free loopback ports,
/// with the repository's test-only TLS certificate (`scripts/pebble`). Every name resolves to
/// 127.0.0.1, so HTTP-01 reaches the responder on `httpPort`.
public final class Pebble: Sendable {
    public struct Options: Sendable {
        /// Percentage of good nonces rejected as bad (Pebble's default is 5).
        public var nonceRejectPercent = 5
        public var alternateRoots = 0
        public var authorizationReusePercent = 50
        /// EAB key IDs to base64url MAC keys; non-empty makes EAB required.
        public var externalAccountMACKeys: [String: String] = [:]
        public var strict = true
        /// The DNS server Pebble resolves names and looks up DNS-01 TXT records at (`-dnsserver`,
        /// a test's BIND); nil starts pebble-challtestsrv, which answers 127.0.0.1 for every name.
        public var dnsServer: String?

        public init() {}
    }

    public let directoryURL: String
    public let managementURL: String
    /// Where Pebble connects for HTTP-01 (the responder under test listens here).
    public let httpPort: Int
    public let tls: TLSOptions
    private let processes: [Process]
    private let workDirectory: URL

    /// The repository's `scripts/pebble` (found from this file's path).
    public static var assets: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/pebble")
    }

    public static var caBundle: [UInt8] {
        (try? Array(Data(contentsOf: assets.appendingPathComponent("ca.pem")))) ?? []
    }

    /// Starts both processes and waits until the directory answers.
    public static func start(httpPort: Int, options: Options = Options()) async throws -> Pebble {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("certctl-pebble-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let listenPort = freeLoopbackPort()
        let managementPort = freeLoopbackPort()
        let dnsPort = freeLoopbackPort(udp: true)
        let dnsManagementPort = freeLoopbackPort()

        var pebbleConfig: [String: Any] = [
            "listenAddress": "127.0.0.1:\(listenPort)",
            "managementListenAddress": "127.0.0.1:\(managementPort)",
            "certificate": assets.appendingPathComponent("cert.pem").path,
            "privateKey": assets.appendingPathComponent("key.pem").path,
            "httpPort": httpPort,
            "tlsPort": freeLoopbackPort(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": !options.externalAccountMACKeys.isEmpty,
        ]
        if !options.externalAccountMACKeys.isEmpty {
            pebbleConfig["externalAccountMACKeys"] = options.externalAccountMACKeys
        }
        let configURL = work.appendingPathComponent("pebble.json")
        try JSONSerialization.data(withJSONObject: ["pebble": pebbleConfig]).write(to: configURL)

        var processes: [Process] = []
        if options.dnsServer == nil {
            let dns = try launch(
                "/usr/bin/pebble-challtestsrv",
                [
                    "-dns01", "127.0.0.1:\(dnsPort)", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                    "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", "127.0.0.1:\(dnsManagementPort)",
                ],
                environment: [:],
                log: work.appendingPathComponent("challtestsrv.log")
            )
            processes.append(dns)
        }
        var arguments = ["-config", configURL.path, "-dnsserver", options.dnsServer ?? "127.0.0.1:\(dnsPort)"]
        if options.strict { arguments.append("-strict") }
        let pebble = try launch(
            "/usr/bin/pebble",
            arguments,
            environment: [
                "PEBBLE_VA_NOSLEEP": "1",
                "PEBBLE_WFE_NONCEREJECT": "\(options.nonceRejectPercent)",
                "PEBBLE_ALTERNATE_ROOTS": "\(options.alternateRoots)",
                "PEBBLE_AUTHZREUSE": "\(options.authorizationReusePercent)",
            ],
            log: work.appendingPathComponent("pebble.log")
        )
        let server = Pebble(
            directoryURL: "https://localhost:\(listenPort)/dir",
            managementURL: "https://localhost:\(managementPort)",
            httpPort: httpPort,
            processes: [pebble] + processes,
            workDirectory: work
        )
        try await server.waitUntilReady()
        return server
    }

    private init(directoryURL: String, managementURL: String, httpPort: Int, processes: [Process], workDirectory: URL) {
        self.directoryURL = directoryURL
        self.managementURL = managementURL
        self.httpPort = httpPort
        self.processes = processes
        self.workDirectory = workDirectory
        self.tls = TLSOptions(caBundle: Pebble.caBundle)
    }

    deinit {
        for process in processes where process.isRunning {
            process.terminate()
        }
    }

    public func stop() {
        for process in processes where process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: workDirectory)
    }

    /// Pebble's log so far, for a failing test's message.
    public var log: String {
        (try? String(contentsOf: workDirectory.appendingPathComponent("pebble.log"), encoding: .utf8)) ?? ""
    }

    private func waitUntilReady() async throws {
        let transport = CurlTransport(userAgent: "certctl-tests")
        for _ in 0..<200 {
            if let response = try? await transport.send(HTTPRequest(url: directoryURL, timeout: .seconds(2), tls: tls)),
                response.status == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw PebbleError(reason: "Pebble did not answer on \(directoryURL): \(log)")
    }

    /// The PEM of root `index` (0 is the default chain's root), from the management interface.
    public func root(_ index: Int) async throws -> String {
        try await management("/roots/\(index)")
    }

    public func intermediate(_ index: Int) async throws -> String {
        try await management("/intermediates/\(index)")
    }

    /// What Pebble's management interface says of the certificate with `serial` (hex):
    /// `Valid`, or `Revoked` with RFC 5280's reason code; nil when it knows none.
    public func certificateStatus(serial: String) async throws -> (status: String, reason: Int?)? {
        let response = try await CurlTransport(userAgent: "certctl-tests").send(
            HTTPRequest(url: managementURL + "/cert-status-by-serial/" + serial, tls: tls))
        guard response.status == 200,
            let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let status = object["Status"] as? String
        else { return nil }
        return (status, object["Reason"] as? Int)
    }

    private func management(_ path: String) async throws -> String {
        let response = try await CurlTransport(userAgent: "certctl-tests").send(
            HTTPRequest(url: managementURL + path, tls: tls))
        guard response.status == 200 else {
            throw PebbleError(reason: "Pebble management \(path) answered \(response.status)")
        }
        return String(decoding: response.body, as: UTF8.self)
    }

    /// A client for this Pebble, with `key` (a new ES256 key by default).
    public func client(
        key: AccountKey? = nil, logger: Logger = Logger(label: "test"),
        observer: (@Sendable (ACMERequestRecord) -> Void)? = nil, noncePatience: Duration = .seconds(2)
    ) throws -> ACMEClient {
        var configuration = ACMEClient.Configuration(directoryURL: directoryURL, tls: tls, orderDeadline: .seconds(60))
        configuration.noncePatience = noncePatience
        return ACMEClient(
            configuration: configuration,
            accountKey: try key ?? AccountKey(generating: .ecdsaP256),
            transport: CurlTransport(userAgent: "certctl-tests"),
            logger: logger,
            observer: observer
        )
    }

    static func launch(_ executable: String, _ arguments: [String], environment: [String: String], log: URL)
        throws -> Process
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }
}

public struct PebbleError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
