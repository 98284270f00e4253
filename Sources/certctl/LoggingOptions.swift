import ArgumentParser
import Basics
import CertctlCore
import Foundation
import Logging
import Transport

/// Flags every command shares for its log.
struct LoggingOptions: ParsableArguments {
    @Option(
        help: "Log level: trace, debug, info, notice, warning, error, critical.",
        completion: .list(Logger.Level.allCases.map(\.rawValue)))
    var logLevel = "warning"

    @Option(
        help: "Log format: text (for a terminal) or json (one object per line, for a cluster).",
        completion: .list(["text", "json"]))
    var logFormat = "text"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level \(logLevel) is not one of trace, debug, info, notice, warning, error, critical")
        }
        guard ["text", "json"].contains(logFormat) else {
            throw ValidationError("--log-format \(logFormat) is not text or json")
        }
    }

    func makeLogger() -> Logger {
        let json = logFormat == "json"
        var logger = Logger(label: "certctl") { label in
            json ? JSONLogHandler(label: label) as any LogHandler : StreamLogHandler.standardError(label: label)
        }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        return logger
    }
}

/// One JSON object per line on standard error: time, level, message, then the metadata.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = "\(value)"
        }
        object["time"] = Timestamp.rfc3339(Date(), fractionDigits: 3)
        object["level"] = event.level.rawValue
        object["message"] = "\(event.message)"
        object["logger"] = label
        guard let line = try? JSONText.encode(object) else { return }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
