import Basics
public import Foundation
public import Kubernetes
public import Logging
import Synchronization

/// The run's hold on its lock, known to be held or not: renews it in the background and
/// remembers when the last successful renewal was asked for (the Lease's term runs from the
/// time it was sent, not from the answer). The lock is lost when another holder took it (a
/// renewal says so) or when it was not renewed for its term less a margin (a tenth of it, at
/// most 60 s: a write that passed the check may take a request's time to land, and clocks
/// differ); from then on another run may hold it, so this one starts no new order and no
/// finalize, and a later renewal does not give it back. What the CA
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

    /// Starts keeping `lock`, which the run acquired with a request sent at `heldSince`;
    /// `renewed` is told of each renewal.
    init(
        _ lock: any RunLock, logger: Logger, now: @escaping @Sendable () -> Date, heldSince: Date? = nil,
        renewed: @escaping @Sendable () -> Void = {}
    ) {
        self.lock = lock
        self.now = now
        self.logger = logger
        self.renewed = renewed
        state = Mutex(State(renewed: heldSince ?? now()))
        guard let interval = lock.renewalInterval else { return }
        let keeping = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                guard let self else { return }
                let asked = self.now()
                let outcome = await lock.renew()
                self.note(outcome, asked: asked)
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
        let seconds = Bounded.seconds(expiry)
        let margin = min(seconds / 10, 60)
        let unrenewed = now().timeIntervalSince(renewed)
        guard unrenewed >= seconds - margin else { return nil }
        let reason =
            "its Lease was not renewed for \(Bounded.int(unrenewed)) s, within \(Bounded.int(margin)) s of its \(Bounded.int(seconds)) s term"
        return state.withLock { state in
            // Lost for good: a renewal answered late does not give the run its writes back.
            state.lost = state.lost ?? reason
            return state.lost
        }
    }

    /// Throws when the lock is lost: called before each new order and each finalize.
    public func requireHeld(before action: String) throws {
        guard let reason = lostReason() else { return }
        throw CertctlError(
            .lockLost, "no \(action): this run lost its lock (\(reason)); the next run does the rest")
    }

    private func note(_ outcome: LockRenewal, asked: Date) {
        switch outcome {
        case .renewed:
            let held = state.withLock { state in
                if state.lost == nil { state.renewed = max(state.renewed, asked) }
                return state.lost == nil
            }
            if held { renewed() }
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

    /// Stops renewing, once a renewal under way has finished (a release after it cannot race it).
    func stop() async {
        let keeping = task.withLock { task in
            task?.cancel()
            return task
        }
        await keeping?.value
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
        now: @escaping @Sendable () -> Date = { Date() }, _ body: (LockKeeper) async throws -> T
    ) async throws -> T? {
        let asked = now()
        guard try await lock.acquire() else { return nil }
        let keeper = LockKeeper(lock, logger: logger, now: now, heldSince: asked) {
            if let (deadline, term) = deadline { deadline.extend(to: .now + term) }
        }
        // Held by the gate until it is lifted below.
        gate?.guardWrites { keeper.lostReason() }
        func end() async {
            await keeper.stop()
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
