// swift-tools-version: 6.0
// The MySQL loader benchmark: its own package so it never slows `swift build` or `make test` of the main
// one. It compiles EsteiraMySQL from the main package's sources (Sources/EsteiraMySQL and Sources/CMySQL
// are symlinks), because the main package exports only the `esteira` executable. Run it with ./run.sh.
import PackageDescription

let package = Package(
    name: "MySQLBench",
    platforms: [.macOS(.v14)],
    targets: [
        .systemLibrary(name: "CMySQL", pkgConfig: "mysqlclient"),
        .target(name: "EsteiraMySQL", dependencies: ["CMySQL"]),
        .executableTarget(name: "MySQLBench", dependencies: ["EsteiraMySQL"]),
    ],
    swiftLanguageModes: [.v6]
)
