import ArgumentParser

/// `aria bench`: throughput and latency of the real cluster (see docs/performance.md).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmark a local cluster with the production durability settings.")

    func run() async throws {
        throw ValidationError("not implemented yet")
    }
}
