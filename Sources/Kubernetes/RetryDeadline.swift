import Synchronization

/// The instant past which no request is retried: the end of the run's lock term, moved on each
/// time the lock is renewed (a run that still holds its Lease after 900 s still retries a 429).
/// Shared by every copy of a client.
public final class RetryDeadline: Sendable {
    private let current: Mutex<ContinuousClock.Instant>

    public init(_ instant: ContinuousClock.Instant) {
        current = Mutex(instant)
    }

    public var instant: ContinuousClock.Instant { current.withLock { $0 } }

    /// Moves the deadline to `instant` when that is later.
    public func extend(to instant: ContinuousClock.Instant) {
        current.withLock { $0 = max($0, instant) }
    }
}
