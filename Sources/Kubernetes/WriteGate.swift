import Synchronization

/// Whether a client's writes may go out: shared by every copy of the client, and watched by the
/// run's lock (README, "One run at a time"). While the lock is held it lets writes through;
/// from the moment the lock is lost every create, update, patch and delete is refused before
/// it is sent, so no write of a run that another may have replaced reaches the cluster. The
/// Lease's own writes go through a client without a gate (``LeaseRunLock``).
public final class WriteGate: Sendable {
    private let lost = Mutex<(@Sendable () -> String?)?>(nil)

    public init() {}

    /// From now on a write is refused whenever `lost` gives a reason (the lock's keeper asks).
    public func guardWrites(by lost: @escaping @Sendable () -> String?) {
        self.lost.withLock { $0 = lost }
    }

    /// Writes go out unasked again: the lock was released, with nothing left to write.
    public func lift() {
        lost.withLock { $0 = nil }
    }

    /// Why a write must not be sent now; nil when it may.
    public func refusal() -> String? {
        lost.withLock { $0 }?()
    }
}
