/// Anti-replay nonces (RFC 8555 §7.2). Every response's `Replay-Nonce` is kept and each is used
/// once. When the pool is empty while signed requests are on their way, each answer brings a
/// nonce: the next request waits for it rather than spend a `HEAD newNonce`. So a run costs one
/// `HEAD newNonce` however many requests it makes, at the price of sending signed requests one
/// after another whenever nonces run short.
actor NoncePool {
    private var nonces: [String] = []
    private var waiters: [CheckedContinuation<String?, Never>] = []
    /// Signed requests between `take` and `requestFinished`.
    private var inFlight = 0
    private let capacity: Int

    init(capacity: Int = 32) {
        self.capacity = capacity
    }

    /// A nonce for a signed request about to be sent, which counts as in flight from now until
    /// `requestFinished`: from the pool, else from the answer to a request in flight; nil when
    /// nothing is coming and the caller must fetch one (`HEAD newNonce`).
    func take() async -> String? {
        if let nonce = nonces.popLast() {
            inFlight += 1
            return nonce
        }
        if inFlight > 0 || !waiters.isEmpty {
            // `hand(_:)` counts this request as in flight when it resumes it.
            return await withCheckedContinuation { waiters.append($0) }
        }
        inFlight += 1
        return nil
    }

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
        waiters.removeFirst().resume(returning: nonce)
    }

    var count: Int { nonces.count }
}
