import AriaCore
import Logging

/// The worker's side of the skill registry: every attempt's params are checked against the skill's input
/// schema before it runs, and its output against the output schema after; a violation fails the attempt
/// with a typed error (`invalid_params`, `invalid_output`) instead of running the skill or recording the output.
enum SkillContract {
    /// The failed outcome for params that break `skill`'s input schema, or nil when they satisfy it.
    ///
    /// The params are fully rendered here, so a `{{...}}` left in a string is checked as plain text.
    static func refuseInput(_ skill: any Skill, _ params: JSONValue) -> (StepExecution.Outcome, JSONValue?)? {
        guard let error = skill.descriptor.validateInput(params) else { return nil }
        return (.failed(error), nil)
    }

    /// The outcome for what `skill` returned: succeeded with the output, or failed with `invalid_output`
    /// (logged: it is a defect of the skill) when the output breaks the output schema.
    static func checkOutput(_ skill: any Skill, _ output: JSONValue, logger: Logger) -> (StepExecution.Outcome, JSONValue?) {
        guard let error = skill.descriptor.validateOutput(output) else { return (.succeeded, output) }
        logger.warning("skill output breaks its schema", metadata: ["skill": "\(skill.descriptor.name)", "error": "\(error.message)"])
        return (.failed(error), nil)
    }
}
