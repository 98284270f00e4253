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
            let chosen = try cluster.issuer(issuer, in: issuers)
            var names = try domains.map {
                try Hostname.validate($0.lowercased(), allowWildcard: true, object: "-d \($0)")
            }
            // With -d and --state alone the names are all there is to know: the local account.
            let context =
                names.isEmpty || !cluster.stateWithoutManifests
                ? try await cluster.ownNamespace(cluster.makeContext(logger: logger), .refuse, logger: logger) : nil
            if let context {
                let inventory = try await Inventory.load(
                    from: context.store, scope: context.scope, issuers: issuers, defaultIssuer: defaultIssuer)
                names = try Self.names(names, issuer: issuer, solver: chosen, in: inventory)
            }
            let transport = CurlTransport(userAgent: CertctlVersion.userAgent)
            let place = context.map(cluster.accountPlace) ?? .local(state: cluster.state)
            let client = try await AccountSession.open(
                issuer: chosen, store: place.accounts, secrets: place.secrets, transport: transport, logger: logger,
                saving: false)
            for line in try await DNSPersistRecords.lines(
                for: names, client: client, issuerDomainName: issuerDomainName)
            {
                print(line)
            }
        } catch {
            throw CertctlExit.report(error)
        }
    }

    /// The names to print: those given, or without any the names of the managed certificates
    /// that the issuer's dnsPersist01 solver serves. A name given whose certificate also has its
    /// wildcard gets the wildcard's record (`policy=wildcard`): the base name's alone would fail
    /// the wildcard.
    static func names(_ given: [String], issuer: String, solver chosen: Issuer, in inventory: Inventory) throws
        -> [String]
    {
        let entries = inventory.entries.filter { $0.desired.issuer == issuer }
        guard given.isEmpty else {
            let hosts = Set(entries.flatMap(\.desired.hosts))
            return given.flatMap { name in
                !name.hasPrefix("*.") && hosts.contains("*." + name) && !given.contains("*." + name)
                    ? ["*." + name, name] : [name]
            }
        }
        var names: [String] = []
        for entry in entries {
            for host in entry.desired.hosts where !names.contains(host) {
                if case .dnsPersist01 = chosen.solver(for: host, labels: entry.desired.labels)?.method {
                    names.append(host)
                }
            }
        }
        guard !names.isEmpty else {
            throw CertctlError(
                .invalidArgument, object: "--issuer \(issuer)",
                "no managed Ingress asks for a name its dnsPersist01 solver serves; give the names with -d NAME")
        }
        return names
    }
}
