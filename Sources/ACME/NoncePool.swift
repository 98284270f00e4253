/// Anti-replay nonces (RFC 8555 §7.2). Every response's `Replay-Nonce` is kept and each is used
/// once. When the pool is empty while signed requests are on their way, each answer brings a
/// nonce: the next request waits for it rather than spend a `HEAD newNonce`. So a run costs one
/// `HEAD newNonce` however many requests it makes, at the price of sending signed requests one
/// after another whenever nonces run short. A waiter is patient for `patience` only: a CA that
/// is slow to answer one certificate's request does not hold up the others (the waiter then
/// fetches its own).
actor NoncePool {
    private var nonces: [String] = []
    private var waiters: [(id: Int, continuation: CheckedContinuation<String?, Never>)] = []
    private var nextWaiter = 0
    /// Signed requests between `take` and `requestFinished`.
    private var inFlight = 0
    private let capacity: Int
    private let patience: Duration

    init(capacity: Int = 32, patience: Duration = .seconds(2)) {
        self.capacity = capacity
        self.patience = patience
    }

    /// A nonce for a signed request about to be sent, which counts as in flight from now until
    /// `requestFinished`: from the pool, else from the answer to a request in flight; nil when
    /// nothing is coming and the caller must fetch one (`HEAD newNonce`).
    func take() async -> String? {
        if let nonce = nonces.popLast() {
            inFlight += 1
            return nonce
        }
        if inFlight > 0 || !waiters.isEmpty, !Task.isCancelled {
            // `hand(_:)` counts this request as in flight when it resumes it; a cancelled waiter
            // (SIGTERM) is resumed at once with nil and its request then fails as cancelled.
            let id = nextWaiter
            nextWaiter += 1
            let patience = self.patience
            let timer = Task {
                // A timeout, not an ordering: past it, the waiter stops waiting and fetches its own.
                try? await Task.sleep(for: patience)
                if !Task.isCancelled { self.cancelWaiter(id) }
            }
            defer { timer.cancel() }
            return await withTaskCancellationHandler {
                await withCheckedContinuation { waiters.append((id, $0)) }
            } onCancel: {
                Task { await self.cancelWaiter(id) }
            }
        }
        inFlight += 1
        return nil
    }

    private func cancelWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        inFlight += 1
        waiters.remove(at: index).continuation.resume(returning: nil)
    }

    /// Requests waiting for a nonce (for tests).
    var waiting: Int { waiters.count }

    /// The request that `take` was for is answered (or failed).
    func requestFinished(nonce: String?) {
        inFlight -= 1
        add(nonce)
        if inFlight == 0, !waiters.isEmpty {
            // Nothing is in flight to feed the first waiter: it fetches a nonce itself.
            hand(nil)
        }
    }

    /// A nonce from any response: to the first waiter, or into the pool.
    func add(_ nonce: String?) {
        guard let nonce, !nonce.isEmpty else { return }
        if !waiters.isEmpty {
            hand(nonce)
            return
        }
        nonces.append(nonce)
        if nonces.count > capacity { nonces.removeFirst(nonces.count - capacity) }
    }

    private func hand(_ nonce: String?) {
        inFlight += 1
        waiters.removeFirst().continuation.resume(returning: nonce)
    }

    var count: Int { nonces.count }
}
