// swift-tools-version: 6.0
// The MySQL loader benchmark: its own package so it never slows `swift build` or `make test` of the main
// one. It compiles EsteiraMySQL from the main package's sources (Sources/EsteiraMySQL, Sources/EsteiraSync
// and Sources/CMySQL are symlinks), because the main package exports only the `esteira` executable. Run it with ./run.sh.
import PackageDescription

let package = Package(
    name: "MySQLBench",
    platforms: [.macOS(.v15)],
    targets: [
        .systemLibrary(name: "CMySQL", pkgConfig: "mysqlclient"),
        .target(name: "EsteiraSync"),
        .target(name: "EsteiraMySQL", dependencies: ["CMySQL", "EsteiraSync"]),
        .executableTarget(name: "MySQLBench", dependencies: ["EsteiraMySQL"]),
    ],
    swiftLanguageModes: [.v6]
)
