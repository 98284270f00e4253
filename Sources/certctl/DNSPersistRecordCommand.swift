import ArgumentParser
import CertctlCore
import Foundation
import Transport

struct DNSPersistRecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns-persist-record",
        abstract: "Print the dns-persist-01 TXT records that let an issuer's account validate names.",
        discussion: """
            Publish each line once in the zone (it stays: dns-persist-01 needs no DNS credentials \
            afterwards). The account is the issuer's own (created if needed, in the cluster or the \
            state directory, as certctl run keeps it). Without --issuer-domain-name an order for \
            the names is placed to read the CA's issuer domain name from its challenges; it is left \
            pending and expires unused.
            """
    )

    @OptionGroup var cluster: ClusterOptions

    @Option(help: ArgumentHelp("The issuer whose account the records name.", valueName: "name"))
    var issuer: String

    @Option(
        name: [.customShort("d"), .customLong("domain")],
        help: ArgumentHelp(
            "A name; repeat for more (default: every name of the managed Ingresses that this issuer's dnsPersist01 solver serves).",
            valueName: "name"))
    var domains: [String] = []

    @Option(
        name: .customLong("issuer-domain-name"),
        help: ArgumentHelp("The CA's issuer domain name, when known (no order is placed).", valueName: "name"))
    var issuerDomainName: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger()
        do {
            try cluster.requireSingleCluster()
            let (issuers, defaultIssuer) = try cluster.loadIssuers()
            guard let chosen = issuers[issuer] else {
                throw CertctlError(
                    .unknownIssuer, object: "--issuer \(issuer)",
                    "no such issuer in \(cluster.issuers) (known: \(issuers.keys.sorted().joined(separator: ", ")))")
            }
            let context = try cluster.makeContext(logger: logger)
            var names = try domains.map {
                try Hostname.validate($0.lowercased(), allowWildcard: true, object: "-d \($0)")
            }
            if names.isEmpty {
                let inventory = try await Inventory.load(
                    from: context.store, scope: context.scope, issuers: issuers, defaultIssuer: defaultIssuer)
                for entry in inventory.entries where entry.desired.issuer == issuer {
                    for host in entry.desired.hosts where !names.contains(host) {
                        if case .dnsPersist01 = chosen.solver(for: host, labels: entry.desired.labels)?.method {
                            names.append(host)
                        }
                    }
                }
                guard !names.isEmpty else {
                    throw CertctlError(
                        .invalidArgument, object: "--issuer \(issuer)",
                        "no managed Ingress asks for a name its dnsPersist01 solver serves; give the names with -d NAME"
                    )
                }
            }
            let transport = CurlTransport(userAgent: CertctlVersion.userAgent)
            var place = AccountPlace.local(state: cluster.state)
            if let client = context.client, let namespace = context.namespace {
                place = AccountPlace.cluster(client: client, namespace: namespace)
            }
            let client = try await AccountSession.open(
                issuer: chosen, store: place.accounts, secrets: place.secrets, transport: transport, logger: logger)
            for line in try await DNSPersistRecords.lines(
                for: names, client: client, issuerDomainName: issuerDomainName)
            {
                print(line)
            }
        } catch {
            throw CertctlExit.report(error)
        }
    }
}
