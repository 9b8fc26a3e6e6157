import AriaPostgres
import Testing

/// PostgresConfig and PostgresError as plain values: no server needed.
@Suite struct PostgresConfigTests {
    /// Every URL part is read and percent-decoded.
    @Test func parsesEveryPartWithPercentDecoding() throws {
        let config = try PostgresConfig(
            url: "postgres://ar%20ia:p%40ss%3Aw%2Frd@db.example:6543/my%2Ddb?application_name=aria%20worker&connect_timeout=7&sslmode=require")
        #expect(config.user == "ar ia")
        #expect(config.password == "p@ss:w/rd")
        #expect(config.host == "db.example")
        #expect(config.port == 6543)
        #expect(config.database == "my-db")
        #expect(config.applicationName == "aria worker")
        #expect(config.connectTimeout == .seconds(7))
        #expect(config.sslMode == "require")
    }

    /// Missing URL parts take the documented defaults.
    @Test func appliesDefaults() throws {
        let config = try PostgresConfig(url: "postgresql://aria@localhost")
        #expect(config.host == "localhost")
        #expect(config.port == 5432)
        #expect(config.password == nil)
        #expect(config.database == "aria")
        #expect(config.applicationName == "aria")
        #expect(config.connectTimeout == .seconds(5))
    }

    /// Bracketed IPv6 hosts and empty passwords parse.
    @Test func parsesIPv6HostsAndEmptyPasswords() throws {
        let config = try PostgresConfig(url: "postgres://u:@[::1]:5433/d")
        #expect(config.host == "::1")
        #expect(config.port == 5433)
        #expect(config.password == "")
        #expect(config.description.contains("[::1]:5433"))
    }

    /// Malformed URLs and unknown parameters throw `.invalidURL`.
    @Test(arguments: [
        "mysql://u@h/d", "u@h/d", "postgres://:pw@h/d", "postgres://u@h:99999/d", "postgres://u@h:x/d",
        "postgres://u:%zz@h/d", "postgres://u@h/d?sslmod=disable", "postgres://u@[::1/d",
    ])
    func rejectsInvalidURLs(_ url: String) {
        #expect {
            try PostgresConfig(url: url)
        } throws: { error in
            (error as? PostgresError)?.code == .invalidURL
        }
    }

    /// The description never shows the password.
    @Test func descriptionRedactsThePassword() throws {
        let config = try PostgresConfig(url: "postgres://aria:s3cret-Value@127.0.0.1:5432/aria")
        #expect(!config.description.contains("s3cret"))
        #expect(config.description.contains("********"))
        let noPassword = PostgresConfig(user: "aria", password: nil, database: "aria")
        #expect(!noPassword.description.contains("****"))
    }

    /// SQLSTATEs and codes map to retryable and connection-loss errors; descriptions omit details.
    @Test func classifiesErrors() {
        func error(_ code: PostgresError.Code, _ state: String?) -> PostgresError {
            PostgresError(code: code, message: "m", sqlState: state)
        }
        func error(_ state: String) -> PostgresError { error(.queryFailed, state) }
        #expect(error("40001").isRetryableTransaction)
        #expect(error("40P01").isRetryableTransaction)
        #expect(!error("23505").isRetryableTransaction)
        #expect(error("08006").isConnectionLoss)
        #expect(error("57P01").isConnectionLoss)
        #expect(error("57P03").isConnectionLoss)
        #expect(!error("57014").isConnectionLoss)
        #expect(error(.connectionLost, nil).isConnectionLoss)
        #expect(error(.connectionFailed, nil).isConnectionLoss)
        #expect(!error(.commitOutcomeUnknown, nil).isConnectionLoss)
        #expect(!error(.poolTimeout, nil).isConnectionLoss)
        let described = PostgresError(code: .queryFailed, message: "dup", sqlState: "23505", detail: "Key (id)=(7)", query: "INSERT INTO t VALUES ($1)")
        #expect(described.description.contains("23505"))
        #expect(described.description.contains("INSERT INTO t"))
        #expect(!described.description.contains("Key (id)"))
        #expect(String(reflecting: described).contains("Key (id)"))
    }
}
