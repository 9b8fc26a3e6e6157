import AriaCore
import AriaWorker
import Testing

@Suite("Worker pools")
struct WorkerPoolTests {
    static let catalog = SkillPoolAssignments(["sleep": "slow", "fail": "slow"]).appliedOrCrash(to: .builtIn)

    @Test("a worker runs exactly the skills of its pool, or the ARIA_WORKER_SKILLS subset of them")
    func selection() throws {
        #expect(try SkillSet.builtIn.forPool("default", only: nil, catalog: Self.catalog).names == ["echo", "json_transform"])
        #expect(try SkillSet.builtIn.forPool("slow", only: nil, catalog: Self.catalog).names == ["fail", "sleep"])
        #expect(try SkillSet.builtIn.forPool("slow", only: ["sleep"], catalog: Self.catalog).names == ["sleep"])
        #expect(try SkillSet.builtIn.forPool("default", only: nil, catalog: .builtIn).names == ["echo", "fail", "json_transform", "sleep"])
    }

    @Test("a skill of another pool, an unknown or unavailable skill, or a pool with nothing to run is invalid_configuration")
    func refusals() {
        let cases: [(String, [String]?, String)] = [
            ("default", ["sleep"], "runs in pool 'slow'"),
            ("slow", ["nosuch"], "not a known skill"),
            ("default", ["http_call"], "cannot run"),
            ("gpu", nil, "pool 'gpu'"),
        ]
        for (pool, only, message) in cases {
            let error = #expect(throws: AriaError.self) { _ = try SkillSet.builtIn.forPool(pool, only: only, catalog: Self.catalog) }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        }
    }
}

extension SkillPoolAssignments {
    /// For static test fixtures whose skills are known to exist.
    func appliedOrCrash(to catalog: SkillCatalog) -> SkillCatalog {
        do { return try applied(to: catalog) } catch { fatalError("\(error)") }
    }
}
