// swift-tools-version: 6.0
import PackageDescription

// A package of its own so the benchmark never slows the main build or `make test`. It compiles
// the main package's EsteiraAWS and EsteiraSync sources through symlinks (the main package exports no library).
let package = Package(
    name: "EsteiraAWSBench",
    platforms: [.macOS(.v15)],
    dependencies: [.package(url: "https://github.com/apple/swift-log", from: "1.16.2")],
    targets: [
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl"),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto"),
        .target(name: "EsteiraSync"),
        .target(
            name: "EsteiraAWS",
            dependencies: [
                "CCurl", "COpenSSL", "EsteiraSync", .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(name: "aws-bench", dependencies: ["EsteiraAWS"]),
    ],
    swiftLanguageModes: [.v6]
)
