import AriaBus
import AriaCore
import AriaRuntime

extension SkillSet {
    /// The names of the skills, sorted.
    public var names: [String] { skills.keys.sorted() }

    /// The skills a worker of `pool` runs: those of this set whose pool in `catalog` is `pool`, restricted to
    /// `only` (`ARIA_WORKER_SKILLS`) when given.
    ///
    /// Throws `invalid_configuration` when `only` names a skill that the catalog does not know, that runs in
    /// another pool, or that this worker does not carry, and when no skill is left (a pool that no skill of
    /// this worker belongs to).
    public func forPool(_ pool: String, only: [String]?, catalog: SkillCatalog) throws(AriaError) -> SkillSet {
        if let only {
            for name in only {
                guard let descriptor = catalog[name] else {
                    throw AriaError(.invalidConfiguration, "ARIA_WORKER_SKILLS names '\(name)', which is not a known skill")
                }
                guard descriptor.pool == pool else {
                    throw AriaError(.invalidConfiguration, "ARIA_WORKER_SKILLS names '\(name)', which runs in pool '\(descriptor.pool)', not in this worker's pool '\(pool)' (ARIA_WORKER_POOL)")
                }
                guard skills[name] != nil else {
                    throw AriaError(.invalidConfiguration, "ARIA_WORKER_SKILLS names '\(name)', which this worker cannot run (not configured here)")
                }
            }
        }
        let wanted = Set(only ?? catalog.skillNames(inPool: pool))
        let selected = skills.values.filter { wanted.contains($0.descriptor.name) && catalog[$0.descriptor.name]?.pool == pool }
        guard !selected.isEmpty else {
            let known = catalog.pools.joined(separator: ", ")
            throw AriaError(.invalidConfiguration, "pool '\(pool)' (ARIA_WORKER_POOL) has no skill this worker can run; pools with skills: \(known)")
        }
        return SkillSet(selected)
    }
}

extension Worker {
    /// Checks a worker's pool before it starts: the pool's consumer must exist (`bus_not_provisioned`:
    /// add the pool to `ARIA_BUS_WORKER_POOLS` and run `aria migrate`), and the worker must run at least one
    /// of the pool's skills and only those (`invalid_configuration`). Returns the skills to run.
    public static func poolSkills(context: ServiceContext, available: SkillSet, catalog: SkillCatalog) async throws -> SkillSet {
        let pool = context.configuration.workerPool
        try await BusProvisioner(jetStream: context.jetStream, logger: context.logger)
            .requireConsumer(stream: Streams.work, consumer: Consumers.worker(pool: pool))
        let skills = try available.forPool(pool, only: context.configuration.workerSkills, catalog: catalog)
        context.logger.info("worker pool", metadata: ["pool": "\(pool)", "skills": "\(skills.names.joined(separator: ","))"])
        return skills
    }
}
