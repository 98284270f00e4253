import ArgumentParser
import CertctlCore
import Certificates
import Foundation
import Transport

struct IssueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Obtain one certificate for the given names and write tls.crt and tls.key.",
        discussion: """
            The issuer is read from DIR/NAME.yaml (cert-manager ClusterIssuer schema). The account key \
            is created once under the state directory (mode 0600) and reused. HTTP-01 is answered by \
            this process on --http01-listen, which the CA must reach.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Directory of issuer YAML files.", valueName: "dir"))
    var issuers = "issuers"

    @Option(name: .long, help: ArgumentHelp("The issuer to use (its metadata.name).", valueName: "name"))
    var issuer: String

    @Option(
        name: [.customShort("d"), .customLong("domain")],
        help: ArgumentHelp("A name for the certificate; repeat for more.", valueName: "name"))
    var domains: [String] = []

    @Option(name: .long, help: ArgumentHelp("State directory: ACME accounts live here.", valueName: "dir"))
    var state = ".certctl"

    @Option(name: .long, help: ArgumentHelp("Where to write tls.crt and tls.key.", valueName: "dir"))
    var out: String

    @Option(
        name: .customLong("http01-listen"),
        help: ArgumentHelp("Where the HTTP-01 responder listens.", valueName: "host:port"))
    var http01Listen = "0.0.0.0:8089"

    @Option(
        name: .customLong("key-type"), help: ArgumentHelp("Certificate key: \(KeyType.names).", valueName: "type"),
        completion: .list(KeyType.allCases.map(\.rawValue)))
    var keyType = "ecdsa-p256"

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger()
        do {
            guard let keyType = KeyType(name: keyType) else {
                throw CertctlError(
                    .invalidArgument, object: "--key-type \(self.keyType)",
                    "unknown key type; use one of \(KeyType.names)")
            }
            let started = ContinuousClock.now
            let counter = RequestCounter()
            let outcome = try await IssueWorkflow.run(
                .init(
                    issuersDirectory: issuers,
                    issuerName: issuer,
                    names: domains,
                    stateDirectory: state,
                    outputDirectory: out,
                    http01Listen: try ListenAddress(parsing: http01Listen),
                    keyType: keyType
                ),
                transport: CurlTransport(userAgent: CertctlVersion.userAgent),
                logger: logger,
                observer: { _ in counter.increment() }
            )
            let elapsed = ContinuousClock.now - started
            print(IssueReport.render(outcome, requests: counter.value, elapsed: elapsed))
        } catch {
            throw CertctlExit.report(error)
        }
    }
}
