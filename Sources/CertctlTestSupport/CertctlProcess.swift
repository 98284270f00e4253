public import Foundation

/// Runs the built `certctl` binary as an operator would, capturing its output.
public enum CertctlProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
    }

    /// The repository root, from this file's path.
    public static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// `$CERTCTL_BINARY`, else the debug build under `.build`.
    public static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["CERTCTL_BINARY"] {
            return URL(fileURLWithPath: path)
        }
        return repository.appendingPathComponent(".build/debug/certctl")
    }

    /// Runs the binary on a thread of its own: waiting for it must never block Swift's
    /// cooperative pool, where the in-process servers it talks to (the fake API server) run.
    public static func run(
        _ arguments: [String],
        environment: [String: String] = [:],
        directory: URL? = nil,
        input: String? = nil
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Swift.Result {
                        try runBlocking(arguments, environment: environment, directory: directory, input: input)
                    })
            }
        }
    }

    /// Standard input is `input` when given (a typed confirmation), else empty.
    private static func runBlocking(
        _ arguments: [String], environment: [String: String], directory: URL?, input: String?
    ) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = directory }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        let standardInput = Pipe()
        process.standardInput = standardInput
        try process.run()
        standardInput.fileHandleForWriting.write(Data((input ?? "").utf8))
        try standardInput.fileHandleForWriting.close()
        // Both pipes drained at once: a child that fills standard error (64 KB) while this side
        // reads standard output to its end would wait forever.
        let errorReader = PipeReader(error.fileHandleForReading)
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errorReader.finish()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self)
        )
    }
}

/// Reads a pipe to its end on a thread of its own.
private final class PipeReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    /// Everything read, once the writer closed its end.
    func finish() -> Data {
        done.wait()
        return data
    }
}
