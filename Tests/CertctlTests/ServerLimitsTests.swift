import CertctlCore
import CertctlTestSupport
import Foundation
import Logging
import Testing
import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP client for what no HTTP client does on purpose: a request sent slowly, a flood of
/// connections. Blocking, so it runs off the cooperative pool.
final class RawConnection: @unchecked Sendable {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(descriptor) }

    func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer {
            Glibc.send(descriptor, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL))
        }
    }

    /// Reads until what was read contains `text` (true), or the peer closes or `seconds` pass.
    func read(until text: String, within seconds: Double) async -> Bool {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var received: [UInt8] = []
                let deadline = Date().addingTimeInterval(seconds)
                var buffer = [UInt8](repeating: 0, count: 4096)
                while Date() < deadline, !String(decoding: received, as: UTF8.self).contains(text) {
                    var poller = pollfd(fd: self.descriptor, events: Int16(POLLIN), revents: 0)
                    guard poll(&poller, 1, Int32(max(deadline.timeIntervalSinceNow, 0) * 1000)) > 0 else { break }
                    let count = recv(self.descriptor, &buffer, buffer.count, 0)
                    if count <= 0 { break }
                    received += buffer.prefix(count)
                }
                continuation.resume(returning: String(decoding: received, as: UTF8.self).contains(text))
            }
        }
    }

    /// Waits until a server on `port` accepts a connection and greets with `greeting` (an SMTP
    /// server's `220`): its start as a signal, not a guess of how long it takes.
    static func waitForGreeting(port: Int, greeting: String, within seconds: Double = 30) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let connection = try? RawConnection(port: port),
                await connection.read(until: greeting, within: max(deadline.timeIntervalSinceNow, 0))
            {
                return true
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Reads until the peer closes or `seconds` pass: what was read, and whether it closed.
    func readUntilClosed(within seconds: Double) async -> (text: String, closed: Bool) {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var received: [UInt8] = []
                let deadline = Date().addingTimeInterval(seconds)
                var buffer = [UInt8](repeating: 0, count: 4096)
                while Date() < deadline {
                    var poller = pollfd(fd: self.descriptor, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&poller, 1, Int32(max(deadline.timeIntervalSinceNow, 0) * 1000))
                    guard ready > 0 else { break }
                    let count = recv(self.descriptor, &buffer, buffer.count, 0)
                    if count <= 0 {
                        continuation.resume(returning: (String(decoding: received, as: UTF8.self), true))
                        return
                    }
                    received += buffer.prefix(count)
                }
                continuation.resume(returning: (String(decoding: received, as: UTF8.self), false))
            }
        }
    }
}

@Suite("What a client can make the responder and the exporter hold is bounded")
struct ServerLimitsTests {
    static func responder(_ limits: HTTPServer.Limits) async throws -> HTTP01Responder {
        try await HTTP01Responder.start(host: "127.0.0.1", port: 0, logger: Logger(label: "t"), limits: limits)
    }

    @Test("a body over the limit is 413 and the connection closed; a header over NIO's 80 KB is 400")
    func oversized() async throws {
        let responder = try await Self.responder(.init(maximumBody: 4096, requestTimeout: .seconds(2)))
        defer { Task { await responder.stop() } }
        responder.present(token: "t1", keyAuthorization: "t1.k")
        let big = try RawConnection(port: responder.port)
        big.send("POST /.well-known/acme-challenge/t1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        big.send(String(repeating: "x", count: 100_000))
        let answer = await big.readUntilClosed(within: 5)
        #expect(answer.text.hasPrefix("HTTP/1.1 413"), "\(answer.text)")
        #expect(answer.closed)

        let header = try RawConnection(port: responder.port)
        header.send(
            "GET /.well-known/acme-challenge/t1 HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "y", count: 100_000))\r\n\r\n"
        )
        let refused = await header.readUntilClosed(within: 5)
        #expect(refused.text.hasPrefix("HTTP/1.1 400"), "\(refused.text.prefix(200))")

        // And the CA's own request still gets its answer.
        let good = try RawConnection(port: responder.port)
        good.send("GET /.well-known/acme-challenge/t1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let served = await good.readUntilClosed(within: 5)
        #expect(served.text.hasPrefix("HTTP/1.1 200") && served.text.hasSuffix("t1.k"), "\(served.text)")
    }

    @Test("a client that sends its request slowly, or idles, is disconnected after the request timeout")
    func slowClient() async throws {
        let responder = try await Self.responder(.init(maximumBody: 4096, requestTimeout: .milliseconds(500)))
        defer { Task { await responder.stop() } }
        let slow = try RawConnection(port: responder.port)
        slow.send("GET /.well-known/acme-challenge/t1 HTTP/1.1\r\nHo")
        let result = await slow.readUntilClosed(within: 10)
        #expect(result.closed, "closed by the server, not left waiting")
        #expect(result.text.isEmpty)
    }

    @Test("connections over the limit are closed as they arrive; the ones admitted are served")
    func flood() async throws {
        // The request timeout is far beyond the test's waits: only the limit closes a connection
        // here. (With the whole suite starting at once on two cores, the answers' tasks can wait
        // seconds for the cooperative pool; a 5 s timeout then closed the idle admitted ones.)
        let responder = try await Self.responder(
            .init(maximumBody: 4096, requestTimeout: .seconds(120), maximumConnections: 4))
        defer { Task { await responder.stop() } }
        responder.present(token: "t2", keyAuthorization: "t2.k")
        // Four served and kept alive: each is surely admitted, and holds its place.
        let admitted = try (0..<4).map { _ in try RawConnection(port: responder.port) }
        for connection in admitted {
            connection.send("GET /.well-known/acme-challenge/t2 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await connection.read(until: "t2.k", within: 60))
        }
        // The fifth is closed at once, unanswered.
        let extra = try RawConnection(port: responder.port)
        extra.send("GET /.well-known/acme-challenge/t2 HTTP/1.1\r\nHost: x\r\n\r\n")
        let dropped = await extra.readUntilClosed(within: 60)  // a backstop: it is closed at once
        #expect(dropped.closed && dropped.text.isEmpty, "\(dropped)")
    }

    @Test("a response body over the client's limit is an error, not memory")
    func responseLimit() async throws {
        let server = try await HTTPServer.start(host: "127.0.0.1", port: freeLoopbackPort()) { _ in
            ServerResponse(
                status: 200, headers: ["Content-Type": "text/plain"], body: [UInt8](repeating: 0x61, count: 3 << 20))
        }
        defer { Task { await server.stop() } }
        var request = HTTPRequest(url: "http://127.0.0.1:\(server.port)/")
        request.maximumResponse = 1 << 20
        do {
            _ = try await CurlTransport(userAgent: "t").send(request)
            Issue.record("a 3 MiB answer was read with a 1 MiB limit")
        } catch let error as HTTPError {
            #expect(error.reason.contains("larger than 1048576 bytes"), "\(error)")
        }
        request.maximumResponse = 4 << 20
        #expect(try await CurlTransport(userAgent: "t").send(request).body.count == 3 << 20)
    }
}
