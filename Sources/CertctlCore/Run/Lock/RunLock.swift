import ACME
import Basics
public import Foundation
public import Kubernetes
import Transport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One run at a time: a Lease in a cluster, a file lock locally. A second run finds it held
/// and exits cleanly; a lock left by a killed run expires (Lease) or dies with it (file lock).
public protocol RunLock: Sendable {
    /// True when this run now holds the lock; false when another live run does.
    func acquire() async throws -> Bool
    func release() async
    /// Keeps the lock alive while a long run works (a Lease's renewTime); called periodically.
    /// Says whether this run still holds it.
    @discardableResult
    func renew() async -> LockRenewal
    /// How often `renew` is needed; nil when never (a file lock lives as long as its process).
    var renewalInterval: Duration? { get }
    /// How long the lock stays held without a renewal (a Lease's duration); nil: for as long as
    /// the process lives.
    var expiry: Duration? { get }
    /// Who holds the lock now, when it can tell (a Lease's holderIdentity).
    func holder() async -> String?
}

/// What a renewal of the run's lock found.
public enum LockRenewal: Sendable, Equatable {
    /// Renewed: this run holds it for another term.
    case renewed
    /// Another holder has it now (it took over a Lease it found expired, or an operator did).
    case takenOver(by: String)
    /// It could not be renewed (the API server did not answer); held until its term ends.
    case failed(String)
}

extension RunLock {
    @discardableResult
    public func renew() async -> LockRenewal { .renewed }
    public var renewalInterval: Duration? { nil }
    public var expiry: Duration? { nil }
    public func holder() async -> String? { nil }
}

/// `flock` on `STATE/run.lock`: released by the kernel when the process dies.
public final class FileRunLock: RunLock, @unchecked Sendable {
    private let path: String
    private var descriptor: Int32 = -1
    private let lock = NSLock()

    public init(stateDirectory: String) {
        path = (stateDirectory as NSString).appendingPathComponent("run.lock")
    }

    public func acquire() async throws -> Bool {
        try AtomicFile.createDirectory((path as NSString).deletingLastPathComponent)
        let opened = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard opened >= 0 else {
            throw CertctlError(.io, object: path, "cannot open the run lock")
        }
        guard flock(opened, LOCK_EX | LOCK_NB) == 0 else {
            close(opened)
            return false
        }
        // Who holds it, for a run that finds it held (`holder()`).
        let identity = Array("certctl process \(getpid()) on \(ProcessInfo.processInfo.hostName)\n".utf8)
        if ftruncate(opened, 0) == 0 { _ = identity.withUnsafeBytes { pwrite(opened, $0.baseAddress, $0.count, 0) } }
        lock.withLock { descriptor = opened }
        return true
    }

    public func holder() async -> String? {
        guard let bytes = AtomicFile.read(path) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    public func release() async {
        lock.withLock {
            if descriptor >= 0 {
                flock(descriptor, LOCK_UN)
                close(descriptor)
                descriptor = -1
            }
        }
    }
}

/// A `coordination.k8s.io/v1` Lease: held while `renewTime + leaseDurationSeconds` is ahead.
public struct LeaseRunLock: RunLock {
    public let client: KubernetesClient
    public let namespace: String
    public let name: String
    public let identity: String
    public let duration: Int
    /// The Lease's name unless told otherwise.
    public static let defaultName = "certctl-run"
    /// The clock the Lease's times come from (tests step it instead of sleeping).
    public var now: @Sendable () -> Date = { Date() }

    public init(
        client: KubernetesClient, namespace: String, name: String = LeaseRunLock.defaultName, identity: String,
        duration: Int = 900
    ) {
        // The Lease is how the lock is kept: its writes never wait on the gate the lock shuts.
        var own = client
        own.writeGate = nil
        self.client = own
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
    }

    public func acquire() async throws -> Bool {
        let now = self.now()
        let stamp = MicroTime(now)
        let existing: Lease
        do {
            existing = try await client.get(Lease.self, namespace: namespace, name: name)
        } catch let error as KubernetesError where error.isNotFound {
            do {
                let spec = Lease.Spec(
                    holderIdentity: identity, leaseDurationSeconds: duration, acquireTime: stamp, renewTime: stamp)
                _ = try await client.create(Lease(metadata: ObjectMeta(name: name, namespace: namespace), spec: spec))
                return true
            } catch let error as KubernetesError where error.isAlreadyExists {
                return false
            }
        }
        let holder = existing.spec?.holderIdentity ?? ""
        if !holder.isEmpty, holder != identity, let renewed = existing.spec?.renewTime,
            renewed.date.addingTimeInterval(TimeInterval(existing.spec?.leaseDurationSeconds ?? duration)) > now
        {
            return false
        }
        var spec: [String: JSONValue] = [
            "holderIdentity": .string(identity), "leaseDurationSeconds": JSONValue(duration),
            "acquireTime": .string(stamp.description), "renewTime": .string(stamp.description),
        ]
        if !holder.isEmpty, holder != identity {
            // An int32 in the API (a real server refuses more); held there, so one more never overflows.
            let transitions = min(max(existing.spec?.leaseTransitions ?? 0, 0), Int(clamping: Int32.max) - 1)
            spec["leaseTransitions"] = JSONValue(transitions + 1)
        }
        do {
            // The resourceVersion read is the precondition: of two runs taking it, one gets 409.
            try await patch(existing, spec: spec)
            return true
        } catch let error as KubernetesError where error.isConflict {
            return false
        }
    }

    /// Changes the Lease's spec fields named, if nobody wrote since `lease` was read.
    private func patch(_ lease: Lease, spec: [String: JSONValue]) async throws {
        let patch: JSONValue = .object([
            "metadata": .object(["resourceVersion": .string(lease.metadata.resourceVersion ?? "")]),
            "spec": .object(spec),
        ])
        _ = try await client.mergePatch(Lease.self, namespace: namespace, name: name, patch: patch)
    }

    public var renewalInterval: Duration? { .seconds(max(duration / 3, 1)) }
    public var expiry: Duration? { .seconds(duration) }

    /// Moves renewTime forward while this run holds the Lease; says so when another holder has
    /// it (the patch's resourceVersion precondition makes a takeover between the read and the
    /// write a conflict, read again).
    @discardableResult
    public func renew() async -> LockRenewal {
        for _ in 0..<3 {
            let lease: Lease
            do {
                lease = try await client.get(Lease.self, namespace: namespace, name: name)
            } catch let error as KubernetesError where error.isNotFound {
                return .takenOver(by: "nobody (the Lease \(namespace)/\(name) was deleted)")
            } catch {
                return .failed("cannot read the Lease \(namespace)/\(name): \(error)")
            }
            guard lease.spec?.holderIdentity == identity else {
                return .takenOver(by: lease.spec?.holderIdentity ?? "nobody (it was released)")
            }
            do {
                try await patch(lease, spec: ["renewTime": .string(MicroTime(now()).description)])
                return .renewed
            } catch let error as KubernetesError where error.isConflict {
                continue
            } catch {
                return .failed("cannot renew the Lease \(namespace)/\(name): \(error)")
            }
        }
        return .failed("the Lease \(namespace)/\(name) kept changing while it was renewed")
    }

    /// Who holds the Lease now, when someone live does (for `renew --now` refused by it).
    public func holder() async -> String? {
        guard let lease = try? await client.get(Lease.self, namespace: namespace, name: name),
            let holder = lease.spec?.holderIdentity, !holder.isEmpty
        else { return nil }
        return holder
    }

    /// Gives the Lease up when this run still holds it; read again after a conflict (a renewal
    /// that landed meanwhile), so that the next run does not wait out a full term.
    public func release() async {
        for _ in 1...3 {
            guard let lease = try? await client.get(Lease.self, namespace: namespace, name: name),
                lease.spec?.holderIdentity == identity
            else { return }
            do {
                try await patch(lease, spec: ["holderIdentity": .null, "renewTime": .null])
                return
            } catch let error as KubernetesError where error.isConflict {
                continue
            } catch {
                return
            }
        }
    }
}
