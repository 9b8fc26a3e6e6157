import AriaRuntime
import AriaScheduler

await ServiceMain.run(service: "scheduler") { context in
    try await Scheduler(context: context).services()
}
