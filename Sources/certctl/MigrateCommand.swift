import ArgumentParser
import CertctlCore
import Foundation
import Kubernetes
import Logging

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Read only: what certctl will do with a cluster that runs cert-manager today.",
        discussion: """
            Every cert-manager Certificate and every managed Ingress: adopt (the Secret is kept, no \
            new order), issue, renew at the first run, or what needs a decision and what certctl \
            cannot carry (keystores, other output formats, Certificates without an Ingress, \
            non-ACME issuers), then the steps. Exit code 0 when everything carries over, 1 when \
            something needs a decision.
            """
    )

    @OptionGroup var cluster: ClusterOptions

    @Option(
        name: [.customShort("o"), .customLong("output")], help: "table or json", completion: .list(["table", "json"]))
    var output = "table"

    @Option(
        name: .customLong("key-type"),
        help: ArgumentHelp("The key type the runs make (as run's --key-type).", valueName: "type"))
    var keyType = "ecdsa-p256"

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard ["table", "json"].contains(output) else { throw ValidationError("-o \(output): use table or json") }
    }

    static let localMode = CertctlError(
        .invalidArgument, object: "--manifests",
        "migrate reads a cluster's cert-manager objects; give a kubeconfig or run in a pod")

    func run() async throws {
        let logger = logging.makeLogger()
        let report: Migration
        do {
            try cluster.requireSingleCluster()
            // Refused in local mode before anything else is read (the issuers included).
            let opened = try await cluster.open(logger: logger) { if $0.client == nil { throw Self.localMode } }
            let context = opened.context
            guard let client = context.client else { throw Self.localMode }
            let (issuers, inventory) = (opened.issuers, try await opened.inventory())
            var certificates: [CertificateObject] = []
            do {
                switch context.scope {
                case .all: certificates = try await client.list(CertificateObject.self, namespace: nil)
                case .only(let namespaces):
                    for namespace in namespaces {
                        certificates += try await client.list(CertificateObject.self, namespace: namespace)
                    }
                }
            } catch let error as KubernetesError where error.isNotFound {
                logger.notice("the cluster has no cert-manager CRDs: only the Ingresses are reported")
            }
            report = Migration.make(
                cluster: inventory.cluster, certificates: certificates, inventory: inventory, keyType: keyType,
                now: Date(), profiles: issuers.compactMapValues(\.profile))
            print(output == "json" ? try report.json() : report.text, terminator: "")
        } catch {
            throw CertctlExit.report(error)
        }
        if report.needsDecision { throw CertctlExit.renewalFailed }
    }
}
