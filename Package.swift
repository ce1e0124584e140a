// swift-tools-version:6.2
import PackageDescription

/// One set of settings for every target (STYLE.md §3.1): Swift 6 mode, strict concurrency,
/// explicit imports so a module's dependencies are visible in its source.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "nightshift",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nightshift", targets: ["nightshift"]),
        .executable(name: "nightshift-bench", targets: ["nightshift-bench"]),
        .library(name: "NightshiftCore", targets: ["NightshiftCore"]),
        .library(name: "NightshiftHarness", targets: ["NightshiftHarness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", exact: "0.12.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),  // the server tests' HTTP types
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // Pure: events, run state (the fold), decisions, ports. No IO, no clock, no randomness.
        .target(
            name: "NightshiftCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),
        // Session: the event store on SQLite (GRDB).
        .target(
            name: "NightshiftSQLite",
            dependencies: ["NightshiftCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings),
        // Session on PostgreSQL: the same log, chain and leases as SQLite, for many hosts.
        .target(
            name: "NightshiftPostgres",
            dependencies: [
                "NightshiftCore", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // Brain I/O: model providers (for now the scripted test double).
        .target(
            name: "NightshiftModels",
            dependencies: ["NightshiftCore", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: swiftSettings),
        // Plan and scenario files (YAML or JSON) with errors that name the line.
        .target(
            name: "NightshiftConfig",
            dependencies: ["NightshiftCore", "NightshiftModels", "Yams"],
            swiftSettings: swiftSettings),
        // Two glibc calls Swift's Glibc module hides (they need _GNU_SOURCE).
        .target(name: "CNightshiftSpawn"),
        // Hands: workspace-confined tools and the process runner.
        .target(
            name: "NightshiftHands",
            dependencies: [
                "NightshiftCore", "CNightshiftSpawn", .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // Brain loop: wake, fold, decide, act, append. Works through the ports only.
        .target(
            name: "NightshiftHarness",
            dependencies: ["NightshiftCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),
        // In-memory twins for tests and benchmarks.
        .target(
            name: "NightshiftTesting",
            dependencies: ["NightshiftCore"],
            swiftSettings: swiftSettings),
        // The application layer every front end calls: the use cases (start, resume, inspect, decide,
        // cancel, the inbox) and the composition root that picks the concrete adapters for them.
        .target(
            name: "NightshiftRuntime",
            dependencies: [
                "NightshiftCore", "NightshiftSQLite", "NightshiftPostgres", "NightshiftModels", "NightshiftHands",
                "NightshiftHarness", "NightshiftConfig", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        // The HTTP API (`nightshift serve`): a front end of the runtime, like the CLI.
        .target(
            name: "NightshiftServer",
            dependencies: [
                "NightshiftCore", "NightshiftRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        // The commands: parse, call the runtime, print.
        .target(
            name: "NightshiftCLI",
            dependencies: [
                "NightshiftCore", "NightshiftSQLite", "NightshiftModels", "NightshiftHands",
                "NightshiftHarness", "NightshiftConfig", "NightshiftRuntime", "NightshiftServer",
                .product(name: "Crypto", package: "swift-crypto"),  // audit checkpoints (Ed25519)
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // The benchmarks (W1–W3, tools, policy, context, provider) and their doubles: not in the product.
        .executableTarget(
            name: "nightshift-bench",
            dependencies: [
                "NightshiftCLI", "NightshiftCore", "NightshiftSQLite", "NightshiftModels", "NightshiftHands",
                "NightshiftHarness", "NightshiftRuntime", "NightshiftServer", "NightshiftTesting", "NightshiftPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "nightshift",
            dependencies: ["NightshiftCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),

        .testTarget(
            name: "NightshiftCoreTests", dependencies: ["NightshiftCore", "NightshiftTesting"],
            exclude: ["golden-events.jsonl"],  // read by path: the committed encoding of every event kind
            swiftSettings: swiftSettings),
        // The HTTP API over real HTTP on loopback, in this process.
        .testTarget(
            name: "NightshiftServerTests",
            dependencies: [
                "NightshiftCore", "NightshiftConfig", "NightshiftRuntime", "NightshiftSQLite", "NightshiftServer",
                "NightshiftTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // The use cases in-process, on the in-memory twins and on SQLite (no binary spawned).
        .testTarget(
            name: "NightshiftRuntimeTests",
            dependencies: [
                "NightshiftCore", "NightshiftRuntime", "NightshiftSQLite", "NightshiftTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "NightshiftStoreTests",
            dependencies: [
                "NightshiftCore", "NightshiftSQLite", "NightshiftPostgres", "NightshiftTesting", "NightshiftHarness",
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "NightshiftModelsTests",
            dependencies: ["NightshiftCore", "NightshiftModels", "NightshiftTesting"],
            resources: [.copy("Golden")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "NightshiftConfigTests", dependencies: ["NightshiftCore", "NightshiftConfig", "NightshiftTesting"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "NightshiftHandsTests", dependencies: ["NightshiftCore", "NightshiftHands", "NightshiftTesting"],
            swiftSettings: swiftSettings),
        // The harness and the use cases in this process, on the twins and real adapters.
        .testTarget(
            name: "NightshiftHarnessTests",
            dependencies: [
                "NightshiftCore", "NightshiftHarness", "NightshiftTesting", "NightshiftModels",
                "NightshiftHands", "NightshiftSQLite", "NightshiftConfig", "NightshiftRuntime",
            ],
            swiftSettings: swiftSettings),
        // What needs a real process: the `nightshift` executable's commands, output and exit
        // statuses, kills mid-run, signals, the sandbox under a run, servers a run talks to.
        .testTarget(
            name: "NightshiftEndToEndTests",
            dependencies: [
                "NightshiftCore", "NightshiftHarness", "NightshiftTesting", "NightshiftModels",
                "NightshiftHands", "NightshiftSQLite", "NightshiftPostgres", "NightshiftConfig", "NightshiftCLI",
                "NightshiftRuntime", .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"],  // read by path: a database written by an earlier main
            swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
