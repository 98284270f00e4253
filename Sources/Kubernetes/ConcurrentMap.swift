import Foundation

/// `transform` of every item, in order, shared among the cores in contiguous chunks (decoding a
/// page of a list and parsing its certificates are most of reading thousands of objects). Small
/// inputs stay on the calling task.
public func concurrentCompactMap<Item: Sendable, T: Sendable>(
    _ items: [Item], minimumChunk: Int = 32, _ transform: @Sendable (Item) throws -> T?
) async throws -> [T] {
    let workers = min(ProcessInfo.processInfo.activeProcessorCount, 8, items.count / max(1, minimumChunk))
    guard workers > 1 else { return try items.compactMap(transform) }
    let chunk = (items.count + workers - 1) / workers
    return try await withoutActuallyEscaping(transform) { transform in
        try await withThrowingTaskGroup(of: (Int, [T]).self) { group in
            for worker in 0..<workers {
                let slice = items[(worker * chunk)..<min(items.count, (worker + 1) * chunk)]
                group.addTask { (worker, try slice.compactMap(transform)) }
            }
            var parts = [[T]](repeating: [], count: workers)
            for try await (worker, part) in group { parts[worker] = part }
            return parts.flatMap { $0 }
        }
    }
}
