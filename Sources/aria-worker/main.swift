import AriaCore
import AriaRuntime
import AriaWorker
import Foundation

// The skill registry as config/skills.yaml (or ARIA_SKILLS_CONFIG) and the environment configure it:
// http_call's allowlist (ARIA_HTTP_ALLOW_HOSTS / ARIA_HTTP_ALLOW_CIDRS), the file skills' workspace
// (ARIA_WORKSPACE_ROOT), pg_query's user database (ARIA_PG_QUERY_DATABASE_URL, never the cluster's own).
let catalog = SkillConfigLoader.catalogOrExit(service: "worker")
await ServiceMain.run(service: "worker") { context in
    let configured = try SkillSet.configured(
        catalog: catalog, environment: ProcessInfo.processInfo.environment, clusterDatabaseURL: context.configuration.databaseURL,
        maxConcurrentCalls: context.configuration.workerSlots, logger: context.logger)
    // Pools: only the skills of ARIA_WORKER_POOL (config/skills.yaml and ARIA_SKILL_POOLS place skills in
    // pools), or the ARIA_WORKER_SKILLS subset of them.
    let skills = try await Worker.poolSkills(context: context, available: configured, catalog: catalog)
    return try await Worker(context: context, skills: skills, catalog: catalog).services()
}
