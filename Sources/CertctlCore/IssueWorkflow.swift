public import ACME
public import Certificates
import Foundation
public import Logging
public import Transport

/// `certctl issue`: one certificate for the given names, written as `tls.crt` and `tls.key`.
public enum IssueWorkflow {
    public struct Request: Sendable {
        public var issuersDirectory: String
        public var issuerName: String
        public var names: [String]
        public var stateDirectory: String
        public var outputDirectory: String
        public var http01Listen: ListenAddress
        public var keyType: KeyType

        public init(
            issuersDirectory: String,
            issuerName: String,
            names: [String],
            stateDirectory: String,
            outputDirectory: String,
            http01Listen: ListenAddress,
            keyType: KeyType
        ) {
            self.issuersDirectory = issuersDirectory
            self.issuerName = issuerName
            self.names = names
            self.stateDirectory = stateDirectory
            self.outputDirectory = outputDirectory
            self.http01Listen = http01Listen
            self.keyType = keyType
        }
    }

    public struct Outcome: Sendable {
        public var issuer: String
        public var names: [String]
        public var summary: CertificateSummary
        public var chainLength: Int
        public var certificatePath: String
        public var keyPath: String
        public var orderURL: String
        public var accountURL: String?
    }

    /// Validates everything it can before the first request, then issues and stores.
    public static func run(
        _ request: Request,
        transport: any HTTPTransport,
        logger: Logger,
        observer: (@Sendable (ACMERequestRecord) -> Void)? = nil
    ) async throws -> Outcome {
        let issuers = try IssuerLoader.load(directory: request.issuersDirectory)
        guard let issuer = issuers[.cluster(request.issuerName)] else {
            let known = issuers.keys.map(\.description).sorted().joined(separator: ", ")
            throw CertctlError(
                .unknownIssuer,
                object: request.issuerName,
                "no such issuer in \(request.issuersDirectory) (known: \(known.isEmpty ? "none" : known))"
            )
        }
        guard !request.names.isEmpty else {
            throw CertctlError(.invalidArgument, "give at least one name with -d NAME")
        }
        let names = try request.names.map { try Hostname.validate($0, object: "-d \($0)") }

        let http01 = HTTP01Setup(listen: request.http01Listen, route: .direct, transport: transport, logger: logger)
        return try await HTTP01Session.with(http01) { session in
            try await issue(
                request, issuer: issuer, names: names, http01: session, transport: transport, logger: logger,
                observer: observer)
        }
    }

    private static func issue(
        _ request: Request,
        issuer: Issuer,
        names: [String],
        http01: HTTP01Session,
        transport: any HTTPTransport,
        logger: Logger,
        observer: (@Sendable (ACMERequestRecord) -> Void)?
    ) async throws -> Outcome {
        let secrets = LocalSecretValues(directories: [
            (request.stateDirectory as NSString).appendingPathComponent("secrets")
        ])
        let client = try await AccountSession.open(
            issuer: issuer,
            store: LocalAccountStore(stateDirectory: request.stateDirectory),
            secrets: secrets,
            transport: transport,
            logger: logger,
            observer: observer
        )
        let key = try PrivateKey(generating: request.keyType)
        let order = CertificateOrder(
            names: names, key: key, profile: issuer.profile, preferredChain: issuer.preferredChain)
        let issued = try await client.issue(order, solver: http01.solver(for: nil, settings: nil))
        try IssuedCheck.verify(issued, key: key, names: names, now: Date())

        let certificatePath = (request.outputDirectory as NSString).appendingPathComponent("tls.crt")
        let keyPath = (request.outputDirectory as NSString).appendingPathComponent("tls.key")
        try AtomicFile.write(try key.pemRepresentation(), to: keyPath, mode: 0o600)
        try AtomicFile.write(try issued.chain.pemRepresentation(), to: certificatePath, mode: 0o644)
        return Outcome(
            issuer: issuer.name,
            names: names,
            summary: CertificateSummary(issued.chain.leaf),
            chainLength: issued.chain.certificates.count,
            certificatePath: certificatePath,
            keyPath: keyPath,
            orderURL: issued.orderURL,
            accountURL: await client.accountURL
        )
    }
}
