import Foundation
import Transport

/// A real server from Debian's packages (Alertmanager, Pushgateway) started for one test and
/// waited for until its readiness URL answers 200.
public final class ExternalServer: Sendable {
    private let process: Process

    private init(process: Process) {
        self.process = process
    }

    public static func start(_ executable: String, _ arguments: [String], readyURL: String) async throws
        -> ExternalServer
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let server = ExternalServer(process: process)
        let transport = CurlTransport(userAgent: "certctl-tests")
        for _ in 0..<100 {
            if (try? await transport.send(HTTPRequest(url: readyURL, timeout: .seconds(2))))?.status == 200 {
                return server
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.stop()
        throw PebbleError(reason: "\(executable) did not become ready at \(readyURL)")
    }

    public func stop() {
        if process.isRunning { process.terminate() }
    }

    deinit {
        stop()
    }
}
