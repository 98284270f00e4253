import Testing

@testable import ACME

@Suite("Nonce pool")
struct NoncePoolTests {
    /// Until `count` requests wait on the pool: their arrival as a signal, not a guess.
    static func until(_ pool: NoncePool, waiting count: Int) async {
        let deadline = ContinuousClock.now + .seconds(10)
        while await pool.waiting < count, ContinuousClock.now < deadline { await Task.yield() }
    }

    @Test("a waiter whose task is cancelled (SIGTERM) is let go at once, the others stay")
    func cancelledWaiter() async throws {
        let pool = NoncePool()
        #expect(await pool.take() == nil)
        let cancelled = Task { await pool.take() }
        async let other = pool.take()
        await Self.until(pool, waiting: 2)
        cancelled.cancel()
        #expect(await cancelled.value == nil)
        #expect(await pool.waiting == 1)
        await pool.requestFinished(nonce: "n")
        #expect(await other == "n")
    }

    @Test("empty and idle: the caller fetches; then answers feed the waiting requests in order")
    func chaining() async throws {
        let pool = NoncePool()
        #expect(await pool.take() == nil)  // nothing in flight: HEAD newNonce
        async let second = pool.take()
        async let third = pool.take()
        await Self.until(pool, waiting: 2)
        await pool.requestFinished(nonce: "a")  // the first request's answer feeds a waiter
        await pool.requestFinished(nonce: "b")  // and that one's answer the next
        let received = Set([await second, await third].compactMap { $0 })
        #expect(received == ["a", "b"])
        await pool.requestFinished(nonce: "c")
        await pool.requestFinished(nonce: "d")
        #expect(await pool.count == 2)
        #expect(await pool.take() == "d")
    }

    @Test("a waiter whose nonce would come from a request the CA does not answer fetches its own in time")
    func patience() async throws {
        let pool = NoncePool(patience: .milliseconds(100))
        #expect(await pool.take() == nil)  // the request in flight, which the CA never answers
        let clock = ContinuousClock()
        let started = clock.now
        #expect(await pool.take() == nil, "the waiter gave up and fetches a nonce itself")
        #expect(clock.now - started >= .milliseconds(100))
        #expect(await pool.waiting == 0)
        // Its own request counts as in flight: an answer now feeds the pool, nobody waits.
        await pool.requestFinished(nonce: "late")
        await pool.requestFinished(nonce: "own")
        #expect(await pool.count == 2)
    }

    @Test("an answer without a nonce leaves the next waiter to fetch its own")
    func missingNonce() async throws {
        let pool = NoncePool()
        #expect(await pool.take() == nil)
        async let waiting = pool.take()
        await Self.until(pool, waiting: 1)
        await pool.requestFinished(nonce: nil)
        #expect(await waiting == nil)
    }

    @Test("a nonce is never handed out twice")
    func singleUse() async {
        let pool = NoncePool()
        await pool.add("x")
        #expect(await pool.take() == "x")
        await pool.requestFinished(nonce: nil)
        #expect(await pool.take() == nil)
    }
}
