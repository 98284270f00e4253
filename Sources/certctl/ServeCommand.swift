import ArgumentParser
import CertctlCore
import Foundation
import Logging
import Synchronization
import Transport

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "A small exporter: /metrics and a status page computed from the Secrets, /healthz."
    )

    @OptionGroup var cluster: ClusterOptions

    @Option(help: ArgumentHelp("Where to listen.", valueName: "host:port"))
    var listen = "0.0.0.0:9102"

    @Option(
        name: .customLong("cache-seconds"), parsing: .unconditional,
        help: "How long one reading of the Secrets serves scrapes.")
    var cacheSeconds = 30.0

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard cacheSeconds >= 0, cacheSeconds <= 3600 else {
            throw ValidationError("--cache-seconds must be 0 to 3600 (the default is 30)")
        }
    }

    func run() async throws {
        let logger = logging.makeLogger()
        do {
            try cluster.requireSingleCluster()
            let opened = try await cluster.open(logger: logger)
            let (context, issuers, defaultIssuer) = (opened.context, opened.issuers, opened.defaultIssuer)
            let history: any RunHistory =
                if let client = context.client, let namespace = context.namespace {
                    ConfigMapRunHistory(client: client, namespace: namespace)
                } else {
                    FileRunHistory(stateDirectory: cluster.state)
                }
            // Said once each: the exporter reads every 30 s.
            let said = Mutex<Set<String>>([])
            let exporter = Exporter(
                cacheFor: cacheSeconds,
                logger: logger,
                lastSuccess: { await history.lastSuccess() },
                load: {
                    let inventory = try await Inventory.load(
                        from: context.store,
                        scope: context.scope,
                        issuers: issuers,
                        defaultIssuer: defaultIssuer
                    )
                    let (ledgers, notes) = await RateLedgers.read(
                        issuers: issuers, from: cluster.accountPlace(context).ledgers, now: Date())
                    for note in notes where said.withLock({ $0.insert(note).inserted }) {
                        logger.warning("\(note) (said once)")
                    }
                    return Overview(
                        [inventory], issuers: issuers, ledgers: [inventory.cluster: ledgers], now: Date())
                }
            )
            let address = try ListenAddress(parsing: listen)
            exporter.startReading()
            let server = try await exporter.start(address)
            logger.notice("serving", metadata: ["address": "\(server.host):\(server.port)"])
            print("certctl serve: http://\(server.host):\(server.port)/ (metrics at /metrics)")
            try await withSIGTERMCancellation(logger: logger) {
                while true { try await Task.sleep(for: .seconds(3600)) }
            }
        } catch is CancellationError {
            return
        } catch {
            throw CertctlExit.report(error)
        }
    }
}
