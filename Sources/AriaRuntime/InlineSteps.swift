import AriaCore
import AriaStore
import Logging

extension InlineExecution {
    /// Inline execution of `skills` (the pure ones, which compute their output at once) for the dispatches
    /// whose subject `accepts`, with the checks of ``SkillContract``, each recorded as an optimistic attempt
    /// of `instance`; nil when `limit` is 0 (off). A gateway executes the pure steps its submissions dispatch
    /// this way; a worker the ones its result transactions dispatch to its own pool.
    public static func pure(_ skills: [any InlineSkill], limit: Int, instance: String, logger: Logger,
                            accepts: @escaping @Sendable (_ subject: String) -> Bool = { _ in true }) -> InlineExecution? {
        guard limit > 0 else { return nil }
        var byName: [String: any InlineSkill] = [:]
        for skill in skills where skill.descriptor.pure && byName[skill.descriptor.name] == nil { byName[skill.descriptor.name] = skill }
        let table = byName
        return InlineExecution(limit: limit, accepts: { skill, subject in table[skill] != nil && accepts(subject) }, execute: { dispatch in
            let body = dispatch.body
            let context = SkillContext(tenant: dispatch.tenant, run: dispatch.run, step: dispatch.step, attempt: 0,
                                       idempotencyKey: executionKey(run: dispatch.run, step: dispatch.step, phase: .primary))
            let (outcome, output) = run(table[body.skill], body, context: context, logger: logger)
            return AttemptFinish(tenant: dispatch.tenant, run: dispatch.run, step: dispatch.step, skill: body.skill, attempt: 0, fencingToken: 0,
                                 outcome: outcome, output: output, traceparent: dispatch.traceparent, optimistic: true, worker: instance)
        })
    }

    /// Executes an inline skill on a dispatch's params with the input and output checks of every path; an
    /// output that breaks its schema (a defect of the skill) is logged.
    public static func run(_ skill: (any InlineSkill)?, _ body: StepDispatchBody, context: SkillContext, logger: Logger) -> (StepExecution.Outcome, JSONValue?) {
        guard let skill else {
            return (.failed(AriaError(.unknownSkill, "no skill '\(body.skill)' here", category: .permanent)), nil)
        }
        let result = SkillContract.executeInline(skill, params: body.params, context: context)
        logIfInvalidOutput(result.0, skill: skill, logger: logger)
        return result
    }

    /// Logs an `invalid_output` failure: the skill returned what its own schema refuses.
    public static func logIfInvalidOutput(_ outcome: StepExecution.Outcome, skill: any Skill, logger: Logger) {
        if case .failed(let error) = outcome, error.code == .invalidOutput {
            logger.warning("skill output breaks its schema", metadata: ["skill": "\(skill.descriptor.name)", "error": "\(error.message)"])
        }
    }
}
