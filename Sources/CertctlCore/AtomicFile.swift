import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes files the way key material must be written: to a temporary file with the final mode
/// from the start, flushed, then renamed over the target, so a reader sees the old file or the
/// new one and never a half-written one.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String, mode: Int = 0o600) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try createDirectory(directory.isEmpty ? "." : directory)
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(clamping: mode))
        guard descriptor >= 0 else {
            throw CertctlError(.io, object: path, "cannot create a file: \(String(cString: strerror(errno)))")
        }
        var failure: Int32 = 0
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, base + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
        }
        if failure == 0, fsync(descriptor) != 0 { failure = errno }
        close(descriptor)
        if failure == 0, rename(temporary, path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(temporary)
            throw CertctlError(.io, object: path, "cannot write the file: \(String(cString: strerror(failure)))")
        }
    }

    public static func write(_ text: String, to path: String, mode: Int = 0o600) throws {
        try write(Array(text.utf8), to: path, mode: mode)
    }

    /// Creates `path` and its parents with mode 0700 (state directories hold keys).
    public static func createDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw CertctlError(.io, object: path, "cannot create the directory: \(error.localizedDescription)")
        }
    }

    public static func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map(Array.init)
    }
}
