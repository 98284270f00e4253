import ArgumentParser
import CertctlCore
import Foundation
import Transport

struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Send a test message to every channel of a notification config."
    )

    @Option(name: .customLong("notify-config"), help: ArgumentHelp("The notification config.", valueName: "path"))
    var notifyConfig: String

    @Flag(help: "Send one test message to each channel.")
    var test = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard test else { throw ValidationError("certctl notify only sends tests for now: pass --test") }
    }

    func run() async throws {
        let logger = logging.makeLogger()
        let failed: [String]
        let config: NotificationConfig
        do {
            config = try NotificationConfig.load(file: notifyConfig)
            let notice = Notice(
                kind: .test, secret: "certctl-test", namespace: "-", hosts: ["example.org"], state: "a test",
                notAfter: nil, detail: "If you read this, certctl can reach this channel."
            )
            let notifier = Notifier(
                config: config, transport: CurlTransport(userAgent: CertctlVersion.userAgent), cluster: "test",
                logger: logger)
            failed = await notifier.send([notice])
        } catch {
            throw CertctlExit.report(error)
        }
        for (name, _) in config.channels {
            print("\(failed.contains(name) ? "failed" : "sent  ")  \(name)")
        }
        if !failed.isEmpty { throw CertctlExit.renewalFailed }
    }
}
