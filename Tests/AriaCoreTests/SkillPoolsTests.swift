import AriaCore
import Testing

@Suite("Skill pools")
struct SkillPoolsTests {
    @Test("ARIA_SKILL_POOLS moves skills to other pools; unset leaves the registry's pools")
    func assignments() throws {
        let unset = try SkillCatalog.configured(reader: ConfigReader(environment: [:]))
        #expect(unset.skills == SkillCatalog.builtIn.skills)
        #expect(unset.pools == ["default"])

        let catalog = try SkillCatalog.configured(reader: ConfigReader(environment: ["ARIA_SKILL_POOLS": "sleep=slow, http_call=io,pg_query=io"]))
        #expect(catalog["sleep"]?.pool == "slow")
        #expect(catalog["http_call"]?.pool == "io" && catalog["pg_query"]?.pool == "io")
        #expect(catalog["echo"]?.pool == "default")
        #expect(catalog.pools == ["default", "io", "slow"])
        #expect(catalog.skillNames(inPool: "io") == ["http_call", "pg_query"])
        #expect(catalog.skillNames(inPool: "slow") == ["sleep"])
        #expect(catalog.skillNames(inPool: "gpu") == [])
        // Everything else about the descriptors is kept.
        #expect(catalog["sleep"]?.defaultTimeout == SkillCatalog.builtIn["sleep"]?.defaultTimeout)
        #expect(catalog.skills.count == SkillCatalog.builtIn.skills.count)
    }

    @Test("malformed entries, unknown skills and a skill in two pools are invalid_configuration",
          arguments: ["sleep", "sleep=", "=slow", "sleep=Slow", "sleep=slow=x", "nosuchskill=slow", "sleep=a,sleep=b"])
    func invalidAssignments(_ value: String) {
        let error = #expect(throws: AriaError.self) {
            _ = try SkillCatalog.configured(reader: ConfigReader(environment: ["ARIA_SKILL_POOLS": value]))
        }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test("ARIA_WORKER_SKILLS is read as a list of skill names; the breaker settings have defaults")
    func workerSettings() throws {
        let plain = try ServiceConfiguration(service: "worker", reader: ConfigReader(environment: [:]))
        #expect(plain.workerPool == "default" && plain.workerSkills == nil)
        #expect(plain.breaker == CircuitBreakerSettings(failureThreshold: 5, cooldown: .seconds(30)))
        let subset = try ServiceConfiguration(service: "worker", reader: ConfigReader(environment: [
            "ARIA_WORKER_POOL": "io", "ARIA_WORKER_SKILLS": "http_call, pg_query", "ARIA_BREAKER_FAILURE_THRESHOLD": "9",
        ]))
        #expect(subset.workerPool == "io" && subset.workerSkills == ["http_call", "pg_query"] && subset.breaker.failureThreshold == 9)
        #expect(throws: AriaError.self) { try ServiceConfiguration(service: "worker", reader: ConfigReader(environment: ["ARIA_WORKER_SKILLS": "Bad Name"])) }
    }
}
