import AriaCore
import Foundation
import Testing

private func sid(_ name: String) -> StepID { StepID(trusted: name) }

private func step(_ name: String, after dependencies: [String] = []) -> PlanStep {
    PlanStep(stepID: sid(name), skill: "echo", dependsOn: dependencies.map(sid))
}

/// a -> b -> c
private let linearPlan = Plan(planID: "linear", steps: [step("a"), step("b", after: ["a"]), step("c", after: ["b"])])

/// a -> (b, c) -> d
private let diamondPlan = Plan(planID: "diamond", steps: [
    step("a"), step("b", after: ["a"]), step("c", after: ["a"]), step("d", after: ["b", "c"]),
])

/// root -> x1 ... x5 (no join)
private let fanOutPlan = Plan(planID: "fan-out", steps: [step("root")] + (1...5).map { step("x\($0)", after: ["root"]) })

/// root -> x1, x2, x3 -> join
private let fanInPlan = Plan(planID: "fan-in", steps: [step("root")] + (1...3).map { step("x\($0)", after: ["root"]) }
    + [step("join", after: ["x1", "x2", "x3"])])

private let stepError = AriaError(.skillFailed, "boom", details: ["why": "test"])
private let planError = AriaError(.unknownTemplate, "no such template")
private let stalledError = AriaError(.runStalled, "no progress")

/// An action with the free-text reason of `.ignore` dropped, so expectations do not depend on wording.
private enum Kind: Equatable, CustomStringConvertible {
    case markRunning, dispatch(String), fallback(String), redispatch(String), retry(String), skip(String), cancelStep(String)
    case succeed, fail(AriaError), reject(AriaError), cancelRun, ignore

    init(_ action: RunScheduler.Action) {
        switch action {
        case .markRunning: self = .markRunning
        case .dispatch(let id, .primary): self = .dispatch(id.rawValue)
        case .dispatch(let id, .fallback): self = .fallback(id.rawValue)
        case .redispatch(let id): self = .redispatch(id.rawValue)
        case .retry(let id, _, _): self = .retry(id.rawValue)
        case .skip(let id, _): self = .skip(id.rawValue)
        case .cancelStep(let id, _): self = .cancelStep(id.rawValue)
        case .succeed: self = .succeed
        case .fail(let error): self = .fail(error)
        case .reject(let error): self = .reject(error)
        case .cancelRun: self = .cancelRun
        case .ignore: self = .ignore
        }
    }

    var description: String {
        switch self {
        case .markRunning: "markRunning"
        case .dispatch(let id): "dispatch(\(id))"
        case .fallback(let id): "fallback(\(id))"
        case .redispatch(let id): "redispatch(\(id))"
        case .retry(let id): "retry(\(id))"
        case .skip(let id): "skip(\(id))"
        case .cancelStep(let id): "cancelStep(\(id))"
        case .cancelRun: "cancelRun"
        case .succeed: "succeed"
        case .fail(let error): "fail(\(error.code))"
        case .reject(let error): "reject(\(error.code))"
        case .ignore: "ignore"
        }
    }
}

private func kinds(_ actions: [RunScheduler.Action]) -> [Kind] { actions.map(Kind.init) }

/// The scheduler service reloads the committed snapshot for every event; this does the same after a
/// worker committed `status` for `name`.
private func reloaded(_ machine: RunScheduler, setting name: String, to status: StepStatus, error: AriaError? = nil) -> RunScheduler {
    var steps = machine.steps
    steps[sid(name)]!.status = status
    if status == .running || status == .failed || status == .succeeded, steps[sid(name)]!.attempts == 0 { steps[sid(name)]!.attempts = 1 }
    if let error { steps[sid(name)]!.error = error }
    return RunScheduler(status: machine.status, plan: machine.plan, steps: steps, outputs: machine.outputs, random: machine.random)
}

/// A snapshot where every listed step has the status (and one attempt if it ever ran).
private func snapshot(_ statuses: [String: StepStatus], errors: [String: AriaError] = [:]) -> [StepID: RunScheduler.StepState] {
    Dictionary(uniqueKeysWithValues: statuses.map { name, status in
        let ran = status == .running || status == .succeeded || status == .failed
        return (sid(name), RunScheduler.StepState(status: status, attempts: ran ? 1 : 0, error: errors[name]))
    })
}

/// The statuses of a machine's steps.
private func statuses(_ machine: RunScheduler) -> [StepID: StepStatus] { machine.steps.mapValues(\.status) }

private func statusSnapshot(_ statuses: [String: StepStatus]) -> [StepID: StepStatus] {
    Dictionary(uniqueKeysWithValues: statuses.map { (sid($0.key), $0.value) })
}

/// The clock of every test: actions do not depend on it except for retries.
private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

@Suite("RunScheduler")
struct RunSchedulerTests {
    // MARK: Every (run status, event) pair

    /// Every event kind, on the diamond plan: start, a duplicate finish of a succeeded step, a finish of a
    /// step that is still running, a finish of an unknown step, and a plan rejection.
    static let events: [RunScheduler.Event] = [
        .start, .stepFinished(sid("a")), .stepFinished(sid("b")), .stepFinished(sid("zzz")), .planRejected(planError),
        .reconcile(stale: [sid("b")]), .reconcile(stale: []), .timer, .cancel(reason: "user"), .stalled(stalledError),
    ]

    /// A committed snapshot of the diamond plan that is plausible for `status`.
    static func machine(in status: RunStatus) -> RunScheduler {
        switch status {
        case .accepted, .planning, .rejected:
            return RunScheduler(status: status, plan: diamondPlan)
        case .running:
            return RunScheduler(status: status, plan: diamondPlan,
                                steps: snapshot(["a": .succeeded, "b": .running, "c": .dispatched]))
        case .succeeded:
            return RunScheduler(status: status, plan: diamondPlan,
                                steps: snapshot(["a": .succeeded, "b": .succeeded, "c": .succeeded, "d": .succeeded]))
        case .failed:
            return RunScheduler(status: status, plan: diamondPlan,
                                steps: snapshot(["a": .succeeded, "b": .failed, "c": .succeeded, "d": .skipped], errors: ["b": stepError]))
        case .cancelled:
            return RunScheduler(status: status, plan: diamondPlan,
                                steps: snapshot(["a": .succeeded, "b": .cancelled, "c": .cancelled, "d": .skipped]))
        }
    }

    /// What each pair must do: the actions, and the run status afterwards.
    fileprivate static func expected(_ status: RunStatus, _ event: RunScheduler.Event) -> ([Kind], RunStatus) {
        switch status {
        case .accepted, .planning:
            switch event {
            case .start: return ([.markRunning, .dispatch("a")], .running)
            case .stepFinished: return ([.ignore], status)
            case .planRejected(let error): return ([.reject(error)], .rejected)
            case .reconcile, .timer: return ([.markRunning, .dispatch("a")], .running)  // a lost start: start now
            case .cancel: return ([.skip("a"), .skip("b"), .skip("c"), .skip("d"), .cancelRun], .cancelled)  // nothing ran yet
            case .stalled: return ([.ignore], status)  // the watchdog only fails running runs
            }
        case .running:
            switch event {
            case .start: return ([], .running)  // duplicate start: nothing new is ready
            case .stepFinished(let id) where id == sid("a"): return ([], .running)  // duplicate: b and c already out
            case .stepFinished: return ([.ignore], .running)  // b is running; zzz is unknown
            case .planRejected: return ([.ignore], .running)
            case .reconcile(let stale) where stale.contains(sid("b")): return ([.redispatch("b")], .running)  // b's attempt was lost
            case .reconcile, .timer: return ([], .running)  // nothing stale, nothing ready, nothing waiting
            case .cancel: return ([.cancelStep("b"), .cancelStep("c"), .skip("d"), .cancelRun], .cancelled)
            case .stalled(let error): return ([.cancelStep("b"), .cancelStep("c"), .skip("d"), .fail(error)], .failed)
            }
        case .succeeded, .failed, .rejected, .cancelled:
            return ([.ignore], status)
        }
    }

    @Test("Every run status x event pair has the specified outcome",
          arguments: RunStatus.allCases, RunSchedulerTests.events)
    func statusEventMatrix(status: RunStatus, event: RunScheduler.Event) {
        var machine = Self.machine(in: status)
        let stepsBefore = statuses(machine)
        let (actions, after) = Self.expected(status, event)
        #expect(kinds(machine.handle(event, now: t0)) == actions)
        #expect(machine.status == after)
        if actions == [.ignore] || actions.isEmpty {
            #expect(statuses(machine) == stepsBefore, "an ignored event must not change step statuses")
        }
    }

    @Test("Terminal runs ignore every event, repeatedly, and say why", arguments: RunStatus.allCases.filter(\.isTerminal))
    func terminalRunsIgnoreEverything(status: RunStatus) {
        var machine = Self.machine(in: status)
        for _ in 0..<3 {
            for event in Self.events + [.stepFinished(sid("d")), .stepFinished(sid("c"))] {
                let actions = machine.handle(event, now: t0)
                #expect(actions.count == 1)
                guard case .ignore(let reason)? = actions.first else {
                    Issue.record("expected ignore, got \(actions)")
                    continue
                }
                #expect(reason.contains(status.rawValue))
                #expect(machine.status == status)
            }
        }
    }

    @Test("isTerminal is true exactly for succeeded, failed, rejected and cancelled", arguments: RunStatus.allCases)
    func terminalStatuses(status: RunStatus) {
        switch status {
        case .accepted, .planning, .running: #expect(!status.isTerminal)
        case .succeeded, .failed, .rejected, .cancelled: #expect(status.isTerminal)
        }
    }

    // MARK: start

    @Test("start without a plan is ignored and leaves the run where it was", arguments: [RunStatus.accepted, .planning, .running])
    func startWithoutPlan(status: RunStatus) {
        var machine = RunScheduler(status: status, plan: nil)
        #expect(kinds(machine.handle(.start, now: t0)) == [.ignore])
        #expect(machine.status == status)
        #expect(machine.steps.isEmpty)
    }

    @Test("start dispatches every root step in plan order")
    func startDispatchesRoots() {
        let plan = Plan(planID: "roots", steps: [step("r1"), step("m", after: ["r1"]), step("r2"), step("r3")])
        var machine = RunScheduler(status: .accepted, plan: plan)
        #expect(kinds(machine.handle(.start, now: t0)) == [.markRunning, .dispatch("r1"), .dispatch("r2"), .dispatch("r3")])
        #expect(statuses(machine) == statusSnapshot(["r1": .dispatched, "m": .pending, "r2": .dispatched, "r3": .dispatched]))
    }

    @Test("A duplicate start never marks the run running twice nor re-dispatches")
    func duplicateStart() {
        var machine = RunScheduler(status: .accepted, plan: fanOutPlan)
        #expect(kinds(machine.handle(.start, now: t0)) == [.markRunning, .dispatch("root")])
        for _ in 0..<3 {
            #expect(machine.handle(.start, now: t0).isEmpty)
            #expect(machine.status == .running)
            #expect(machine.status(of: sid("root")) == .dispatched)
        }
    }

    @Test("The initial snapshot fills in missing steps as pending and keeps the given ones")
    func initialSnapshot() {
        let machine = RunScheduler(status: .running, plan: diamondPlan, steps: snapshot(["a": .succeeded]))
        #expect(statuses(machine) == statusSnapshot(["a": .succeeded, "b": .pending, "c": .pending, "d": .pending]))
        #expect(RunScheduler(status: .accepted, plan: nil).steps.isEmpty)
    }

    // MARK: planRejected

    @Test("planRejected rejects an accepted or planning run once", arguments: [RunStatus.accepted, .planning])
    func planRejected(status: RunStatus) {
        var machine = RunScheduler(status: status, plan: nil)
        #expect(machine.handle(.planRejected(planError), now: t0) == [.reject(planError)])
        #expect(machine.status == .rejected)
        #expect(kinds(machine.handle(.planRejected(planError), now: t0)) == [.ignore])
        #expect(kinds(machine.handle(.start, now: t0)) == [.ignore])
        #expect(machine.status == .rejected)
    }

    @Test("planRejected for a running run is ignored")
    func planRejectedWhileRunning() {
        var machine = RunScheduler(status: .accepted, plan: linearPlan)
        _ = machine.handle(.start, now: t0)
        let actions = machine.handle(.planRejected(planError), now: t0)
        #expect(kinds(actions) == [.ignore])
        #expect(machine.status == .running)
        #expect(machine.status(of: sid("a")) == .dispatched)
    }

    // MARK: Linear chain

    @Test("A linear chain dispatches one step at a time and succeeds once")
    func linearChain() {
        var machine = RunScheduler(status: .accepted, plan: linearPlan)
        #expect(kinds(machine.handle(.start, now: t0)) == [.markRunning, .dispatch("a")])

        machine = reloaded(machine, setting: "a", to: .succeeded)
        #expect(kinds(machine.handle(.stepFinished(sid("a")), now: t0)) == [.dispatch("b")])
        #expect(machine.handle(.stepFinished(sid("a")), now: t0).isEmpty, "duplicate must not re-dispatch b")

        machine = reloaded(machine, setting: "b", to: .succeeded)
        #expect(kinds(machine.handle(.stepFinished(sid("b")), now: t0)) == [.dispatch("c")])

        machine = reloaded(machine, setting: "c", to: .succeeded)
        #expect(kinds(machine.handle(.stepFinished(sid("c")), now: t0)) == [.succeed])
        #expect(machine.status == .succeeded)

        for event in [RunScheduler.Event.stepFinished(sid("c")), .stepFinished(sid("a")), .start] {
            #expect(kinds(machine.handle(event, now: t0)) == [.ignore], "a run never completes twice")
        }
    }

    @Test("A finish event for a step that is not finished is ignored but still advances the run")
    func notFinishedStepStillAdvances() {
        // a succeeded but the transaction that should have dispatched b was lost.
        var machine = RunScheduler(status: .running, plan: linearPlan, steps: snapshot(["a": .succeeded, "b": .pending]))
        let actions = kinds(machine.handle(.stepFinished(sid("c")), now: t0))
        #expect(actions == [.ignore, .dispatch("b")])
        #expect(machine.status(of: sid("b")) == .dispatched)
    }

    @Test("A step finish before the run is running is ignored", arguments: [RunStatus.accepted, .planning])
    func stepFinishedBeforeRunning(status: RunStatus) {
        var machine = RunScheduler(status: status, plan: linearPlan, steps: snapshot(["a": .succeeded]))
        #expect(kinds(machine.handle(.stepFinished(sid("a")), now: t0)) == [.ignore])
        #expect(machine.status == status)
        #expect(machine.status(of: sid("b")) == .pending)
    }

    @Test("A finish event for a step that is not in the plan is ignored")
    func unknownStep() {
        var machine = RunScheduler(status: .running, plan: linearPlan, steps: snapshot(["a": .dispatched]))
        let actions = machine.handle(.stepFinished(sid("nope")), now: t0)
        guard case .ignore(let reason)? = actions.first, actions.count == 1 else {
            Issue.record("expected a single ignore, got \(actions)")
            return
        }
        #expect(reason.contains("nope"))
    }

    // MARK: Diamond / join

    @Test("A diamond dispatches the join exactly once, after both branches")
    func diamond() {
        var machine = RunScheduler(status: .accepted, plan: diamondPlan)
        #expect(kinds(machine.handle(.start, now: t0)) == [.markRunning, .dispatch("a")])

        machine = reloaded(machine, setting: "a", to: .succeeded)
        #expect(kinds(machine.handle(.stepFinished(sid("a")), now: t0)) == [.dispatch("b"), .dispatch("c")])

        machine = reloaded(machine, setting: "b", to: .succeeded)
        #expect(machine.handle(.stepFinished(sid("b")), now: t0).isEmpty, "d must wait for c")
        #expect(machine.status(of: sid("d")) == .pending)

        machine = reloaded(machine, setting: "c", to: .succeeded)
        #expect(kinds(machine.handle(.stepFinished(sid("c")), now: t0)) == [.dispatch("d")])
        for duplicate in ["a", "b", "c"] {
            #expect(machine.handle(.stepFinished(sid(duplicate)), now: t0).isEmpty)
        }
        #expect(machine.handle(.start, now: t0).isEmpty)

        machine = reloaded(machine, setting: "d", to: .succeeded)
        #expect(kinds(machine.handle(.stepFinished(sid("d")), now: t0)) == [.succeed])
        #expect(kinds(machine.handle(.stepFinished(sid("d")), now: t0)) == [.ignore])
    }

    @Test("When both branches finish together, the two finish events dispatch the join once")
    func joinRace() {
        var machine = RunScheduler(status: .running, plan: diamondPlan,
                                   steps: snapshot(["a": .succeeded, "b": .succeeded, "c": .succeeded]))
        var dispatched: [Kind] = []
        dispatched += kinds(machine.handle(.stepFinished(sid("b")), now: t0))
        dispatched += kinds(machine.handle(.stepFinished(sid("c")), now: t0))
        dispatched += kinds(machine.handle(.stepFinished(sid("b")), now: t0))
        #expect(dispatched == [.dispatch("d")])
    }

    @Test("Under every completion order with duplicates, each step is dispatched once and the run succeeds once",
          arguments: RunSchedulerTests.permutations(of: ["x1", "x2", "x3"]))
    func everyCompletionOrder(order: [String]) {
        var machine = RunScheduler(status: .accepted, plan: fanInPlan)
        var all: [Kind] = kinds(machine.handle(.start, now: t0))
        var finished: [String] = []
        func finish(_ name: String) {
            machine = reloaded(machine, setting: name, to: .succeeded)
            finished.append(name)
            all += kinds(machine.handle(.stepFinished(sid(name)), now: t0))
            // Redeliveries of every earlier finish, and a late duplicate start.
            for earlier in finished { all += kinds(machine.handle(.stepFinished(sid(earlier)), now: t0)) }
            all += kinds(machine.handle(.start, now: t0))
        }
        finish("root")
        for name in order { finish(name) }
        finish("join")

        for name in ["root", "x1", "x2", "x3", "join"] {
            #expect(all.filter { $0 == .dispatch(name) }.count == 1, "\(name) dispatched once")
        }
        #expect(all.filter { $0 == .succeed }.count == 1)
        #expect(all.filter { $0 == .markRunning }.count == 1)
        #expect(!all.contains { if case .fail = $0 { true } else { false } })
        #expect(machine.status == .succeeded)
        // The join is dispatched only after the last branch finished.
        let joinIndex = all.firstIndex(of: .dispatch("join"))!
        let lastBranchDispatch = all.lastIndex { if case .dispatch(let id) = $0 { id.hasPrefix("x") } else { false } }!
        #expect(joinIndex > lastBranchDispatch)
    }

    static func permutations(of items: [String]) -> [[String]] {
        guard items.count > 1 else { return [items] }
        return items.indices.flatMap { index in
            var rest = items
            let head = rest.remove(at: index)
            return permutations(of: rest).map { [head] + $0 }
        }
    }

    // MARK: Fan-out

    @Test("A fan-out dispatches every child at once and succeeds only when all have succeeded")
    func fanOut() {
        var machine = RunScheduler(status: .accepted, plan: fanOutPlan)
        _ = machine.handle(.start, now: t0)
        machine = reloaded(machine, setting: "root", to: .succeeded)
        #expect(kinds(machine.handle(.stepFinished(sid("root")), now: t0)) == (1...5).map { .dispatch("x\($0)") })
        for index in 1...4 {
            machine = reloaded(machine, setting: "x\(index)", to: .succeeded)
            #expect(machine.handle(.stepFinished(sid("x\(index)")), now: t0).isEmpty)
            #expect(machine.status == .running)
        }
        machine = reloaded(machine, setting: "x5", to: .succeeded)
        #expect(kinds(machine.handle(.stepFinished(sid("x5")), now: t0)) == [.succeed])
        #expect(machine.status == .succeeded)
    }

    // MARK: Failure under abort

    @Test("A failed step under abort skips every pending step and fails the run with its error")
    func failureSkipsPending() {
        var machine = RunScheduler(status: .running, plan: linearPlan, steps: snapshot(["a": .failed], errors: ["a": stepError]))
        #expect(kinds(machine.handle(.stepFinished(sid("a")), now: t0)) == [.skip("b"), .skip("c"), .fail(stepError)])
        #expect(machine.status == .failed)
        #expect(statuses(machine) == statusSnapshot(["a": .failed, "b": .skipped, "c": .skipped]))
        #expect(kinds(machine.handle(.stepFinished(sid("a")), now: t0)) == [.ignore], "a run never fails twice")
    }

    @Test("A failure cancels in-flight steps and skips pending ones")
    func failureCancelsInFlightSteps() {
        var machine = RunScheduler(status: .running, plan: diamondPlan,
                                   steps: snapshot(["a": .succeeded, "b": .failed, "c": .running], errors: ["b": stepError]))
        #expect(kinds(machine.handle(.stepFinished(sid("b")), now: t0)) == [.cancelStep("c"), .skip("d"), .fail(stepError)])
        #expect(machine.status(of: sid("c")) == .cancelled)
        #expect(machine.status(of: sid("d")) == .skipped)
        // c's late result changes nothing.
        machine = reloaded(machine, setting: "c", to: .succeeded)
        #expect(kinds(machine.handle(.stepFinished(sid("c")), now: t0)) == [.ignore])
        #expect(machine.status == .failed)
    }

    @Test("A failure in a fan-out with nothing pending cancels the in-flight children and fails the run")
    func failureWithNothingPending() {
        var machine = RunScheduler(status: .running, plan: fanOutPlan, steps: snapshot([
            "root": .succeeded, "x1": .succeeded, "x2": .failed, "x3": .running, "x4": .dispatched, "x5": .succeeded,
        ], errors: ["x2": stepError]))
        #expect(kinds(machine.handle(.stepFinished(sid("x2")), now: t0)) == [.cancelStep("x3"), .cancelStep("x4"), .fail(stepError)])
        #expect(machine.status == .failed)
    }

    @Test("A failure wins over dispatching: ready steps are skipped, not dispatched")
    func failureBeatsDispatch() {
        // b and c are both ready to go after a, but c already failed in this (replayed) snapshot.
        var machine = RunScheduler(status: .running, plan: diamondPlan,
                                   steps: snapshot(["a": .succeeded, "b": .pending, "c": .failed], errors: ["c": stepError]))
        let actions = kinds(machine.handle(.stepFinished(sid("a")), now: t0))
        #expect(actions == [.skip("b"), .skip("d"), .fail(stepError)])
        #expect(!actions.contains { if case .dispatch = $0 { true } else { false } })
    }

    @Test("A failed step without a recorded error fails the run with skill_failed naming the step")
    func failureWithoutRecordedError() {
        var machine = RunScheduler(status: .running, plan: linearPlan, steps: snapshot(["a": .succeeded, "b": .failed]))
        let actions = machine.handle(.stepFinished(sid("b")), now: t0)
        #expect(kinds(actions).first == .skip("c"))
        guard case .fail(let error)? = actions.last else {
            Issue.record("expected fail, got \(actions)")
            return
        }
        #expect(error.code == .skillFailed)
        #expect(error.message.contains("'b'"))
        #expect(error.category == .permanent)
    }

    @Test("A failure already in the snapshot fails the run on a duplicate start too")
    func failureOnStart() {
        var machine = RunScheduler(status: .running, plan: linearPlan, steps: snapshot(["a": .failed], errors: ["a": stepError]))
        #expect(kinds(machine.handle(.start, now: t0)) == [.skip("b"), .skip("c"), .fail(stepError)])
        #expect(machine.status == .failed)
    }

    @Test("Action and event values compare by content")
    func equatable() {
        #expect(RunScheduler.Event.stepFinished(sid("a")) != .stepFinished(sid("b")))
        #expect(RunScheduler.Action.fail(stepError) != .fail(planError))
        #expect(RunScheduler.Action.dispatch(sid("a"), .primary) == .dispatch(sid("a"), .primary))
        #expect(RunScheduler.Action.dispatch(sid("a"), .primary) != .dispatch(sid("a"), .fallback))
    }
}
