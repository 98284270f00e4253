/// Anti-replay nonces (RFC 8555 §7.2): every response's `Replay-Nonce` is kept; a nonce is used once.
actor NoncePool {
    private var nonces: [String] = []
    private let capacity: Int

    init(capacity: Int = 32) {
        self.capacity = capacity
    }

    func take() -> String? {
        nonces.popLast()
    }

    func add(_ nonce: String?) {
        guard let nonce, !nonce.isEmpty else { return }
        nonces.append(nonce)
        if nonces.count > capacity { nonces.removeFirst(nonces.count - capacity) }
    }

    var count: Int { nonces.count }
}
