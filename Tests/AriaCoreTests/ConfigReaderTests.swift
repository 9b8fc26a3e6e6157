import AriaCore
import Foundation
import Testing

private func configuration(_ environment: [String: String], service: String = "scheduler") throws(AriaError) -> ServiceConfiguration {
    try ServiceConfiguration(service: service, reader: ConfigReader(environment: environment))
}

private func configurationError(_ environment: [String: String]) -> AriaError? {
    do {
        _ = try configuration(environment)
        return nil
    } catch {
        return error
    }
}

/// A file in the temporary directory holding `contents`; removed by `remove()`.
private struct TemporaryFile {
    let path: String

    init(contents: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("aria-config-test-\(UUID().uuidString)").path
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("ConfigReader and ServiceConfiguration")
struct ConfigReaderTests {
    // MARK: ConfigReader primitives

    @Test("string: the value when set, the default when unset or empty")
    func string() {
        let reader = ConfigReader(environment: ["SET": "value", "EMPTY": ""])
        #expect(reader.string("SET", default: "d") == "value")
        #expect(reader.string("EMPTY", default: "d") == "d")
        #expect(reader.string("UNSET", default: "d") == "d")
        #expect(reader.optionalString("SET") == "value")
        #expect(reader.optionalString("EMPTY") == nil)
        #expect(reader.optionalString("UNSET") == nil)
    }

    @Test("int: default, value within range, and boundaries")
    func int() throws {
        let reader = ConfigReader(environment: ["N": "42", "LOW": "1", "HIGH": "10", "EMPTY": "", "PLUS": "+7"])
        #expect(try reader.int("UNSET", default: 5) == 5)
        #expect(try reader.int("EMPTY", default: 5) == 5)
        #expect(try reader.int("N", default: 5) == 42)
        #expect(try reader.int("LOW", default: 5, range: 1...10) == 1)
        #expect(try reader.int("HIGH", default: 5, range: 1...10) == 10)
        #expect(try reader.int("PLUS", default: 5) == 7)
    }

    @Test("int: non-integers and out-of-range values are invalid_configuration naming the key", arguments: [
        "abc", "1.5", " 5", "5 ", "0x10", "11", "0", "-1", "99999999999999999999999",
    ])
    func invalidInt(text: String) {
        let reader = ConfigReader(environment: ["ARIA_N": text])
        do {
            _ = try reader.int("ARIA_N", default: 5, range: 1...10)
            Issue.record("'\(text)' was accepted")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains("ARIA_N"))
            #expect(error.message.contains("1...10"))
            #expect(error.category == .permanent)
        }
    }

    @Test("duration: default, product format, and invalid text")
    func duration() throws {
        let reader = ConfigReader(environment: ["D": "1m30s", "BAD": "90", "ZERO": "0s", "NEG": "-1s"])
        #expect(try reader.duration("UNSET", default: .seconds(3)) == .seconds(3))
        #expect(try reader.duration("D", default: .seconds(3)).milliseconds == 90_000)
        for key in ["BAD", "ZERO", "NEG"] {
            #expect(throws: AriaError.self) { try reader.duration(key, default: .seconds(3)) }
            do { _ = try reader.duration(key, default: .seconds(3)) } catch {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.hasPrefix(key + "="))
            }
        }
    }

    @Test("bool: accepted spellings in any case", arguments: [
        ("1", true), ("true", true), ("TRUE", true), ("yes", true), ("On", true),
        ("0", false), ("false", false), ("False", false), ("no", false), ("OFF", false),
    ])
    func bool(text: String, expected: Bool) throws {
        let reader = ConfigReader(environment: ["B": text])
        #expect(try reader.bool("B", default: !expected) == expected)
    }

    @Test("bool: default when unset or empty; anything else is invalid_configuration")
    func boolDefaultsAndErrors() throws {
        let reader = ConfigReader(environment: ["EMPTY": "", "BAD": "maybe", "TWO": "2"])
        #expect(try reader.bool("UNSET", default: true))
        #expect(try !reader.bool("EMPTY", default: false))
        for key in ["BAD", "TWO"] {
            do {
                _ = try reader.bool(key, default: true)
                Issue.record("\(key) was accepted")
            } catch {
                #expect(error.code == .invalidConfiguration)
            }
        }
    }

    // MARK: Secrets

    @Test("secret: the variable itself, else the trimmed content of <KEY>_FILE, else nil")
    func secrets() throws {
        let file = try TemporaryFile(contents: "  s3cr3t-from-file \n\n")
        defer { file.remove() }
        let fromFile = ConfigReader(environment: ["PW_FILE": file.path])
        #expect(try fromFile.secret("PW") == Secret("s3cr3t-from-file"))

        let direct = ConfigReader(environment: ["PW": "direct", "PW_FILE": file.path])
        #expect(try direct.secret("PW") == Secret("direct"), "the variable wins over the file")

        let emptyVariable = ConfigReader(environment: ["PW": "", "PW_FILE": file.path])
        #expect(try emptyVariable.secret("PW") == Secret("s3cr3t-from-file"), "an empty variable counts as unset")

        #expect(try ConfigReader(environment: [:]).secret("PW") == nil)
        #expect(try ConfigReader(environment: ["PW_FILE": ""]).secret("PW") == nil)
    }

    @Test("secret: an unreadable *_FILE is invalid_configuration naming the variable")
    func unreadableSecretFile() {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("aria-missing-\(UUID().uuidString)").path
        do {
            _ = try ConfigReader(environment: ["PW_FILE": missing]).secret("PW")
            Issue.record("a missing file was accepted")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains("PW_FILE"))
        }
    }

    @Test("secret: an empty *_FILE is invalid_configuration, like an unreadable one")
    func emptySecretFile() throws {
        let file = try TemporaryFile(contents: " \n")
        defer { file.remove() }
        #expect(throws: AriaError.self) { try ConfigReader(environment: ["PW_FILE": file.path]).secret("PW") }
    }

    @Test("A Secret never shows its value when printed")
    func secretRedacted() {
        struct Holder { var password: Secret }
        let secret = Secret("hunter2")
        #expect(secret.value == "hunter2")
        #expect(secret.description == "<redacted>")
        #expect("\(secret)" == "<redacted>")
        #expect(String(describing: secret) == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        #expect(!"\(Holder(password: secret))".contains("hunter2"))
        #expect(!"\([secret])".contains("hunter2"))
        #expect(!"\(Optional(secret) as Any)".contains("hunter2"))
    }

    @Test("A Secret does not show its value in a dump or a Mirror")
    func secretNotInDump() {
        var output = ""
        dump(Secret("hunter2"), to: &output)
        #expect(!output.contains("hunter2"))
    }

    // MARK: ServiceConfiguration

    @Test("Defaults with an empty environment")
    func defaults() throws {
        let config = try configuration([:], service: "gateway")
        #expect(config.natsURLs == ["nats://127.0.0.1:4222"])
        #expect(config.natsUser == "gateway")
        #expect(config.natsPassword == nil)
        #expect(config.databaseURL == Secret("postgres://aria@127.0.0.1:5432/aria"))
        #expect(config.databasePoolSize == 8)
        #expect(config.instance == "gateway-\(ProcessInfo.processInfo.processIdentifier)")
        #expect(config.logLevel == "info")
        #expect(config.readyFile == nil)
        #expect(config.drainGrace == .seconds(10))
        #expect(config.fetchBatch == 64)
        #expect(config.maxJobBytes == 524_288)
        #expect(config.maxPlanSteps == 200)
        #expect(config.workerSlots == 64)
        #expect(config.workerPool == "default")
        #expect(config.plansDirectory == "config/plans")
        #expect(config.outboxSweepInterval == .seconds(1))
        #expect(config.outboxGrace == .seconds(3))
        #expect(config.apiMaxInFlight == 256)
    }

    @Test("Every setting can be overridden")
    func overrides() throws {
        let config = try configuration([
            "ARIA_NATS_URL": "nats://a:4222,nats://b:4223",
            "ARIA_NATS_USER": "sched-user",
            "ARIA_NATS_PASSWORD": "nats-pw",
            "ARIA_DATABASE_URL": "postgres://u:p@db:5432/aria",
            "ARIA_DB_POOL_SIZE": "32",
            "ARIA_INSTANCE": "scheduler-7",
            "ARIA_LOG_LEVEL": "debug",
            "ARIA_READY_FILE": "/tmp/ready",
            "ARIA_DRAIN_GRACE": "45s",
            "ARIA_FETCH_BATCH": "128",
            "ARIA_MAX_JOB_BYTES": "1048576",
            "ARIA_MAX_PLAN_STEPS": "500",
            "ARIA_WORKER_SLOTS": "4",
            "ARIA_WORKER_POOL": "gpu-1",
            "ARIA_PLANS_DIR": "/etc/aria/plans",
            "ARIA_OUTBOX_SWEEP": "250ms",
            "ARIA_OUTBOX_GRACE": "5s",
            "ARIA_API_MAX_INFLIGHT": "1000",
        ])
        #expect(config.natsURLs == ["nats://a:4222", "nats://b:4223"])
        #expect(config.natsUser == "sched-user")
        #expect(config.natsPassword == Secret("nats-pw"))
        #expect(config.databaseURL == Secret("postgres://u:p@db:5432/aria"))
        #expect(config.databasePoolSize == 32)
        #expect(config.instance == "scheduler-7")
        #expect(config.logLevel == "debug")
        #expect(config.readyFile == "/tmp/ready")
        #expect(config.drainGrace == .seconds(45))
        #expect(config.fetchBatch == 128)
        #expect(config.maxJobBytes == 1_048_576)
        #expect(config.maxPlanSteps == 500)
        #expect(config.workerSlots == 4)
        #expect(config.workerPool == "gpu-1")
        #expect(config.plansDirectory == "/etc/aria/plans")
        #expect(config.outboxSweepInterval.milliseconds == 250)
        #expect(config.outboxGrace == .seconds(5))
        #expect(config.apiMaxInFlight == 1000)
    }

    @Test("Range boundaries are accepted", arguments: [
        ("ARIA_DB_POOL_SIZE", "1"), ("ARIA_DB_POOL_SIZE", "256"),
        ("ARIA_FETCH_BATCH", "1"), ("ARIA_FETCH_BATCH", "1024"),
        ("ARIA_MAX_JOB_BYTES", "1024"), ("ARIA_MAX_JOB_BYTES", "67108864"),
        ("ARIA_MAX_PLAN_STEPS", "1"), ("ARIA_MAX_PLAN_STEPS", "10000"),
        ("ARIA_WORKER_SLOTS", "1"), ("ARIA_WORKER_SLOTS", "4096"),
        ("ARIA_API_MAX_INFLIGHT", "1"), ("ARIA_API_MAX_INFLIGHT", "100000"),
    ])
    func boundaries(key: String, value: String) {
        #expect(configurationError([key: value]) == nil)
    }

    @Test("Invalid values are invalid_configuration naming the variable", arguments: [
        ("ARIA_DB_POOL_SIZE", "0"), ("ARIA_DB_POOL_SIZE", "257"), ("ARIA_DB_POOL_SIZE", "eight"),
        ("ARIA_FETCH_BATCH", "0"), ("ARIA_FETCH_BATCH", "1025"),
        ("ARIA_MAX_JOB_BYTES", "1023"), ("ARIA_MAX_JOB_BYTES", "67108865"), ("ARIA_MAX_JOB_BYTES", "512KiB"),
        ("ARIA_MAX_PLAN_STEPS", "0"), ("ARIA_MAX_PLAN_STEPS", "10001"),
        ("ARIA_WORKER_SLOTS", "0"), ("ARIA_WORKER_SLOTS", "4097"), ("ARIA_WORKER_SLOTS", "-4"),
        ("ARIA_API_MAX_INFLIGHT", "0"), ("ARIA_API_MAX_INFLIGHT", "100001"),
        ("ARIA_DRAIN_GRACE", "10"), ("ARIA_DRAIN_GRACE", "ten seconds"), ("ARIA_DRAIN_GRACE", "0s"),
        ("ARIA_OUTBOX_SWEEP", "1.5s"), ("ARIA_OUTBOX_GRACE", "-3s"), ("ARIA_OUTBOX_GRACE", "8d"),
        ("ARIA_WORKER_POOL", "GPU Pool"), ("ARIA_WORKER_POOL", "pool.with.dots"),
        ("ARIA_WORKER_POOL", String(repeating: "p", count: 65)),
    ])
    func invalidValues(key: String, value: String) {
        let error = configurationError([key: value])
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(key) == true, "\(String(describing: error))")
    }

    @Test("Secrets are read from *_FILE variables")
    func secretFiles() throws {
        let database = try TemporaryFile(contents: "postgres://aria:file-pw@db/aria\n")
        let nats = try TemporaryFile(contents: "nats-file-pw")
        defer {
            database.remove()
            nats.remove()
        }
        let config = try configuration(["ARIA_DATABASE_URL_FILE": database.path, "ARIA_NATS_PASSWORD_FILE": nats.path])
        #expect(config.databaseURL.value == "postgres://aria:file-pw@db/aria")
        #expect(config.natsPassword?.value == "nats-file-pw")
    }

    @Test("A *_FILE naming a missing file is invalid_configuration", arguments: ["ARIA_DATABASE_URL_FILE", "ARIA_NATS_PASSWORD_FILE"])
    func missingSecretFile(key: String) {
        let error = configurationError([key: "/nonexistent/aria/\(UUID().uuidString)"])
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(key) == true)
    }

    @Test("The description shows the settings but never the secrets")
    func descriptionRedacted() throws {
        let config = try configuration([
            "ARIA_NATS_PASSWORD": "nats-hunter2", "ARIA_DATABASE_URL": "postgres://aria:db-hunter2@db/aria",
            "ARIA_INSTANCE": "sched-a", "ARIA_NATS_URL": "nats://n1:4222",
        ])
        let text = config.description
        #expect(!text.contains("hunter2"))
        #expect(text.contains("instance=sched-a"))
        #expect(text.contains("nats=nats://n1:4222"))
        #expect(text.contains("user=scheduler"))
        #expect(!"\(config)".contains("hunter2"))
    }

    @Test("NATS URLs are split on commas; empty entries are dropped")
    func natsURLList() throws {
        #expect(try configuration(["ARIA_NATS_URL": "nats://a:1,,nats://b:2,"]).natsURLs == ["nats://a:1", "nats://b:2"])
    }

    @Test("NATS URLs separated by a comma and a space are trimmed")
    func natsURLsTrimmed() throws {
        #expect(try configuration(["ARIA_NATS_URL": "nats://a:1, nats://b:2"]).natsURLs == ["nats://a:1", "nats://b:2"])
    }

    @Test("An unknown ARIA_LOG_LEVEL is invalid_configuration",
          arguments: ["verbose", "DEBUG", "warn"])
    func invalidLogLevel(level: String) {
        #expect(configurationError(["ARIA_LOG_LEVEL": level])?.code == .invalidConfiguration)
    }

    @Test("The system clock tells the current time")
    func systemClock() {
        let before = Date()
        let now = SystemClock().now()
        #expect(now >= before)
        #expect(now.timeIntervalSince(before) < 60)
    }
}
