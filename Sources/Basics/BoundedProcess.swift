public import Foundation
import Synchronization

/// Runs a helper program (a kubeconfig exec plugin, a DNS hook) as certctl must: on a thread of
/// its own, off the cooperative pool; stdout and stderr drained concurrently (one that writes
/// much to stderr never blocks on a full pipe) and kept only up to their limits; stopped at the
/// timeout even when a child of it holds the pipes open.
public enum BoundedProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var output: Data
        public var errors: Data

        public var errorText: String { String(decoding: errors, as: UTF8.self) }
    }

    public enum Failure: Error, Sendable {
        /// It could not be started.
        case cannotRun(String)
        /// It did not finish in time and was stopped; what it wrote to stderr by then.
        case timedOut(String)
    }

    /// Runs `command` (a path, or a name looked up in `PATH`) with `arguments`.
    public static func run(
        _ command: String, arguments: [String], environment: [String: String], timeout: Duration,
        outputLimit: Int = 1 << 20, errorLimit: Int = 16 << 10
    ) async throws(Failure) -> Result {
        let outcome: Swift.Result<Result, Failure> = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    returning: runBlocking(
                        command, arguments: arguments, environment: environment, timeout: timeout,
                        outputLimit: outputLimit, errorLimit: errorLimit))
            }
        }
        return try outcome.get()
    }

    private static func runBlocking(
        _ command: String, arguments: [String], environment: [String: String], timeout: Duration, outputLimit: Int,
        errorLimit: Int
    ) -> Swift.Result<Result, Failure> {
        let process = Process()
        if command.contains("/") {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [command] + arguments
        }
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return .failure(.cannotRun(error.localizedDescription))
        }
        let standardOutput = Drained()
        let errorOutput = Drained()
        let outputDone = DispatchSemaphore(value: 0)
        let errorDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            standardOutput.read(output.fileHandleForReading, keeping: outputLimit)
            outputDone.signal()
        }
        Thread.detachNewThread {
            errorOutput.read(errors.fileHandleForReading, keeping: errorLimit)
            errorDone.signal()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        guard outputDone.wait(timeout: .now() + seconds) == .success else {
            process.terminate()
            return .failure(.timedOut(String(decoding: errorOutput.data, as: UTF8.self)))
        }
        process.waitUntilExit()
        _ = errorDone.wait(timeout: .now() + 5)
        return .success(
            Result(status: process.terminationStatus, output: standardOutput.data, errors: errorOutput.data))
    }
}

/// What a pipe gave, up to a limit; the rest is read and dropped.
private final class Drained: Sendable {
    private let state = Mutex(Data())

    func read(_ handle: FileHandle, keeping limit: Int) {
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { return }
            state.withLock { data in
                if data.count < limit { data.append(chunk.prefix(limit - data.count)) }
            }
        }
    }

    var data: Data { state.withLock { $0 } }
}
