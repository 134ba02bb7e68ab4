// swift-tools-version: 6.0
// The CSV engine benchmark: its own package so it never slows `swift build` or `make test` of the main
// one. It compiles EsteiraCSV from the main package's sources (Sources/EsteiraCSV and Sources/CZlib are
// symlinks). Run it with ./run.sh.
import PackageDescription

let package = Package(
    name: "CSVBench",
    platforms: [.macOS(.v15)],
    targets: [
        .systemLibrary(name: "CZlib", pkgConfig: "zlib"),
        .target(name: "EsteiraCSV", dependencies: ["CZlib"]),
        .executableTarget(name: "csvbench", dependencies: ["EsteiraCSV"]),
    ],
    swiftLanguageModes: [.v6]
)
