import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The image the chart's CronJob runs, built here by `scripts/build-image` (debootstrap and
/// buildah, from Debian's packages alone) and run with podman under the chart's security settings.
@Suite("The image the CronJob runs", .serialized)
struct ImageTests {
    static let repository = CertctlProcess.repository
    static let environment = [
        "CONTAINERS_CONF": repository.appendingPathComponent("scripts/image/containers.conf").path
    ]
    static let reference = "localhost/certctl:\(CertctlVersion.current)"

    /// Builds the image (a cache hit when `scripts/test` built it already) and loads it into
    /// podman, once per test process.
    struct BuildError: Error, CustomStringConvertible {
        var description: String
    }

    actor Built {
        static let shared = Built()
        private var loaded: String?

        func image() async throws -> String {
            if let loaded { return loaded }
            let build = try await ExternalTool.run(
                "/bin/bash", [repository.appendingPathComponent("scripts/build-image").path],
                environment: ImageTests.environment, directory: repository)
            guard build.status == 0, let archive = build.output.split(separator: "\n").last.map(String.init) else {
                throw BuildError(description: "scripts/build-image failed:\n\(build.output)")
            }
            let load = try await podman(["load", "-q", "-i", repository.appendingPathComponent(archive).path])
            guard load.status == 0 else { throw BuildError(description: "podman load failed: \(load.output)") }
            print(build.output.split(separator: "\n").filter { $0.hasPrefix("certctl ") }.joined(separator: "\n"))
            loaded = ImageTests.reference
            return ImageTests.reference
        }
    }

    static func podman(_ arguments: [String]) async throws -> ExternalTool.Result {
        try await ExternalTool.run("/usr/bin/podman", arguments, environment: environment)
    }

    /// The second stage of the Containerfile: what the image must be.
    struct Declared {
        var packages: [String] = []
        var user = ""
        var entrypoint: [String] = []
        var command: [String] = []
        var labels: [String] = []

        init() throws {
            let text = try String(contentsOf: repository.appendingPathComponent("Containerfile"), encoding: .utf8)
            let stages = text.components(separatedBy: "\nFROM ")
            let runtime = try #require(stages.last).split(separator: "\n").map(String.init)
            for line in runtime {
                if let range = line.range(of: "apt-get install -y --no-install-recommends ") {
                    packages = line[range.upperBound...].components(separatedBy: "&&")[0].split(separator: " ")
                        .map(String.init)
                }
                if line.hasPrefix("USER ") { user = String(line.dropFirst(5)) }
                if line.hasPrefix("ENTRYPOINT ") { entrypoint = try Self.list(line.dropFirst(11)) }
                if line.hasPrefix("CMD ") { command = try Self.list(line.dropFirst(4)) }
                if line.hasPrefix("LABEL "), let key = line.dropFirst(6).split(separator: "=").first {
                    labels.append(String(key))
                }
            }
        }

        static func list(_ text: Substring) throws -> [String] {
            try JSONDecoder().decode([String].self, from: Data(text.utf8))
        }
    }

    @Test("certctl --version prints the version, and the image runs as 65532")
    func versionAndUser() async throws {
        let image = try await Built.shared.image()
        let version = try await Self.podman(["run", "--rm", image, "--version"])
        #expect(version.status == 0)
        #expect(version.output.contains(CertctlVersion.current), "\(version.output)")
        // The commit it was built from, as certctl version prints it.
        let head = try await ExternalTool.run(
            "/usr/bin/git", ["rev-parse", "--short=12", "HEAD"], directory: CertctlProcess.repository)
        let commit = head.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(head.status != 0 || version.output.contains("(commit \(commit)"), "\(version.output) vs \(commit)")
        let user = try await Self.podman(["run", "--rm", "--entrypoint", "/usr/bin/id", image, "-u"])
        #expect(user.output.trimmingCharacters(in: .whitespacesAndNewlines) == "65532")
    }

    @Test("user, entrypoint, command, labels and runtime packages are the Containerfile's")
    func inStepWithContainerfile() async throws {
        let image = try await Built.shared.image()
        let declared = try Declared()
        #expect(declared.packages == ["libcurl4", "libpsl5", "publicsuffix", "ca-certificates"])
        let inspect = try await Self.podman(["image", "inspect", image])
        let object = try #require(
            (try JSONSerialization.jsonObject(with: Data(inspect.output.utf8)) as? [[String: Any]])?.first)
        let config = try #require(object["Config"] as? [String: Any])
        #expect(config["User"] as? String == declared.user)
        #expect(config["Entrypoint"] as? [String] == declared.entrypoint)
        #expect(config["Cmd"] as? [String] == declared.command)
        let labels = (config["Labels"] as? [String: String]) ?? [:]
        // buildah adds io.buildah.version; the OCI labels are exactly the Containerfile's.
        #expect(Set(labels.keys.filter { $0.hasPrefix("org.opencontainers.image.") }) == Set(declared.labels))
        #expect(labels["org.opencontainers.image.version"] == CertctlVersion.current)
        let head = try await ExternalTool.run("/usr/bin/git", ["-C", Self.repository.path, "rev-parse", "HEAD"])
        #expect(
            labels["org.opencontainers.image.revision"] == head.output.trimmingCharacters(in: .whitespacesAndNewlines))
        try await Self.mounted(image) { root in
            let status = try String(contentsOf: root.appendingPathComponent("var/lib/dpkg/status"), encoding: .utf8)
            for package in declared.packages {
                #expect(
                    status.contains("Package: \(package)\nStatus: install ok installed"), "\(package) is installed")
            }
        }
    }

    @Test("no compiler, no package caches, docs or locales, no key material, nothing world-writable but /tmp")
    func contents() async throws {
        let image = try await Built.shared.image()
        try await Self.mounted(image) { root in
            let files = FileManager.default
            for tool in ["cc", "gcc", "c++", "g++", "clang", "swiftc", "swift", "ld", "as", "make"] {
                #expect(!files.fileExists(atPath: root.appendingPathComponent("usr/bin/\(tool)").path), "\(tool)")
            }
            for folder in ["var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"] {
                let entries = (try? files.subpathsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? []
                #expect(entries.isEmpty, "\(folder): \(entries.prefix(5))")
            }
            var worldWritable: [String] = []
            var keys: [String] = []
            let enumerator = files.enumerator(atPath: root.path)
            while let relative = enumerator?.nextObject() as? String {
                let path = root.appendingPathComponent(relative).path
                guard let attributes = try? files.attributesOfItem(atPath: path) else { continue }
                let type = attributes[.type] as? FileAttributeType
                let permissions = (attributes[.posixPermissions] as? Int) ?? 0
                if type != .typeSymbolicLink, permissions & 0o002 != 0, relative != "tmp" {
                    worldWritable.append(relative)
                }
                // Text files only: binaries (certctl, libssl) hold the words as parsing code.
                guard type == .typeRegular, ((attributes[.size] as? Int) ?? 0) < 1 << 20,
                    let data = files.contents(atPath: path), !data.contains(0)
                else { continue }
                if String(decoding: data, as: UTF8.self).contains("PRIVATE KEY-----") { keys.append(relative) }
            }
            #expect(worldWritable.isEmpty, "\(worldWritable)")
            #expect(keys.isEmpty, "\(keys)")
            let certctl = root.appendingPathComponent("usr/local/bin/certctl").path
            #expect(files.isExecutableFile(atPath: certctl))
            // The public suffix list libpsl reads (psl_latest), for registered domains.
            let list = root.appendingPathComponent("usr/share/publicsuffix/public_suffix_list.dafsa").path
            #expect(files.fileExists(atPath: list), "\(list)")
        }
    }

    /// Runs `body` with the image's root filesystem mounted.
    static func mounted(_ image: String, _ body: (URL) throws -> Void) async throws {
        let mount = try await podman(["image", "mount", image])
        let path = mount.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(mount.status == 0, "\(mount.output)")
        defer { _ = Task { try? await podman(["image", "unmount", image]) } }
        try body(URL(fileURLWithPath: path))
    }

    @Test(
        "the job under the chart's security settings: read-only, no capabilities, as 65532, over ingress/ and a state volume"
    )
    func job() async throws {
        let image = try await Built.shared.image()
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        // The meta chart's own Ingresses (ingress/, read-only), an issuer for this Pebble, a state volume.
        let project = try LocalProject.make(server: pebble.directoryURL, sites: [])
        let manifests = Self.repository.appendingPathComponent("ingress").path
        let state = project.directory.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        #expect(chown(state.path, 65532, 65532) == 0)
        func inContainer() async throws -> (ExternalTool.Result, Duration) {
            let clock = ContinuousClock()
            let start = clock.now
            let result = try await Self.podman([
                "run", "--rm", "--network=host", "--read-only", "--cap-drop=ALL",
                "--security-opt", "no-new-privileges", "--user", "65532",
                "-v", "\(manifests):/ingress:ro",
                "-v", "\(project.directory.appendingPathComponent("issuers").path):/issuers:ro",
                "-v", "\(state.path):/state",
                image, "run", "--manifests", "/ingress", "--state", "/state", "--issuers", "/issuers",
                "--default-issuer", "local", "--http01-listen", "127.0.0.1:\(port)",
            ])
            return (result, clock.now - start)
        }
        let (first, firstTime) = try await inContainer()
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("7 certificates in local: 7 issued"), "\(first.output)")
        let secrets = try FileManager.default.contentsOfDirectory(
            atPath: state.appendingPathComponent("secrets/prod").path)
        #expect(secrets.count == 7)
        for file in secrets {
            let secret = try #require(
                try await project.store.secret(namespace: "prod", name: String(file.dropLast(".yaml".count))))
            #expect(CurrentCertificate(secret: secret).isValid(at: Date()), "\(file)")
        }
        let (second, secondTime) = try await inContainer()
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("7 certificates in local: 7 ok"), "\(second.output)")
        #expect(second.output.contains("; 0 ACME requests"), "\(second.output)")

        // The same job outside the container, with the same binary, for the figures.
        let outside = try LocalProject.make(server: pebble.directoryURL, sites: [])
        let release = try await ExternalTool.run(
            "/bin/bash", [Self.repository.appendingPathComponent("scripts/build-release").path])
        let binary = try #require(release.output.split(separator: "\n").last.map(String.init))
        let clock = ContinuousClock()
        let start = clock.now
        let native = try await ExternalTool.run(
            binary,
            [
                "run", "--manifests", manifests, "--state", "state", "--issuers", "issuers", "--default-issuer",
                "local", "--http01-listen", "127.0.0.1:\(port)",
            ], directory: outside.directory)
        let nativeTime = clock.now - start
        #expect(native.status == 0, "\(native.output)")
        print(
            "image job over ingress/: first run (7 issued) \(firstTime) in the container, \(nativeTime) outside; second run (nothing due) \(secondTime) in the container"
        )
    }
}
