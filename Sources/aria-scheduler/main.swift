import AriaCore
import AriaRuntime
import AriaScheduler

await ServiceMain.run(service: "scheduler") { context in
    // Steps go to their skill's pool (ARIA_SKILL_POOLS may move skills between pools).
    try await Scheduler(context: context, catalog: try SkillCatalog.configured()).services()
}
