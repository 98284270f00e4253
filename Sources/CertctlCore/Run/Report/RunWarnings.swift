public import Logging
import Synchronization

/// What went wrong beside the certificates themselves and must not pass unseen: an Event the
/// API server refused, a record that could not be stored, a list that had to restart, what the
/// server warned about. Each is logged at warning level the first time it happens in a run and
/// listed in the run's summary; repeats of the same kind add nothing.
public final class RunWarnings: Sendable {
    private let seen = Mutex<(keys: Set<String>, messages: [String])>(([], []))
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Records `message` unless one of the same `kind` was recorded in this run.
    public func add(_ kind: String, _ message: String, metadata: Logger.Metadata = [:]) {
        let isNew = seen.withLock { state in
            guard state.keys.insert(kind).inserted else { return false }
            state.messages.append(message)
            return true
        }
        if isNew { logger.warning("\(message)", metadata: metadata) }
    }

    /// Every warning of the run, in the order they first happened.
    public var messages: [String] { seen.withLock { $0.messages } }
}
