import Testing

@testable import ACME

@Suite("Nonce pool")
struct NoncePoolTests {
    @Test("empty and idle: the caller fetches; then answers feed the waiting requests in order")
    func chaining() async throws {
        let pool = NoncePool()
        #expect(await pool.take() == nil)  // nothing in flight: HEAD newNonce
        async let second = pool.take()
        async let third = pool.take()
        try await Task.sleep(for: .milliseconds(50))
        await pool.requestFinished(nonce: "a")  // the first request's answer feeds a waiter
        await pool.requestFinished(nonce: "b")  // and that one's answer the next
        let received = Set([await second, await third].compactMap { $0 })
        #expect(received == ["a", "b"])
        await pool.requestFinished(nonce: "c")
        await pool.requestFinished(nonce: "d")
        #expect(await pool.count == 2)
        #expect(await pool.take() == "d")
    }

    @Test("an answer without a nonce leaves the next waiter to fetch its own")
    func missingNonce() async throws {
        let pool = NoncePool()
        #expect(await pool.take() == nil)
        async let waiting = pool.take()
        try await Task.sleep(for: .milliseconds(50))
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
