import Foundation

/// The scheduling state machine of one run: given the run's current state (as committed in Postgres) and
/// an event, it returns what to do. Pure: the scheduler service loads the state under a row lock, applies
/// the actions in the same transaction, and commits.
///
/// It is level-triggered: whatever the event, it settles failed steps (retry, fallback, continue or
/// abort), resolves every pending step whose dependencies have all ended (dispatch, or skip by its
/// condition or join rule), dispatches waiting steps whose time has come, and ends the run when every step
/// has ended. A duplicate or late event therefore never dispatches a step twice and never ends a run twice,
/// and since every step ends in a finite number of transitions, a run never hangs on a join.
///
/// The rules:
/// - A failed step with a retry policy, an error of a retryable category and attempts left waits
///   (`waiting`) for the policy's delay, then is dispatched again.
/// - Otherwise, under `fallback` its fallback skill is dispatched once (phase `fallback`); under `continue` it
///   stays failed and the run goes on; under `abort` and `retry` (and a failed fallback) the run fails:
///   pending and waiting steps are skipped, dispatched and running ones cancelled.
/// - A pending step whose dependencies have all ended: with join `all_succeeded` (default) it is skipped
///   if any dependency did not succeed; then, if its condition is false, it is skipped; else dispatched.
/// - The run succeeds when every step has ended and none failed under a run-failing policy.
public struct RunScheduler: Sendable {
    /// Events the scheduler reacts to.
    public enum Event: Sendable, Equatable {
        /// The run has a validated plan; start it.
        case start
        /// A step's attempt ended (its status is already committed by the worker).
        case stepFinished(StepID)
        /// Planning failed; the run is rejected.
        case planRejected(AriaError)
        /// The reconciler found the run not moving: `stale` are steps dispatched or running for longer than
        /// they should be (their message or worker was lost). Starts the run if needed, dispatches those
        /// steps again and advances whatever is ready.
        case reconcile(stale: Set<StepID>)
        /// Time passed: waiting steps whose `not_before` has come are dispatched.
        case timer
        /// A user cancelled the run.
        case cancel(reason: String)
        /// The watchdog found no progress for too long: the run fails with `error`.
        case stalled(AriaError)
    }

    /// What the service must do, in order, inside the same transaction.
    public enum Action: Sendable, Equatable {
        /// Set the run's status to running and emit `planned`.
        case markRunning
        /// Mark the step dispatched in `phase` and publish its dispatch intent (a new attempt).
        case dispatch(StepID, StepPhase)
        /// Publish a new dispatch for a step whose dispatch or attempt was lost (the next attempt supersedes).
        case redispatch(StepID)
        /// A failed step waits until `until` before its next attempt; `error` is the failure being retried.
        case retry(StepID, until: Date, error: AriaError)
        /// Mark a pending or waiting step skipped, with the reason.
        case skip(StepID, reason: String)
        /// A dispatched or running step is cancelled: its attempt is told to stop, its result will be discarded.
        case cancelStep(StepID, reason: String)
        /// End the run as succeeded.
        case succeed
        /// End the run as failed with the error of the step that failed it (or the watchdog's).
        case fail(AriaError)
        /// End the run as rejected.
        case reject(AriaError)
        /// End the run as cancelled.
        case cancelRun(reason: String)
        /// Nothing to do; the reason is logged.
        case ignore(String)
    }

    /// What the machine knows of one step.
    public struct StepState: Sendable, Equatable {
        /// The committed status.
        public var status: StepStatus
        /// Attempts started so far, in every phase.
        public var attempts: Int
        /// Whether the step runs its skill or its fallback.
        public var phase: StepPhase
        /// When a waiting step may be dispatched.
        public var notBefore: Date?
        /// The error of a failed step.
        public var error: AriaError?

        /// Creates a step state.
        public init(status: StepStatus = .pending, attempts: Int = 0, phase: StepPhase = .primary, notBefore: Date? = nil, error: AriaError? = nil) {
            self.status = status
            self.attempts = attempts
            self.phase = phase
            self.notBefore = notBefore
            self.error = error
        }
    }

    /// The run's status.
    public private(set) var status: RunStatus
    /// The plan (nil before planning).
    public let plan: Plan?
    /// Each step's state, by id.
    public private(set) var steps: [StepID: StepState]
    /// The outputs of succeeded steps (conditions read them).
    public let outputs: [StepID: JSONValue]
    /// A random number in 0..<1 for retry jitter (injected so tests are deterministic).
    public var random: @Sendable () -> Double

    /// Creates the machine from a committed snapshot.
    public init(status: RunStatus, plan: Plan?, steps: [StepID: StepState] = [:], outputs: [StepID: JSONValue] = [:], random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.status = status
        self.plan = plan
        var all = steps
        for step in plan?.steps ?? [] where all[step.stepID] == nil { all[step.stepID] = StepState() }
        self.steps = all
        self.outputs = outputs
        self.random = random
    }

    /// Records that step `id` failed before its dispatch left (an unresolvable reference, an input its
    /// skill refuses): counts as an attempt, so a retry policy cannot loop on it.
    public mutating func failBeforeDispatch(_ id: StepID, error: AriaError) {
        guard steps[id] != nil else { return }
        steps[id]!.status = .failed
        steps[id]!.error = error
        steps[id]!.attempts += 1
    }

    /// The status of step `id`.
    public func status(of id: StepID) -> StepStatus? { steps[id]?.status }

    /// Applies `event` at time `now` and returns the actions.
    public mutating func handle(_ event: Event, now: Date) -> [Action] {
        if status.isTerminal { return [.ignore("run is already \(status.rawValue)")] }
        switch event {
        case .planRejected(let error):
            guard status == .accepted || status == .planning else {
                return [.ignore("plan rejection for a run that is \(status.rawValue)")]
            }
            status = .rejected
            return [.reject(error)]
        case .cancel(let reason):
            return end(.cancelRun(reason: reason), stepReason: "run cancelled: \(reason)")
        case .stalled(let error):
            guard plan != nil, status == .running else { return [.ignore("watchdog on a run that is \(status.rawValue)")] }
            return end(.fail(error), stepReason: "run failed: \(error.message)")
        case .start, .timer:
            guard plan != nil else { return [.ignore("\(event) without a plan")] }
            return start() + advance(now: now)
        case .reconcile(let stale):
            guard let plan else { return [.ignore("reconcile without a plan")] }
            var actions = start()
            for step in plan.steps where stale.contains(step.stepID) && steps[step.stepID]!.status.isInFlight {
                actions.append(.redispatch(step.stepID))
            }
            return actions + advance(now: now)
        case .stepFinished(let id):
            guard status == .running else { return [.ignore("step event for a run that is \(status.rawValue)")] }
            guard let state = steps[id] else { return [.ignore("unknown step '\(id)'")] }
            guard state.status == .succeeded || state.status == .failed else {
                return [.ignore("step '\(id)' is \(state.status.rawValue), not finished")] + advance(now: now)
            }
            return advance(now: now)
        }
    }

    private mutating func start() -> [Action] {
        guard status != .running else { return [] }
        status = .running
        return [.markRunning]
    }

    /// Ends the run now: pending and waiting steps are skipped, in-flight ones cancelled.
    private mutating func end(_ final: Action, stepReason: String) -> [Action] {
        var actions: [Action] = []
        for step in plan?.steps ?? [] {
            switch steps[step.stepID]!.status {
            case .pending, .waiting:
                steps[step.stepID]!.status = .skipped
                actions.append(.skip(step.stepID, reason: stepReason))
            case .dispatched, .running:
                steps[step.stepID]!.status = .cancelled
                actions.append(.cancelStep(step.stepID, reason: stepReason))
            case .succeeded, .failed, .skipped, .cancelled:
                break
            }
        }
        switch final {
        case .fail: status = .failed
        case .cancelRun: status = .cancelled
        default: break
        }
        return actions + [final]
    }

    /// What a failed step does next.
    enum Settlement: Equatable {
        case retry(until: Date)
        case fallback
        case continueRun
        case failRun
    }

    /// Decides the fate of a failed step.
    func settle(_ step: PlanStep, _ state: StepState, now: Date) -> Settlement {
        let error = state.error ?? AriaError(.skillFailed, "step '\(step.stepID)' failed")
        if state.phase == .primary, let policy = step.effectiveRetry, policy.isRetryable(error), state.attempts < policy.maxAttempts {
            let delay = policy.delay(beforeRetry: max(1, state.attempts), unit: random())
            return .retry(until: now.addingTimeInterval(delay.timeInterval))
        }
        switch step.onError {
        case .fallback where state.phase == .primary: return .fallback
        case .continue: return .continueRun
        default: return .failRun
        }
    }

    /// Settles failures, resolves ready steps, dispatches due ones, or ends the run.
    private mutating func advance(now: Date) -> [Action] {
        guard let plan else { return [] }
        var actions: [Action] = []
        // 1. Failed steps: fail the run, or retry, fall back, continue.
        let failed = plan.steps.filter { steps[$0.stepID]!.status == .failed }
        let settlements = failed.map { settle($0, steps[$0.stepID]!, now: now) }
        if let index = settlements.firstIndex(of: .failRun) {
            let step = failed[index]
            let error = steps[step.stepID]!.error ?? AriaError(.skillFailed, "step '\(step.stepID)' failed")
            return end(.fail(error), stepReason: "step '\(step.stepID)' failed")
        }
        var continued = Set<StepID>()
        for (step, settlement) in zip(failed, settlements) {
            let state = steps[step.stepID]!
            switch settlement {
            case .retry(let until):
                steps[step.stepID]!.status = .waiting
                steps[step.stepID]!.notBefore = until
                actions.append(.retry(step.stepID, until: until, error: state.error ?? AriaError(.skillFailed, "step '\(step.stepID)' failed")))
            case .fallback:
                steps[step.stepID]!.status = .dispatched
                steps[step.stepID]!.phase = .fallback
                actions.append(.dispatch(step.stepID, .fallback))
            case .continueRun:
                continued.insert(step.stepID)
            case .failRun:
                break
            }
        }
        // 2. Waiting steps whose time has come.
        for step in plan.steps where steps[step.stepID]!.status == .waiting {
            if let due = steps[step.stepID]!.notBefore, due > now { continue }
            steps[step.stepID]!.status = .dispatched
            actions.append(.dispatch(step.stepID, steps[step.stepID]!.phase))
        }
        // 3. Pending steps whose dependencies have all ended, until nothing changes (skips propagate).
        var changed = true
        while changed {
            changed = false
            for step in plan.steps where steps[step.stepID]!.status == .pending {
                let dependencies = step.dependsOn.map { steps[$0]!.status }
                let ended = zip(step.dependsOn, dependencies).allSatisfy { id, status in
                    status == .succeeded || status == .skipped || status == .cancelled || (status == .failed && continued.contains(id))
                }
                guard ended else { continue }
                changed = true
                if step.effectiveJoin == .allSucceeded,
                   let missed = zip(step.dependsOn, dependencies).first(where: { $0.1 != .succeeded }) {
                    steps[step.stepID]!.status = .skipped
                    actions.append(.skip(step.stepID, reason: "dependency '\(missed.0)' \(missed.1 == .failed ? "failed" : "was \(missed.1.rawValue)")"))
                } else if let condition = step.condition, !condition.evaluate(output: outputs[condition.stepID]) {
                    steps[step.stepID]!.status = .skipped
                    actions.append(.skip(step.stepID, reason: "condition on '\(condition.stepID)'\(condition.field.map { ".\($0)" } ?? "") \(condition.op.rawValue) is false"))
                } else {
                    steps[step.stepID]!.status = .dispatched
                    actions.append(.dispatch(step.stepID, .primary))
                }
            }
        }
        // 4. The end.
        let allEnded = plan.steps.allSatisfy { step in
            let status = steps[step.stepID]!.status
            return status == .succeeded || status == .skipped || status == .cancelled || (status == .failed && continued.contains(step.stepID))
        }
        if allEnded {
            status = .succeeded
            actions.append(.succeed)
        }
        return actions
    }
}

/// Which skill a step's attempts run.
public enum StepPhase: String, Sendable, Codable, Equatable, CaseIterable {
    /// The step's own skill.
    case primary
    /// Its `fallback_skill`, after the primary gave up.
    case fallback
}
