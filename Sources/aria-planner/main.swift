import AriaPlanner
import AriaRuntime

await ServiceMain.run(service: "planner") { context in
    let library = try PlanTemplateLibrary.load(directory: context.configuration.plansDirectory)
    return try await Planner(context: context, library: library).services()
}
