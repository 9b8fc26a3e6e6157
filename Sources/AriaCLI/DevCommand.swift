import AriaCore
import AriaLocalCluster
import ArgumentParser
import Foundation
import Logging

/// `aria dev`: a local cluster (nats-server, Postgres, every service) in a state directory.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dev", abstract: "Run a local cluster.", subcommands: [Up.self, Down.self, Status.self])

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "up", abstract: "Start nats-server, Postgres and every service; leave them running.")
        @OptionGroup var cluster: ClusterOptions
        @Option(help: "Worker replicas.") var workers = 2
        @Option(help: "Gateway replicas.") var gateways = 1
        @Option(help: "Scheduler replicas.") var schedulers = 1
        @Option(help: "Planner replicas.") var planners = 1
        @Option(help: "Plan templates directory.") var plans = "config/plans"
        @Option(name: .customLong("pool"), help: "Workers of another skill pool, <pool>=<count> (repeatable), e.g. --pool slow=2; move skills there with ARIA_SKILL_POOLS.")
        var pools: [String] = []

        /// `--pool` values as worker counts by pool.
        func poolWorkers() throws -> [String: Int] {
            var counts: [String: Int] = [:]
            for item in pools {
                let parts = item.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
                guard parts.count == 2, SubjectSafeName.isValid(parts[0]), let count = Int(parts[1]), count >= 0 else {
                    throw ValidationError("--pool must be <pool>=<count> with a pool name matching [a-z0-9_-]{1,64}, got '\(item)'")
                }
                counts[parts[0]] = count
            }
            return counts
        }

        func run() async throws {
            let state = cluster.stateDir.map { URL(fileURLWithPath: $0).standardizedFileURL } ?? ClusterEnvironment.defaultStateDirectory()
            if FileManager.default.fileExists(atPath: state.appendingPathComponent("run/nats-server.pidfile").path) {
                print("a cluster seems to be running in \(state.path); stopping it first")
                await LocalCluster.downDetached(stateDirectory: state)
            }
            var logger = cluster.logger
            logger.logLevel = cluster.verbose ? .debug : .notice
            var options = LocalClusterOptions(
                stateDirectory: state, plansDirectory: URL(fileURLWithPath: plans).standardizedFileURL,
                replicas: ["gateway": gateways, "planner": planners, "scheduler": schedulers, "worker": workers], detached: true)
            options.poolWorkers = try poolWorkers()
            // Recorded in cluster.env, so that `aria skills` shows the pools the services use.
            if let assignments = ProcessInfo.processInfo.environment["ARIA_SKILL_POOLS"] { options.environment["ARIA_SKILL_POOLS"] = assignments }
            let local = try await LocalCluster.up(options, logger: logger)
            print("""
            Aria local cluster is up (state: \(state.path))
              nats:     \(local.nats.url)  (JetStream, auth on; users in \(state.path)/nats-server.conf)
              postgres: 127.0.0.1:\(local.postgres.port) database aria
              services: \(local.allProcesses.keys.sorted().joined(separator: ", "))
              logs:     \(state.path)/logs/
            Try: aria submit --template hello --param name=world --watch
            Stop: aria dev down
            """)
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "down", abstract: "Stop exactly what `aria dev up` started.")
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let state = cluster.stateDir.map { URL(fileURLWithPath: $0).standardizedFileURL } ?? ClusterEnvironment.defaultStateDirectory()
            await LocalCluster.downDetached(stateDirectory: state)
            print("stopped the local cluster in \(state.path)")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show which local services are running and ready.")
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let state = cluster.stateDir.map { URL(fileURLWithPath: $0).standardizedFileURL } ?? ClusterEnvironment.defaultStateDirectory()
            let run = state.appendingPathComponent("run")
            let files = (try? FileManager.default.contentsOfDirectory(atPath: run.path)) ?? []
            if files.isEmpty { print("no local cluster in \(state.path)"); return }
            for file in files.sorted() where file.hasSuffix(".pid") || file.hasSuffix(".pidfile") {
                let name = file.replacingOccurrences(of: ".pidfile", with: "").replacingOccurrences(of: ".pid", with: "")
                let pid = Int32((try? String(contentsOf: run.appendingPathComponent(file), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
                let alive = pid > 0 && kill(pid, 0) == 0
                let ready = FileManager.default.fileExists(atPath: run.appendingPathComponent("\(name).ready").path)
                print("\(name.padding(toLength: 14, withPad: " ", startingAt: 0)) pid \(pid)  \(alive ? "running" : "stopped")\(name == "nats-server" ? "" : (ready ? ", ready" : ", not ready"))")
            }
        }
    }
}
