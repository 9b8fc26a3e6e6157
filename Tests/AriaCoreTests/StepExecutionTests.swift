import AriaCore
import Testing

private let skillError = AriaError(.skillFailed, "the skill gave up")

@Suite("StepExecution")
struct StepExecutionTests {
    // MARK: Every (step status, event) pair

    /// The events of the matrix, relative to the snapshot's current token.
    enum EventKind: String, CaseIterable, Sendable {
        case deliver
        case finishSucceededCurrentToken
        case finishFailedCurrentToken
        case finishStaleToken
        case finishFutureToken

        func event(currentToken token: Int64) -> StepExecution.Event {
            switch self {
            case .deliver: .deliver
            case .finishSucceededCurrentToken: .finish(fencingToken: token, outcome: .succeeded)
            case .finishFailedCurrentToken: .finish(fencingToken: token, outcome: .failed(skillError))
            case .finishStaleToken: .finish(fencingToken: token - 1, outcome: .succeeded)
            case .finishFutureToken: .finish(fencingToken: token + 1, outcome: .succeeded)
            }
        }
    }

    /// A committed snapshot (attempts, fencing token) plausible for `status`.
    static func snapshot(_ status: StepStatus) -> StepExecution {
        switch status {
        case .pending, .skipped, .waiting: StepExecution(status: status, attempts: 0, fencingToken: 0)
        case .cancelled: StepExecution(status: status, attempts: 1, fencingToken: 4)
        case .dispatched: StepExecution(status: status, attempts: 0, fencingToken: 0)
        case .running: StepExecution(status: status, attempts: 2, fencingToken: 7)
        case .succeeded, .failed: StepExecution(status: status, attempts: 1, fencingToken: 3)
        }
    }

    /// The actions and the resulting (status, attempts, token) of each pair.
    static func expected(_ before: StepExecution, _ kind: EventKind) -> ([StepExecution.Action], StepStatus, Int, Int64) {
        let event = kind.event(currentToken: before.fencingToken)
        let unchanged = (before.status, before.attempts, before.fencingToken)
        func stale(_ got: Int64) -> [StepExecution.Action] { [.rejectStale(expected: before.fencingToken, got: got)] }
        switch before.status {
        case .pending, .skipped, .waiting:
            switch event {
            case .deliver: return ([.drop("step is \(before.status.rawValue)")], unchanged.0, unchanged.1, unchanged.2)
            case .finish(let token, _): return (stale(token), unchanged.0, unchanged.1, unchanged.2)
            }
        case .cancelled:
            switch event {
            case .deliver: return ([.drop("step is cancelled")], unchanged.0, unchanged.1, unchanged.2)
            case .finish: return ([.drop("step was cancelled; the result is discarded")], unchanged.0, unchanged.1, unchanged.2)
            }
        case .dispatched:
            switch event {
            case .deliver:
                return ([.startAttempt(number: before.attempts + 1, fencingToken: before.fencingToken + 1, superseding: nil)],
                        .running, before.attempts + 1, before.fencingToken + 1)
            case .finish(let token, _): return (stale(token), unchanged.0, unchanged.1, unchanged.2)
            }
        case .running:
            switch event {
            case .deliver:
                return ([.startAttempt(number: before.attempts + 1, fencingToken: before.fencingToken + 1, superseding: before.attempts)],
                        .running, before.attempts + 1, before.fencingToken + 1)
            case .finish(let token, let outcome) where token == before.fencingToken:
                let status: StepStatus = outcome == .succeeded ? .succeeded : .failed
                return ([.record(outcome)], status, before.attempts, before.fencingToken)
            case .finish(let token, _):
                return (stale(token), unchanged.0, unchanged.1, unchanged.2)
            }
        case .succeeded, .failed:
            switch event {
            case .deliver: return ([.alreadyFinished(before.status)], unchanged.0, unchanged.1, unchanged.2)
            case .finish(let token, _): return (stale(token), unchanged.0, unchanged.1, unchanged.2)
            }
        }
    }

    @Test("Every step status x event pair has the specified outcome",
          arguments: StepStatus.allCases, EventKind.allCases)
    func statusEventMatrix(status: StepStatus, kind: EventKind) {
        var machine = Self.snapshot(status)
        let (actions, afterStatus, afterAttempts, afterToken) = Self.expected(machine, kind)
        #expect(machine.handle(kind.event(currentToken: machine.fencingToken)) == actions)
        #expect(machine.status == afterStatus)
        #expect(machine.attempts == afterAttempts)
        #expect(machine.fencingToken == afterToken)
    }

    @Test("isTerminal is true exactly for succeeded, failed, skipped and cancelled", arguments: StepStatus.allCases)
    func terminalStatuses(status: StepStatus) {
        switch status {
        case .pending, .waiting, .dispatched, .running: #expect(!status.isTerminal)
        case .succeeded, .failed, .skipped, .cancelled: #expect(status.isTerminal)
        }
    }

    @Test("Only running attempts are not terminal", arguments: AttemptStatus.allCases)
    func attemptTerminal(status: AttemptStatus) {
        #expect(status.isTerminal == (status != .running))
    }

    // MARK: Scenarios

    @Test("First delivery starts attempt 1 with token 1; its result is recorded")
    func firstDelivery() {
        var machine = StepExecution(status: .dispatched, attempts: 0, fencingToken: 0)
        #expect(machine.handle(.deliver) == [.startAttempt(number: 1, fencingToken: 1, superseding: nil)])
        #expect(machine.handle(.finish(fencingToken: 1, outcome: .succeeded)) == [.record(.succeeded)])
        #expect(machine.status == .succeeded)
        #expect(machine.attempts == 1)
        #expect(machine.fencingToken == 1)
    }

    @Test("A failed outcome is recorded with its error and the step fails")
    func failedOutcome() {
        var machine = StepExecution(status: .dispatched, attempts: 0, fencingToken: 0)
        _ = machine.handle(.deliver)
        #expect(machine.handle(.finish(fencingToken: 1, outcome: .failed(skillError))) == [.record(.failed(skillError))])
        #expect(machine.status == .failed)
        #expect(machine.handle(.deliver) == [.alreadyFinished(.failed)])
    }

    @Test("Redelivery of a running step supersedes it; the old attempt's late result is rejected as stale")
    func redeliverySupersedes() {
        var machine = StepExecution(status: .dispatched, attempts: 0, fencingToken: 0)
        _ = machine.handle(.deliver)
        #expect(machine.handle(.deliver) == [.startAttempt(number: 2, fencingToken: 2, superseding: 1)])
        #expect(machine.status == .running)

        // The presumed-dead worker comes back with attempt 1's token.
        #expect(machine.handle(.finish(fencingToken: 1, outcome: .succeeded)) == [.rejectStale(expected: 2, got: 1)])
        #expect(machine.status == .running, "a stale result must not end the step")

        #expect(machine.handle(.finish(fencingToken: 2, outcome: .failed(skillError))) == [.record(.failed(skillError))])
        #expect(machine.status == .failed)
    }

    @Test("Repeated redeliveries give strictly increasing attempt numbers and tokens, each superseding the previous")
    func repeatedRedeliveries() {
        var machine = StepExecution(status: .dispatched, attempts: 0, fencingToken: 0)
        for number in 1...6 {
            let actions = machine.handle(.deliver)
            #expect(actions == [.startAttempt(number: number, fencingToken: Int64(number), superseding: number == 1 ? nil : number - 1)])
        }
        for stale in Int64(0)...5 {
            #expect(machine.handle(.finish(fencingToken: stale, outcome: .succeeded)) == [.rejectStale(expected: 6, got: stale)])
        }
        #expect(machine.handle(.finish(fencingToken: 6, outcome: .succeeded)) == [.record(.succeeded)])
    }

    @Test("Tokens continue from the committed snapshot, not from zero")
    func tokensContinueFromSnapshot() {
        var machine = StepExecution(status: .running, attempts: 3, fencingToken: 41)
        #expect(machine.handle(.deliver) == [.startAttempt(number: 4, fencingToken: 42, superseding: 3)])
    }

    @Test("A finished step is never recorded twice: redeliveries and duplicate results change nothing",
          arguments: [StepStatus.succeeded, .failed])
    func finishedStepIsIdempotent(status: StepStatus) {
        var machine = StepExecution(status: status, attempts: 1, fencingToken: 1)
        for _ in 0..<3 {
            #expect(machine.handle(.deliver) == [.alreadyFinished(status)])
            let duplicate = machine.handle(.finish(fencingToken: 1, outcome: .succeeded))
            #expect(!duplicate.contains(.record(.succeeded)))
            #expect(duplicate.count == 1)
            if case .rejectStale? = duplicate.first {} else { Issue.record("expected the duplicate result to be dropped, got \(duplicate)") }
        }
        #expect(machine.status == status)
        #expect(machine.attempts == 1)
        #expect(machine.fencingToken == 1)
    }

    @Test("Deliveries for steps that should not run are dropped without starting an attempt",
          arguments: [StepStatus.pending, .skipped])
    func dropped(status: StepStatus) {
        var machine = StepExecution(status: status, attempts: 0, fencingToken: 0)
        let actions = machine.handle(.deliver)
        guard case .drop(let reason)? = actions.first, actions.count == 1 else {
            Issue.record("expected drop, got \(actions)")
            return
        }
        #expect(reason.contains(status.rawValue))
        #expect(machine.status == status)
        #expect(machine.attempts == 0)
    }
}
