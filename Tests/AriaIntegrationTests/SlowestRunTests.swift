@testable import AriaCLI
import Testing

/// `aria bench`'s report of each scenario's slowest run: which hop its time sat in.
@Suite struct SlowestRunTests {
    /// A run whose third transaction started 500 ms after its second: the row names that wait and what
    /// the transactions around it wrote, then the time from the last transaction's start to the client.
    @Test func theLongestWaitBetweenTransactionsIsNamed() throws {
        let run = SlowestRun(latency: 606.7, transactions: [
            .init(start: 2.5, events: "accepted, planned, step_started split, step_succeeded split"),
            .init(start: 80.0, events: "step_started b3, step_succeeded b3"),
            .init(start: 580.0, events: "step_started join, step_succeeded join, succeeded"),
        ])
        #expect(run.longestWait?.before.start == 80.0)
        #expect(run.longestWait?.after.start == 580.0)
        let row = try #require(run.row("F burst"))
        #expect(row == "| F burst | 606.7 | 2.5 | 500.0 (after `step_started b3, step_succeeded b3` at 80.0, before `step_started join, step_succeeded join, succeeded`) | 26.7 | 3 |")
    }

    /// A run of one transaction has no wait between transactions; a run without events has no row.
    @Test func oneTransactionHasNoWaitAndNoTransactionsNoRow() throws {
        let single = SlowestRun(latency: 1.4, transactions: [.init(start: 0.3, events: "accepted, succeeded")])
        #expect(single.longestWait == nil)
        #expect(try #require(single.row("A one at a time")) == "| A one at a time | 1.4 | 0.3 | - | 1.1 | 1 |")
        #expect(SlowestRun(latency: 3, transactions: []).row("x") == nil)
    }

    /// Long event lists are cut to their last 60 characters before the wait and their first 60 after it.
    @Test func longEventListsAreCut() throws {
        let many = (0..<20).map { "step_succeeded b\($0)" }.joined(separator: ", ")
        let run = SlowestRun(latency: 50, transactions: [.init(start: 1, events: many), .init(start: 40, events: many)])
        let row = try #require(run.row("F"))
        #expect(row.contains("(after `\(many.suffix(60))` at 1.0, before `\(many.prefix(60))`)"))
        #expect(!row.contains(many))
    }
}
