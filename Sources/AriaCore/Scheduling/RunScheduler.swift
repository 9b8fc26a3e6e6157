/// The scheduling state machine of one run: given the run's current state (as committed in Postgres) and
/// an event, it returns what to do. Pure: the scheduler service loads the state under a row lock, applies
/// the actions in the same transaction, and commits.
///
/// It is level-triggered: whatever the event, it dispatches every pending step whose dependencies all
/// succeeded and ends the run when nothing is left. A duplicate or late event therefore never dispatches
/// a step twice and never completes a run twice.
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
    }

    /// What the service must do, in order, inside the same transaction.
    public enum Action: Sendable, Equatable {
        /// Set the run's status to running and emit `planned`.
        case markRunning
        /// Mark the step dispatched and publish its dispatch intent.
        case dispatch(StepID)
        /// Publish a new dispatch for a step whose dispatch or attempt was lost (the next attempt supersedes).
        case redispatch(StepID)
        /// Mark a pending step skipped (the run ended first).
        case skip(StepID)
        /// End the run as succeeded.
        case succeed
        /// End the run as failed with the first step error.
        case fail(AriaError)
        /// End the run as rejected.
        case reject(AriaError)
        /// Nothing to do; the reason is logged.
        case ignore(String)
    }

    /// The run's status.
    public private(set) var status: RunStatus
    /// The plan (nil before planning).
    public let plan: Plan?
    /// Each step's status, by id.
    public private(set) var steps: [StepID: StepStatus]
    /// The error of each failed step.
    public private(set) var errors: [StepID: AriaError]

    /// Creates the machine from a committed snapshot.
    public init(status: RunStatus, plan: Plan?, steps: [StepID: StepStatus] = [:], errors: [StepID: AriaError] = [:]) {
        self.status = status
        self.plan = plan
        var all = steps
        for step in plan?.steps ?? [] where all[step.stepID] == nil { all[step.stepID] = .pending }
        self.steps = all
        self.errors = errors
    }

    /// Applies `event` and returns the actions.
    public mutating func handle(_ event: Event) -> [Action] {
        if status.isTerminal { return [.ignore("run is already \(status.rawValue)")] }
        switch event {
        case .planRejected(let error):
            guard status == .accepted || status == .planning else {
                return [.ignore("plan rejection for a run that is \(status.rawValue)")]
            }
            status = .rejected
            return [.reject(error)]
        case .start:
            guard plan != nil else { return [.ignore("start without a plan")] }
            var actions: [Action] = []
            if status != .running {
                status = .running
                actions.append(.markRunning)
            }
            return actions + advance()
        case .reconcile(let stale):
            guard plan != nil else { return [.ignore("reconcile without a plan")] }
            var actions: [Action] = []
            if status != .running {
                status = .running
                actions.append(.markRunning)
            }
            for step in plan!.steps where stale.contains(step.stepID) {
                if steps[step.stepID] == .dispatched || steps[step.stepID] == .running {
                    actions.append(.redispatch(step.stepID))
                }
            }
            return actions + advance()
        case .stepFinished(let id):
            guard status == .running else { return [.ignore("step event for a run that is \(status.rawValue)")] }
            guard let stepStatus = steps[id] else { return [.ignore("unknown step '\(id)'")] }
            guard stepStatus == .succeeded || stepStatus == .failed else {
                return [.ignore("step '\(id)' is \(stepStatus.rawValue), not finished")] + advance()
            }
            return advance()
        }
    }

    /// Dispatches ready steps or ends the run.
    private mutating func advance() -> [Action] {
        guard let plan else { return [] }
        if let failed = plan.steps.first(where: { steps[$0.stepID] == .failed && $0.onError == .abort }) {
            var actions: [Action] = []
            for step in plan.steps where steps[step.stepID] == .pending {
                steps[step.stepID] = .skipped
                actions.append(.skip(step.stepID))
            }
            let error = errors[failed.stepID] ?? AriaError(.skillFailed, "step '\(failed.stepID)' failed")
            status = .failed
            actions.append(.fail(error))
            return actions
        }
        var actions: [Action] = []
        for step in plan.steps where steps[step.stepID] == .pending {
            if step.dependsOn.allSatisfy({ steps[$0] == .succeeded }) {
                steps[step.stepID] = .dispatched
                actions.append(.dispatch(step.stepID))
            }
        }
        if plan.steps.allSatisfy({ steps[$0.stepID] == .succeeded }) {
            status = .succeeded
            actions.append(.succeed)
        }
        return actions
    }
}
