import AriaRuntime
import AriaScheduler

let catalog = SkillConfigLoader.catalogOrExit(service: "scheduler")
await ServiceMain.run(service: "scheduler") { context in
    try await Scheduler(context: context, catalog: catalog).services()
}
