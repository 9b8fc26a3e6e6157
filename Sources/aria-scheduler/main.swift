import AriaCore
import AriaRuntime
import AriaScheduler

let catalog = SkillConfigLoader.catalogOrExit(service: "scheduler")
await ServiceMain.run(service: "scheduler") { context in
    // Steps go to their skill's pool (config/skills.yaml, ARIA_SKILL_POOLS).
    try await Scheduler(context: context, catalog: catalog).services()
}
