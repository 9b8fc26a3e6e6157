import AriaPlanner
import AriaRuntime

let catalog = SkillConfigLoader.catalogOrExit(service: "planner")
await ServiceMain.run(service: "planner") { context in
    let library = try PlanTemplateLibrary.load(directory: context.configuration.plansDirectory)
    return try await Planner(context: context, library: library, catalog: catalog).services()
}
