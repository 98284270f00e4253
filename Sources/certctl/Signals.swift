import Dispatch
import Foundation
import Logging

/// Runs `body`, cancelling it on SIGTERM or SIGINT, so that what the run created (HTTP-01
/// objects, the lock) is cleaned up by the cancellation paths before the process exits.
func withSIGTERMCancellation<T: Sendable>(logger: Logger, _ body: @escaping @Sendable () async throws -> T) async throws
    -> T
{
    let task = Task { try await body() }
    var sources: [any DispatchSourceSignal] = []
    for signalNumber in [SIGTERM, SIGINT] {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        source.setEventHandler {
            logger.notice("signal received; cleaning up and stopping", metadata: ["signal": "\(signalNumber)"])
            task.cancel()
        }
        source.resume()
        sources.append(source)
    }
    defer {
        for source in sources { source.cancel() }
    }
    return try await task.value
}
