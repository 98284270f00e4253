import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ports handed out so far in this process, from below Linux's ephemeral range (32768-60999),
/// so that neither another test nor an outgoing connection's local port takes one meanwhile.
private let nextPort = Atomic<Int>(20_000 + Int(clamping: getpid() % 500) * 20)

/// A port on 127.0.0.1 that nothing listens on right now (TCP or UDP), for servers the tests start.
public func freeLoopbackPort(udp: Bool = false) -> Int {
    for _ in 0..<2_000 {
        let candidate = 20_000 + (nextPort.add(1, ordering: .relaxed).newValue - 20_000) % 12_000
        if isFree(candidate, udp: udp) { return candidate }
    }
    return kernelPort(udp: udp)
}

private func isFree(_ port: Int, udp: Bool) -> Bool {
    let descriptor = socket(AF_INET, Int32(clamping: udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(clamping: AF_INET)
    address.sin_port = in_port_t(clamping: UInt16(clamping: port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let length = socklen_t(clamping: MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    } == 0
}

private func kernelPort(udp: Bool) -> Int {
    let descriptor = socket(AF_INET, Int32(clamping: udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(clamping: AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(clamping: MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(clamping: UInt16(bigEndian: address.sin_port))
}
