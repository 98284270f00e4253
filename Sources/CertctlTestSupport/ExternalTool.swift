public import Foundation

/// Runs a real tool (promtool, openssl) with input on stdin, off the cooperative pool.
public enum ExternalTool {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
    }

    /// Runs `path` with `arguments`, `environment` added to this process's, `input` on stdin;
    /// stdout and stderr together in `output`.
    public static func run(
        _ path: String, _ arguments: [String], input: String = "", environment: [String: String] = [:],
        directory: URL? = nil
    ) async throws -> Result {
        try await run(path, arguments, bytes: Array(input.utf8), environment: environment, directory: directory)
    }

    /// The same with binary `bytes` on stdin (a DER document).
    public static func run(
        _ path: String, _ arguments: [String], bytes input: [UInt8], environment: [String: String] = [:],
        directory: URL? = nil
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Swift.Result {
                        try runBlocking(path, arguments, input: input, environment: environment, directory: directory)
                    })
            }
        }
    }

    private static func runBlocking(
        _ path: String, _ arguments: [String], input: [UInt8], environment: [String: String], directory: URL?
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = directory }
        let stdin = Pipe()
        let output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}
