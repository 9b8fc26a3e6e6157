import AriaBus
import AriaCore
import AriaNATS
import AriaPostgres
import AriaStore
import ArgumentParser
import Foundation
import Logging

/// `aria workers`: the live workers, from the `ARIA_WORKERS` presence bucket (admin NATS user).
struct WorkersCommand: AsyncParsableCommand {
    /// The command's name and help.
    static let configuration = CommandConfiguration(
        commandName: "workers", abstract: "List live workers: id, pool, skills, slots, steps in flight, age (admin).")

    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Print the workers' presence records as a JSON array.") var json = false
    @Option(help: "Only the workers of this pool.") var pool: String?

    /// Reads the bucket as the admin and prints the workers.
    func run() async throws {
        let environment = cluster.environment
        let nats = try await NATSConnection.connect(
            NATSConnectOptions(urls: environment.natsURLs, user: "admin", password: environment.natsPassword(user: "admin"), name: "aria-workers"),
            logger: cluster.logger)
        defer { nats.close() }
        let bucket = try await BusProvisioner(jetStream: try nats.jetStream(), logger: cluster.logger).requireBucket(Buckets.workers)
        let workers = try await WorkerPresence.all(in: bucket).filter { pool == nil || $0.pool == pool }
        if json {
            print(String(decoding: try Wire.encode(workers), as: UTF8.self))
        } else {
            print(Self.table(workers, now: Date()), terminator: "")
        }
    }

    /// The workers as a text table (a header line, one line per worker, then a total).
    static func table(_ workers: [WorkerPresence], now: Date) -> String {
        var rows = [["WORKER", "POOL", "SKILLS", "SLOTS", "IN FLIGHT", "AGE", "SEEN"]]
        for worker in workers {
            rows.append([worker.worker, worker.pool, worker.skills.joined(separator: ","), String(worker.slots), String(worker.inFlight),
                         TextTable.age(now.timeIntervalSince(worker.startedAt)), TextTable.age(now.timeIntervalSince(worker.updatedAt)) + " ago"])
        }
        let slots = workers.reduce(0) { $0 + $1.slots }, busy = workers.reduce(0) { $0 + $1.inFlight }
        return TextTable.render(rows) + "\(workers.count) worker\(workers.count == 1 ? "" : "s"), \(busy)/\(slots) slots busy\n"
    }
}

/// `aria skills`: the skill registry with each skill's circuit breaker (Postgres).
struct SkillsCommand: AsyncParsableCommand {
    /// The command's name and help.
    static let configuration = CommandConfiguration(
        commandName: "skills", abstract: "List the skills (name, version, pool, default timeout) with their circuit breakers.")

    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Print JSON.") var json = false

    /// One skill as `aria skills --json` prints it.
    struct Listing: Codable, Sendable, Equatable {
        /// The skill's name.
        var name: String
        /// Its contract version; nil for a breaker of a skill the registry does not know.
        var version: String?
        /// The pool that runs it.
        var pool: String?
        /// Its default timeout.
        var defaultTimeout: AriaDuration?
        /// Its breaker.
        var breaker: Breaker

        /// The JSON field names.
        enum CodingKeys: String, CodingKey { case name, version, pool, defaultTimeout = "default_timeout", breaker }
    }

    /// A breaker as `aria skills --json` prints it.
    struct Breaker: Codable, Sendable, Equatable {
        /// `closed`, `open` or `half_open`.
        var state: String
        /// Consecutive counted failures.
        var consecutiveFailures: Int
        /// When it last opened.
        var openedAt: Date?
        /// When its probe was let through.
        var probeAt: Date?
        /// The last counted failure.
        var lastError: AriaError?
        /// When it last changed; nil for a skill that never had a counted failure.
        var updatedAt: Date?

        /// The JSON field names.
        enum CodingKeys: String, CodingKey {
            case state, consecutiveFailures = "consecutive_failures", openedAt = "opened_at", probeAt = "probe_at", lastError = "last_error", updatedAt = "updated_at"
        }
    }

    /// Reads the catalog (with `ARIA_SKILL_POOLS`) and the breakers, and prints them.
    func run() async throws {
        let environment = cluster.environment
        let catalog = try SkillCatalog.configured(reader: environment.reader)
        let pool = PostgresPool(config: try PostgresConfig(url: environment.databaseURL), maxConnections: 1, logger: cluster.logger)
        let records: [SkillBreakerRecord]
        do {
            records = try await RunStore(pool: pool, origin: "cli", subjects: Subjects(), outboxGrace: AriaDuration(milliseconds: 1000)).breakerStates()
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
        let listings = Self.listings(catalog: catalog, breakers: records)
        if json {
            print(String(decoding: try Wire.encode(listings), as: UTF8.self))
        } else {
            print(Self.table(listings, now: Date()), terminator: "")
        }
    }

    /// Every skill of the catalog with its breaker (closed when it has no row), then breakers of skills
    /// the catalog does not know; sorted by name.
    static func listings(catalog: SkillCatalog, breakers: [SkillBreakerRecord]) -> [Listing] {
        let byName = Dictionary(breakers.map { ($0.skill, $0) }, uniquingKeysWith: { first, _ in first })
        func breaker(_ record: SkillBreakerRecord?) -> Breaker {
            let value = record?.breaker ?? .closed
            return Breaker(state: value.state.rawValue, consecutiveFailures: value.consecutiveFailures, openedAt: value.openedAt,
                           probeAt: value.probeAt, lastError: value.lastError, updatedAt: record?.updatedAt)
        }
        var listings = catalog.skills.values.map { descriptor in
            Listing(name: descriptor.name, version: descriptor.version, pool: descriptor.pool, defaultTimeout: descriptor.defaultTimeout,
                    breaker: breaker(byName[descriptor.name]))
        }
        for record in breakers where catalog[record.skill] == nil {
            listings.append(Listing(name: record.skill, version: nil, pool: nil, defaultTimeout: nil, breaker: breaker(record)))
        }
        return listings.sorted { $0.name < $1.name }
    }

    /// The listings as a text table.
    static func table(_ listings: [Listing], now: Date) -> String {
        var rows = [["SKILL", "VERSION", "POOL", "TIMEOUT", "BREAKER", "FAILURES", "OPENED", "PROBE", "LAST ERROR"]]
        for listing in listings {
            let breaker = listing.breaker
            rows.append([
                listing.name, listing.version ?? "-", listing.pool ?? "(not in registry)", listing.defaultTimeout.map { "\($0)" } ?? "-",
                breaker.state, String(breaker.consecutiveFailures),
                breaker.openedAt.map { TextTable.age(now.timeIntervalSince($0)) + " ago" } ?? "-",
                breaker.probeAt.map { TextTable.age(now.timeIntervalSince($0)) + " ago" } ?? "-",
                breaker.lastError.map { "\($0.code)" } ?? "-",
            ])
        }
        return TextTable.render(rows)
    }
}

/// Plain text tables for the CLI.
enum TextTable {
    /// Left-aligned columns separated by two spaces, one line per row.
    static func render(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// A short age: `45s`, `3m12s`, `2h05m`, `3d04h` (negative ages, from clock skew, count as 0).
    static func age(_ seconds: TimeInterval) -> String {
        let total = max(0, Int(seconds.rounded(.down)))
        switch total {
        case ..<60: return "\(total)s"
        case ..<3600: return "\(total / 60)m\(String(format: "%02d", total % 60))s"
        case ..<86_400: return "\(total / 3600)h\(String(format: "%02d", total % 3600 / 60))m"
        default: return "\(total / 86_400)d\(String(format: "%02d", total % 86_400 / 3600))h"
        }
    }
}
