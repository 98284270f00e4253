/// Anti-replay nonces (RFC 8555 §7.2). Every response's `Replay-Nonce` is kept and each is used
/// once. When the pool is empty but a signed request is on its way, its answer will bring a
/// nonce: a request waits for that one instead of spending a `HEAD newNonce`, so concurrent
/// authorizations cost no extra requests.
actor NoncePool {
    private var nonces: [String] = []
    private var waiters: [CheckedContinuation<String?, Never>] = []
    private var inFlight = 0
    private let capacity: Int

    init(capacity: Int = 32) {
        self.capacity = capacity
    }

    /// A nonce from the pool, or from a request in flight; nil when one must be fetched.
    func take() async -> String? {
        if let nonce = nonces.popLast() { return nonce }
        guard inFlight > waiters.count else { return nil }
        return await withCheckedContinuation { waiters.append($0) }
    }

    /// A signed request is about to be sent: its answer should carry a nonce.
    func requestStarted() {
        inFlight += 1
    }

    /// The request is answered (or failed): hand its nonce to a waiter, or keep it.
    func requestFinished(nonce: String?) {
        inFlight -= 1
        add(nonce)
        // Waiters beyond what the remaining requests can bring must fetch their own.
        while waiters.count > inFlight {
            waiters.removeFirst().resume(returning: nil)
        }
    }

    func add(_ nonce: String?) {
        guard let nonce, !nonce.isEmpty else { return }
        if !waiters.isEmpty {
            waiters.removeFirst().resume(returning: nonce)
            return
        }
        nonces.append(nonce)
        if nonces.count > capacity { nonces.removeFirst(nonces.count - capacity) }
    }

    var count: Int { nonces.count }
}
