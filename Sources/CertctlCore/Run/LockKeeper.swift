import Basics
public import Foundation
public import Kubernetes
public import Logging
import Synchronization

/// The run's hold on its lock, known to be held or not: renews it in the background and
/// remembers when the renewal last succeeded. The lock is lost when another holder took it
/// (a renewal says so) or when it was not renewed for its whole term (its `expiry`): from then
/// on another run may hold it, so this one starts no new order and no finalize. What the CA
/// already issued is kept as an order beside the account, for the next run to store; no write
/// reaches the cluster after the loss (``WriteGate``).
public final class LockKeeper: Sendable {
    private struct State {
        var renewed: Date
        var lost: String?
    }

    private let lock: any RunLock
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let state: Mutex<State>
    private let task = Mutex<Task<Void, Never>?>(nil)

    private let renewed: @Sendable () -> Void

    /// Starts keeping `lock`, which the run has just acquired; `renewed` is told of each renewal.
    init(
        _ lock: any RunLock, logger: Logger, now: @escaping @Sendable () -> Date,
        renewed: @escaping @Sendable () -> Void = {}
    ) {
        self.lock = lock
        self.now = now
        self.logger = logger
        self.renewed = renewed
        state = Mutex(State(renewed: now()))
        guard let interval = lock.renewalInterval else { return }
        let keeping = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                guard let self else { return }
                let outcome = await lock.renew()
                self.note(outcome)
                if self.lostReason() != nil { return }
            }
        }
        task.withLock { $0 = keeping }
    }

    /// Why the run no longer holds its lock; nil while it does.
    public func lostReason() -> String? {
        let (renewed, lost) = state.withLock { ($0.renewed, $0.lost) }
        if let lost { return lost }
        guard let expiry = lock.expiry else { return nil }
        let seconds = Double(expiry.components.seconds)
        let unrenewed = now().timeIntervalSince(renewed)
        guard unrenewed >= seconds else { return nil }
        return "its Lease was not renewed for \(Bounded.int(unrenewed)) s, past its \(Bounded.int(seconds)) s term"
    }

    /// Throws when the lock is lost: called before each new order and each finalize.
    public func requireHeld(before action: String) throws {
        guard let reason = lostReason() else { return }
        throw CertctlError(
            .lockLost, "no \(action): this run lost its lock (\(reason)); the next run does the rest")
    }

    private func note(_ outcome: LockRenewal) {
        switch outcome {
        case .renewed:
            state.withLock { $0.renewed = now() }
            renewed()
        case .takenOver(let holder):
            let first = state.withLock { state in
                defer { state.lost = state.lost ?? "taken over by \(holder)" }
                return state.lost == nil
            }
            if first { logger.error("the run lost its lock", metadata: ["holder": "\(holder)"]) }
        case .failed(let reason):
            logger.warning("cannot renew the run's lock; held until its term ends", metadata: ["error": "\(reason)"])
        }
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }
}

extension LockKeeper {
    /// The one way a run or a command holds the run's lock: acquired; kept while `body` works
    /// (renewed in the background, each renewal moving `deadline` a term on); every write
    /// through `gate` refused from the moment it is lost; released, and the gate lifted, when
    /// `body` returns or throws, even when the task was cancelled (SIGTERM). Nil when another
    /// run holds the lock.
    public static func holding<T: Sendable>(
        _ lock: any RunLock, gate: WriteGate?, deadline: (RetryDeadline, Duration)?, logger: Logger,
        now: @escaping @Sendable () -> Date, _ body: (LockKeeper) async throws -> T
    ) async throws -> T? {
        guard try await lock.acquire() else { return nil }
        let keeper = LockKeeper(lock, logger: logger, now: now) {
            if let (deadline, term) = deadline { deadline.extend(to: .now + term) }
        }
        // Held by the gate until it is lifted below.
        gate?.guardWrites { keeper.lostReason() }
        func end() async {
            keeper.stop()
            await Task { await lock.release() }.value
            gate?.lift()
        }
        do {
            let result = try await body(keeper)
            await end()
            return result
        } catch {
            await end()
            throw error
        }
    }
}
