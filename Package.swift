// swift-tools-version:6.2
import PackageDescription

/// Strict concurrency everywhere; wrapper modules also make every import internal by default,
/// so a C type can never leak through their public API.
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]
let wrapper: [SwiftSetting] = strict + [.enableUpcomingFeature("InternalImportsByDefault")]

let package = Package(
    name: "aria",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "aria", targets: ["aria"]),
        .executable(name: "aria-gateway", targets: ["aria-gateway"]),
        .executable(name: "aria-planner", targets: ["aria-planner"]),
        .executable(name: "aria-scheduler", targets: ["aria-scheduler"]),
        .executable(name: "aria-worker", targets: ["aria-worker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Plan templates (config/plans/*.yaml) and the skill configuration (config/skills.yaml) are YAML files.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // C libraries, each visible only to its wrapper module.
        .systemLibrary(name: "CNATS", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Wrappers: own the handles, type the errors, keep blocking calls off the cooperative pool.
        .target(name: "AriaNATS", dependencies: ["CNATS", .product(name: "Logging", package: "swift-log")],
                swiftSettings: wrapper),
        .target(name: "AriaPostgres", dependencies: ["CLibPQ", .product(name: "Logging", package: "swift-log")],
                swiftSettings: wrapper),
        .target(name: "AriaHTTP", dependencies: ["CCurl", .product(name: "Logging", package: "swift-log")],
                swiftSettings: wrapper),

        // The domain: pure Swift, no C, no I/O.
        .target(name: "AriaCore", swiftSettings: strict),

        // Durable state (migrations, run store, outbox) and the bus contract (subjects, streams, envelopes on the wire).
        .target(name: "AriaStore", dependencies: ["AriaCore", "AriaPostgres", .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .target(name: "AriaBus", dependencies: ["AriaCore", "AriaStore", "AriaNATS", .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),

        // Plumbing every service shares: configuration, consumers, outbox relay, readiness, bootstrap.
        // (Yams: the skill configuration, config/skills.yaml, which every service reads.)
        .target(name: "AriaRuntime", dependencies: [
            "AriaCore", "AriaStore", "AriaBus", "AriaNATS", "AriaPostgres",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: strict),

        // One library per service (testable without main), one thin executable each.
        .target(name: "AriaGateway", dependencies: ["AriaRuntime"], swiftSettings: strict),
        .target(name: "AriaPlanner", dependencies: ["AriaRuntime", .product(name: "Yams", package: "Yams")],
                swiftSettings: strict),
        .target(name: "AriaScheduler", dependencies: ["AriaRuntime"], swiftSettings: strict),
        .target(name: "AriaWorker", dependencies: ["AriaRuntime", "AriaHTTP", "AriaPostgres"], swiftSettings: strict),

        // Starting local nats-server and Postgres processes: `aria dev`, `aria bench` and the tests.
        .target(name: "AriaLocalCluster", dependencies: ["AriaCore"], swiftSettings: strict),

        .executableTarget(name: "aria-gateway", dependencies: ["AriaGateway"], swiftSettings: strict),
        .executableTarget(name: "aria-planner", dependencies: ["AriaPlanner"], swiftSettings: strict),
        .executableTarget(name: "aria-scheduler", dependencies: ["AriaScheduler"], swiftSettings: strict),
        .executableTarget(name: "aria-worker", dependencies: ["AriaWorker", "AriaHTTP", "AriaPostgres"], swiftSettings: strict),
        .target(name: "AriaCLI", dependencies: [
            "AriaRuntime", "AriaLocalCluster", "AriaPlanner",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .executableTarget(name: "aria", dependencies: ["AriaCLI"], swiftSettings: strict),

        // Test support: real servers on free ports, built executables as processes.
        .target(name: "AriaTestSupport", dependencies: ["AriaLocalCluster", "AriaRuntime", "AriaCLI", "AriaPostgres"], swiftSettings: strict),

        .testTarget(name: "AriaCoreTests", dependencies: ["AriaCore"], swiftSettings: strict),
        .testTarget(name: "AriaPostgresTests", dependencies: ["AriaPostgres", "AriaTestSupport"], swiftSettings: strict),
        .testTarget(name: "AriaNATSTests", dependencies: ["AriaNATS", "AriaTestSupport"], swiftSettings: strict),
        .testTarget(name: "AriaHTTPTests", dependencies: ["AriaHTTP", "AriaTestSupport"], swiftSettings: strict),
        .testTarget(name: "AriaIntegrationTests", dependencies: [
            "AriaTestSupport", "AriaGateway", "AriaPlanner", "AriaScheduler", "AriaWorker", "AriaCLI", "AriaLocalCluster", "AriaHTTP",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),
        .testTarget(name: "AriaEndToEndTests", dependencies: ["AriaTestSupport", "AriaCLI"], swiftSettings: strict),
    ]
)
