import AriaGateway
import AriaRuntime

let catalog = SkillConfigLoader.catalogOrExit(service: "gateway")
await ServiceMain.run(service: "gateway") { context in
    try await Gateway(context: context, catalog: catalog).services()
}
