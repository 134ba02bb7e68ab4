// swift-tools-version: 6.0
import PackageDescription

// Dependency arrows point down (see docs/ARCHITECTURE.md):
//   esteira → EsteiraWorker → EsteiraPipeline → {EsteiraAWS, EsteiraCSV, EsteiraMySQL} → C shims
let package = Package(
    name: "Esteira",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "esteira", targets: ["esteira"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssh", from: "0.15.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // C libraries, each reached only through its shim.h.
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CMySQL", pkgConfig: "mysqlclient",
            providers: [.apt(["default-libmysqlclient-dev"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // The one lock building block (a Mutex in a final class, for state shared by reference).
        .target(name: "EsteiraSync"),

        // Adapters and pure logic; none of these three knows the others.
        .target(
            name: "EsteiraAWS",
            dependencies: [
                "CCurl", "COpenSSL", "EsteiraSync",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "EsteiraCSV", dependencies: ["CZlib"]),
        .target(name: "EsteiraMySQL", dependencies: ["CMySQL", "EsteiraSync"]),

        // One file: route → fetch → parse → load. Knows no queue.
        .target(
            name: "EsteiraPipeline",
            dependencies: [
                "EsteiraAWS", "EsteiraCSV", "EsteiraMySQL",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // /healthz, /readyz and /metrics on NIO, shared by the worker and the SFTP gateway.
        .target(
            name: "EsteiraStatus",
            dependencies: [
                "EsteiraSync",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        // The fleet: polling, claims, retries, dead letters.
        .target(
            name: "EsteiraWorker",
            dependencies: [
                "EsteiraPipeline", "EsteiraAWS", "EsteiraStatus", "EsteiraSync",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        // The SFTP gateway: SSH on swift-nio-ssh, files straight into the landing bucket. Knows no queue.
        .target(
            name: "EsteiraSFTP",
            dependencies: [
                "EsteiraAWS", "COpenSSL", "EsteiraStatus", "EsteiraSync",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .executableTarget(
            name: "esteira",
            dependencies: [
                "EsteiraWorker", "EsteiraSFTP", "EsteiraStatus",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Test helpers shared by test targets (a loopback HTTP server and fault-injecting proxy).
        .target(
            name: "EsteiraTestSupport", dependencies: ["EsteiraAWS", "EsteiraSync"], path: "Tests/EsteiraTestSupport"),
        // In-memory queue, jobs table and scripted loader: the worker's decisions tested without servers.
        .target(
            name: "EsteiraWorkerTestSupport", dependencies: ["EsteiraWorker", "EsteiraPipeline", "EsteiraAWS"],
            path: "Tests/EsteiraWorkerTestSupport"),
        .testTarget(name: "EsteiraAWSTests", dependencies: ["EsteiraAWS", "EsteiraSync", "EsteiraTestSupport"]),
        .testTarget(name: "EsteiraCSVTests", dependencies: ["EsteiraCSV"]),
        .testTarget(name: "EsteiraMySQLTests", dependencies: ["EsteiraMySQL"]),
        .testTarget(name: "EsteiraPipelineTests", dependencies: ["EsteiraPipeline"]),
        .testTarget(
            name: "EsteiraWorkerTests",
            dependencies: [
                "EsteiraWorker", "EsteiraWorkerTestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "EsteiraStatusTests", dependencies: ["EsteiraStatus"]),
        .testTarget(
            name: "EsteiraSFTPTests",
            dependencies: [
                "EsteiraSFTP", "EsteiraAWS", "EsteiraSync", "EsteiraTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ], exclude: ["Support/paramiko_client.py", "Support/paramiko_after_login.py", "Support/hostile_client.py"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "EsteiraWorker", "EsteiraPipeline", "EsteiraAWS", "EsteiraMySQL",
                "EsteiraTestSupport",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
