// swift-tools-version: 6.1
// Benchmarks of Moosync Audio Share, on ordo-one/benchmark (package-benchmark), which needs
// tools 6.1; the main package stays on 6.0 for the speaker image (DESIGN §2, §3).
// `MoosyncAudioShare` is a link to the repository root, so the dependency has the same identity
// wherever the repository is cloned.
import PackageDescription

let package = Package(
    name: "MoosyncBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: "MoosyncAudioShare"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "AudioPath",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AudioPathHarness", package: "MoosyncAudioShare"),
            ],
            path: "Benchmarks/AudioPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
