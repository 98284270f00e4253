import Basics
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Sends DNS messages to one server over TCP (RFC 7766: every server must take it; no
/// truncation, and a dynamic update's answer always fits), each exchange on a thread of its
/// own, off the cooperative pool, bounded by `timeout`.
public struct DNSClient: Sendable {
    /// `host` (an address or a name) and `port`.
    public var host: String
    public var port: Int
    public var timeout: Duration
    /// Queries ask for recursion (RD): for a resolver, not an authoritative server.
    public var recursionDesired = false

    public init(host: String, port: Int = 53, timeout: Duration = .seconds(10)) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// `ADDRESS`, `ADDRESS:PORT`, `[IPv6]:PORT` or a bare IPv6 address (cert-manager's
    /// `nameserver` forms); port 53 when none is given.
    public init(parsing server: String, timeout: Duration = .seconds(10)) throws(DNSError) {
        var host = server
        var port = 53
        if server.hasPrefix("["), let close = server.firstIndex(of: "]") {
            host = String(server[server.index(after: server.startIndex)..<close])
            let rest = server[server.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let parsed = Int(rest.dropFirst()) else { throw DNSError(.malformed, "bad port in \(server)") }
                port = parsed
            }
        } else if server.filter({ $0 == ":" }).count == 1, let colon = server.lastIndex(of: ":") {
            host = String(server[..<colon])
            guard let parsed = Int(server[server.index(after: colon)...]) else {
                throw DNSError(.malformed, "bad port in \(server)")
            }
            port = parsed
        }
        guard !host.isEmpty, (1...65535).contains(port) else {
            throw DNSError(.malformed, "\"\(server)\" is not host:port")
        }
        self.init(host: host, port: port, timeout: timeout)
    }

    /// The first `nameserver` of a resolv.conf text, as a recursive resolver.
    public static func resolver(fromResolvConf text: String) -> DNSClient? {
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else { continue }
            var client = DNSClient(host: String(fields[1]))
            client.recursionDesired = true
            return client
        }
        return nil
    }

    public var server: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Sends `bytes` (one message) and returns the answer's bytes.
    public func exchange(_ bytes: [UInt8]) async throws(DNSError) -> [UInt8] {
        let (host, port, server) = (self.host, self.port, self.server)
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let result: Result<[UInt8], DNSError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(
                    returning: Self.exchange(bytes, host: host, port: port, server: server, seconds: seconds))
            }
            thread.start()
        }
        return try result.get()
    }

    /// Sends `message` and decodes the answer, which must carry the same ID.
    public func send(_ message: DNSMessage) async throws(DNSError) -> DNSMessage {
        let answer = try await exchange(message.encoded())
        let decoded = try DNSMessage(decoding: answer)
        guard decoded.id == message.id, decoded.isResponse else {
            throw DNSError(.malformed, "\(server) answered another message")
        }
        return decoded
    }

    /// A query for `name`'s records of `type`.
    public func query(_ name: String, _ type: DNSType) async throws(DNSError) -> DNSMessage {
        var message = DNSMessage(id: UInt16.random(in: 0...UInt16.max))
        message.questions = [.init(name: name, type: type)]
        message.recursionDesired = recursionDesired
        return try await send(message)
    }

    private static func exchange(_ bytes: [UInt8], host: String, port: Int, server: String, seconds: Double)
        -> Result<[UInt8], DNSError>
    {
        var hints = addrinfo()
        hints.ai_socktype = Int32(clamping: SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(clamping: IPPROTO_TCP)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            return .failure(DNSError(.network, "cannot resolve the DNS server \(server)"))
        }
        defer { freeaddrinfo(first) }
        let socket = Glibc.socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard socket >= 0 else { return .failure(DNSError(.network, "no socket for \(server)")) }
        defer { close(socket) }
        let whole = Bounded.int(seconds, in: 0...86_400)
        var limit = timeval(tv_sec: whole, tv_usec: Bounded.int((seconds - Double(whole)) * 1e6, in: 0...999_999))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(clamping: MemoryLayout<timeval>.size))
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(clamping: MemoryLayout<timeval>.size))
        guard connect(socket, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let reason = errno == EINPROGRESS || errno == EAGAIN ? "timed out" : String(cString: strerror(errno))
            return .failure(DNSError(.network, "cannot connect to the DNS server \(server): \(reason)"))
        }
        guard bytes.count <= 0xFFFF else {
            return .failure(
                DNSError(
                    .malformed, "a DNS message of \(bytes.count) bytes does not fit TCP's length (RFC 1035 §4.2.2)"))
        }
        let framed = [UInt8(truncatingIfNeeded: bytes.count >> 8), UInt8(truncatingIfNeeded: bytes.count)] + bytes
        var sent = 0
        while sent < framed.count {
            let written = framed[sent...].withUnsafeBytes {
                Glibc.send(socket, $0.baseAddress, $0.count, Int32(clamping: MSG_NOSIGNAL))
            }
            guard written > 0 else { return .failure(failure(server, "sending")) }
            sent += written
        }
        // The whole answer within the timeout: a server trickling a byte at a time, each inside
        // SO_RCVTIMEO, is cut off at the deadline all the same.
        let deadline = ContinuousClock.now + Bounded.duration(seconds: seconds)
        guard let header = receive(socket, 2, until: deadline) else {
            return .failure(failure(server, "reading the answer"))
        }
        let length = Int(clamping: header[0]) << 8 | Int(clamping: header[1])
        guard let answer = receive(socket, length, until: deadline) else {
            return .failure(failure(server, "reading the answer"))
        }
        return .success(answer)
    }

    private static func failure(_ server: String, _ what: String) -> DNSError {
        if errno == EAGAIN || errno == EWOULDBLOCK {
            return DNSError(.timeout, "the DNS server \(server) did not answer in time (\(what))")
        }
        return DNSError(.network, "the DNS server \(server) closed the connection (\(what))")
    }

    private static func receive(_ socket: Int32, _ count: Int, until deadline: ContinuousClock.Instant) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            guard ContinuousClock.now < deadline else {
                errno = EAGAIN
                return nil
            }
            let read = buffer[received...].withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            guard read > 0 else { return nil }
            received += read
        }
        return buffer
    }
}
