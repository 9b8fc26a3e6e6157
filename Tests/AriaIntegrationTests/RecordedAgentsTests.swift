import AriaCore
import AriaPostgres
@testable import AriaStore
import Testing

@Suite("Recorded agents")
struct RecordedAgentsTests {
    @Test("a store upserts an agent once; later submissions of its jobs skip the statement")
    func agentUpsertedOnce() async throws {
        let (store, pool) = try await migratedStore("agents_once")
        // A BEFORE INSERT trigger fires for every row an upsert tries, also when it conflicts.
        _ = try await pool.withConnection { connection in
            try connection.execute("""
                CREATE TABLE agent_upserts (tenant_id text, agent_id text);
                CREATE FUNCTION note_agent_upsert() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN INSERT INTO agent_upserts VALUES (NEW.tenant_id, NEW.agent_id); RETURN NEW; END $$;
                CREATE TRIGGER agent_upserts BEFORE INSERT ON agents FOR EACH ROW EXECUTE FUNCTION note_agent_upsert();
                """)
        }
        func job(_ key: String, agent: String) throws -> SubmissionInput {
            var input = try submission(echoPlan([("a", [])]), key: key)
            input.job.agent = AgentID(trusted: agent)
            return input
        }
        _ = try await store.submit([try job("k1", agent: "demo")], catalog: .builtIn)
        _ = try await store.submit([try job("k2", agent: "demo")], catalog: .builtIn)
        _ = try await store.submit([try job("k3", agent: "demo"), try job("k4", agent: "other")], catalog: .builtIn)
        #expect(try await scalar(pool, "SELECT count(*) FROM runs") == "4")
        #expect(try await scalar(pool, "SELECT string_agg(agent_id, ',' ORDER BY agent_id) FROM agents") == "demo,other")
        #expect(try await scalar(pool, "SELECT string_agg(agent_id, ',') FROM agent_upserts") == "demo,other",
                "one upsert per agent: the second and third submissions only tried the new agent")
        // Another store (another process) does not know them: it upserts again, harmlessly.
        let other = RunStore(pool: pool, origin: "test-2", subjects: store.subjects, outboxGrace: store.outboxGrace)
        _ = try await other.submit([try job("k5", agent: "demo")], catalog: .builtIn)
        #expect(try await scalar(pool, "SELECT count(*) FROM agent_upserts") == "3")
        #expect(try await scalar(pool, "SELECT count(*) FROM agents") == "2")
        await pool.close()
    }

    @Test("the memory forgets everything past its limit, and only remembers what it was told")
    func memoryLimit() {
        let memory = RecordedAgents(limit: 2)
        let a = RecordedAgents.Key(tenant: "t", agent: "a"), b = RecordedAgents.Key(tenant: "t", agent: "b")
        let c = RecordedAgents.Key(tenant: "t", agent: "c"), otherTenant = RecordedAgents.Key(tenant: "u", agent: "a")
        #expect(memory.unrecorded([b, a, a]) == [a, b], "distinct and sorted")
        memory.note([a, b])
        #expect(memory.unrecorded([a, b, c, otherTenant]) == [c, otherTenant])
        memory.note([c])
        #expect(memory.unrecorded([a, b, c]) == [a, b], "past the limit it starts again from what it was told last")
    }
}
