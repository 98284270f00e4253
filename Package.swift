// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "certctl",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "certctl", targets: ["certctl"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        // The public suffix list through libpsl (a dependency of libcurl already), for the
        // registered domain a CA's per-domain rate limit counts; the list is Debian's publicsuffix.
        .systemLibrary(
            name: "CPSL",
            pkgConfig: "libpsl",
            providers: [.apt(["libpsl-dev", "publicsuffix"])]
        ),
        // glibc's mallopt, for the number of malloc arenas (certctl's main).
        .systemLibrary(name: "CMalloc"),
        .target(name: "Basics", swiftSettings: strict),
        .target(
            name: "Transport",
            dependencies: [
                "Basics",
                "CCurlShim",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Certificates",
            dependencies: [
                "Basics",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ACME",
            dependencies: [
                "Transport",
                "Basics",
                "Certificates",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "DNS",
            dependencies: ["Basics", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "Kubernetes",
            dependencies: [
                "Transport",
                "Basics",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CertctlCore",
            dependencies: [
                "ACME",
                "CPSL",
                "Certificates",
                "DNS",
                "Kubernetes",
                "Transport",
                "Basics",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "certctl",
            dependencies: [
                "ACME",
                "Certificates",
                "CertctlCore",
                "DNS",
                "Kubernetes",
                "Transport",
                "Basics",
                .target(name: "CMalloc", condition: .when(platforms: [.linux])),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            plugins: ["GitCommit"]
        ),
        .plugin(name: "GitCommit", capability: .buildTool()),
        .target(
            name: "CertctlTestSupport",
            dependencies: [
                "ACME",
                "Certificates",
                "CertctlCore",
                "DNS",
                "Kubernetes",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                "Transport",
                "Basics",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CertctlFuzz",
            dependencies: ["ACME", "Basics", "Certificates", "CertctlCore", "DNS", "Kubernetes", "Transport"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "certctl-fuzz",
            dependencies: ["CertctlFuzz"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "certctl-fakeapi",
            dependencies: [
                "CertctlCore",
                "CertctlTestSupport",
                "Certificates",
                "Kubernetes",
                "Transport",
                "Basics",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CertctlTests",
            dependencies: [
                "ACME",
                "Certificates",
                "CertctlCore",
                "CertctlFuzz",
                "DNS",
                "Kubernetes",
                "CertctlTestSupport",
                "Transport",
                "Basics",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ]
)
