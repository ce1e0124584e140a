import ArgumentParser

/// The benchmarks live in their own executable, `nightshift-bench`, so this binary carries no
/// benchmark code or test doubles. `nightshift bench …` only says where they went.
struct BenchMoved: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Moved: the benchmarks are the nightshift-bench executable.",
        shouldDisplay: false)

    @Argument(parsing: .allUnrecognized) var rest: [String] = []

    func run() async throws {
        writeErr(
            """
            nightshift: the benchmarks are their own executable now: swift build -c release --product nightshift-bench, \
            then .build/release/nightshift-bench \((rest.first ?? "steps")) (docs/benchmarks.md describes them)

            """)
        throw ExitCode(64)
    }
}
