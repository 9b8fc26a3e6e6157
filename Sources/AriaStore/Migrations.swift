import AriaCore

/// One forward-only schema change, embedded in every binary.
public struct Migration: Sendable {
    /// Its number; applied in ascending order.
    public let version: Int
    /// A short name.
    public let name: String
    /// The SQL, run in one transaction.
    public let sql: String
    /// Creates a migration.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 of the SQL: a migration edited after it was applied is detected.
    public var checksum: String { SHA256.hex(Array(sql.utf8)) }
}

/// The schema, as numbered migrations. Never edit an applied migration: add a new one.
public enum Migrations {
    /// Every migration, ascending.
    public static let all: [Migration] = [
        Migration(version: 1, name: "foundation", sql: foundation),
        Migration(version: 2, name: "durable_execution", sql: durableExecution),
        Migration(version: 3, name: "hot_updates", sql: hotUpdates),
        Migration(version: 4, name: "document_statistics", sql: documentStatistics),
        Migration(version: 5, name: "assumptions", sql: assumptions),
    ]

    /// The schema version this binary was built for.
    public static var latest: Int { all.last!.version }

    /// The `pg_advisory_lock` key that serializes concurrent `aria migrate` runs.
    public static let advisoryLockKey: Int64 = 0x4152_4941_4D49_4752  // "ARIAMIGR"

    static let foundation = """
    CREATE TABLE tenants (
        tenant_id    text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9_-]{1,64}$'),
        display_name text NOT NULL DEFAULT '',
        status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
        created_at   timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE agents (
        tenant_id   text NOT NULL REFERENCES tenants,
        agent_id    text NOT NULL CHECK (agent_id ~ '^[a-z0-9_-]{1,64}$'),
        status      text NOT NULL DEFAULT 'active',
        first_seen  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, agent_id)
    );

    CREATE TABLE runs (
        run_id          uuid PRIMARY KEY,
        tenant_id       text NOT NULL REFERENCES tenants,
        agent_id        text NOT NULL,
        status          text NOT NULL CHECK (status IN ('accepted', 'planning', 'running', 'succeeded', 'failed', 'rejected')),
        goal            text,
        idempotency_key text,
        submission_ref  text,
        payload_hash    text NOT NULL,
        job             jsonb NOT NULL,
        plan            jsonb,
        parent_run_id   uuid REFERENCES runs,
        error           jsonb,
        output          jsonb,
        last_seq        bigint NOT NULL DEFAULT 0,
        deadline        timestamptz,
        traceparent     text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        finished_at     timestamptz
    );
    CREATE UNIQUE INDEX runs_idempotency ON runs (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE UNIQUE INDEX runs_submission_ref ON runs (submission_ref) WHERE submission_ref IS NOT NULL;
    CREATE INDEX runs_tenant_created ON runs (tenant_id, created_at DESC);
    CREATE INDEX runs_active ON runs (updated_at) WHERE status IN ('accepted', 'planning', 'running');

    CREATE TABLE steps (
        run_id        uuid NOT NULL REFERENCES runs ON DELETE CASCADE,
        step_id       text NOT NULL,
        tenant_id     text NOT NULL,
        position      int NOT NULL,
        skill         text NOT NULL,
        status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dispatched', 'running', 'succeeded', 'failed', 'skipped')),
        attempts      int NOT NULL DEFAULT 0,
        fencing_token bigint NOT NULL DEFAULT 0,
        output        jsonb,
        error         jsonb,
        dispatched_at timestamptz,
        started_at    timestamptz,
        finished_at   timestamptz,
        PRIMARY KEY (run_id, step_id)
    );

    CREATE TABLE step_attempts (
        run_id        uuid NOT NULL,
        step_id       text NOT NULL,
        attempt       int NOT NULL,
        tenant_id     text NOT NULL,
        fencing_token bigint NOT NULL,
        status        text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'superseded')),
        worker        text NOT NULL,
        error         jsonb,
        started_at    timestamptz NOT NULL DEFAULT now(),
        finished_at   timestamptz,
        PRIMARY KEY (run_id, step_id, attempt),
        FOREIGN KEY (run_id, step_id) REFERENCES steps ON DELETE CASCADE
    );

    -- Append-only. run_id is a run, or the id of a rejected submission (which has no run row).
    CREATE TABLE run_events (
        run_id     uuid NOT NULL,
        seq        bigint NOT NULL,
        tenant_id  text NOT NULL,
        kind       text NOT NULL,
        body       jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, seq)
    );

    -- Messages committed with a state change, published by a relay, deleted once the bus acknowledged them.
    CREATE TABLE outbox (
        id           bigserial PRIMARY KEY,
        tenant_id    text NOT NULL,
        origin       text NOT NULL,
        subject      text NOT NULL,
        msg_id       text NOT NULL,
        headers      jsonb NOT NULL DEFAULT '[]',
        payload      text NOT NULL,
        available_at timestamptz NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX outbox_sweep ON outbox (origin, available_at);

    -- Submissions the gateway refused (no run was created).
    CREATE TABLE rejections (
        rejection_id    uuid PRIMARY KEY,
        tenant_id       text NOT NULL,
        idempotency_key text,
        subject         text NOT NULL,
        code            text NOT NULL,
        message         text NOT NULL,
        payload         bytea NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX rejections_tenant ON rejections (tenant_id, created_at DESC);

    -- Messages no handler could process (undecodable, or out of deliveries), with their payload.
    CREATE TABLE dead_letters (
        dead_letter_id uuid PRIMARY KEY,
        tenant_id      text,
        stream         text NOT NULL,
        consumer       text NOT NULL,
        subject        text NOT NULL,
        deliveries     int NOT NULL,
        error          jsonb NOT NULL,
        payload        bytea NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now()
    );
    """
}

extension Migrations {
    /// Step policies (retry waits, fallbacks, cancellation), Postgres-side attempt leases, reruns, the
    /// execution ledger and the cluster-wide skill circuit breakers.
    static let durableExecution = """
    ALTER TABLE runs DROP CONSTRAINT runs_status_check;
    ALTER TABLE runs ADD CONSTRAINT runs_status_check
        CHECK (status IN ('accepted', 'planning', 'running', 'succeeded', 'failed', 'rejected', 'cancelled'));
    ALTER TABLE runs ADD COLUMN rerun_mode text CHECK (rerun_mode IN ('from_scratch', 'from_failed'));
    ALTER TABLE runs ADD COLUMN progressed_at timestamptz NOT NULL DEFAULT now();
    CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

    ALTER TABLE steps DROP CONSTRAINT steps_status_check;
    ALTER TABLE steps ADD CONSTRAINT steps_status_check
        CHECK (status IN ('pending', 'waiting', 'dispatched', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'));
    -- 'primary' runs the step's skill; 'fallback' its fallback_skill after the primary gave up.
    ALTER TABLE steps ADD COLUMN phase text NOT NULL DEFAULT 'primary' CHECK (phase IN ('primary', 'fallback'));
    -- A waiting step (retry backoff) is dispatched again at not_before.
    ALTER TABLE steps ADD COLUMN not_before timestamptz;
    -- The running attempt's lease: extended by the worker while it works; past it the attempt is presumed lost.
    ALTER TABLE steps ADD COLUMN lease_expires_at timestamptz;
    -- Why the step was skipped or cancelled, or that its output was reused from the parent run.
    ALTER TABLE steps ADD COLUMN reason text;
    ALTER TABLE steps ADD COLUMN reused_from uuid;
    CREATE INDEX steps_due ON steps (not_before) WHERE status = 'waiting';

    ALTER TABLE step_attempts DROP CONSTRAINT step_attempts_status_check;
    ALTER TABLE step_attempts ADD CONSTRAINT step_attempts_status_check
        CHECK (status IN ('running', 'succeeded', 'failed', 'superseded', 'cancelled'));
    ALTER TABLE step_attempts ADD COLUMN skill text;
    ALTER TABLE step_attempts ADD COLUMN phase text NOT NULL DEFAULT 'primary';
    ALTER TABLE step_attempts ADD COLUMN ledger_hit boolean NOT NULL DEFAULT false;

    -- The execution ledger: the recorded result of a step execution whose side effect happened, keyed by
    -- the execution's idempotency key (<run>:<step>:<phase>). A repeated attempt returns it instead of
    -- executing again.
    CREATE TABLE step_ledger (
        idempotency_key text PRIMARY KEY,
        tenant_id       text NOT NULL,
        run_id          uuid NOT NULL,
        step_id         text NOT NULL,
        skill           text NOT NULL,
        attempt         int NOT NULL,
        output          jsonb NOT NULL,
        recorded_at     timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX step_ledger_run ON step_ledger (run_id);

    -- One circuit breaker per skill, shared by every worker and consulted by schedulers before dispatch.
    CREATE TABLE skill_breakers (
        skill                text PRIMARY KEY,
        state                text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
        consecutive_failures int NOT NULL DEFAULT 0,
        opened_at            timestamptz,
        probe_at             timestamptz,
        last_error           jsonb,
        updated_at           timestamptz NOT NULL DEFAULT now()
    );
    """
}

extension Migrations {
    /// Cheaper writes on the hot path: run updates that leave `status` alone (`last_seq`, `updated_at`) can
    /// be HOT updates (no index entries) now that no index covers `updated_at`; pages keep room for them;
    /// and the tables that churn are vacuumed after a few percent of change, not 20 %, so dead rows do not
    /// pile up. Analyze keeps its default (10 %): every `ANALYZE` of `runs` sorts samples of its `jsonb`
    /// columns, and re-planning cached statements needs only the first few.
    static let hotUpdates = """
    DROP INDEX runs_active;
    -- The reconcilers' scans: the (few) runs that have not ended, filtered by time.
    CREATE INDEX runs_active ON runs (run_id) WHERE status IN ('accepted', 'planning', 'running');
    ALTER TABLE runs SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
    ALTER TABLE steps SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
    ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000);
    ALTER TABLE step_attempts SET (autovacuum_vacuum_insert_scale_factor = 0.05);
    ALTER TABLE run_events SET (autovacuum_vacuum_insert_scale_factor = 0.05);
    """
}

extension Migrations {
    /// No planner statistics for the stored documents: no query filters, joins or sorts on a `jsonb`
    /// column, an outbox payload or a goal, but every `ANALYZE` sorted a sample of each of them (with
    /// `jsonb`'s comparison) to build statistics nothing reads. Under sustained load autovacuum analyzes the
    /// growing tables every few seconds, and those sorts took ~9 % of a 2-core machine's CPU. The columns
    /// that queries do filter on keep their statistics.
    static let documentStatistics = """
    ALTER TABLE runs ALTER COLUMN job SET STATISTICS 0, ALTER COLUMN plan SET STATISTICS 0,
        ALTER COLUMN output SET STATISTICS 0, ALTER COLUMN error SET STATISTICS 0, ALTER COLUMN goal SET STATISTICS 0;
    ALTER TABLE steps ALTER COLUMN output SET STATISTICS 0, ALTER COLUMN error SET STATISTICS 0;
    ALTER TABLE step_attempts ALTER COLUMN error SET STATISTICS 0;
    ALTER TABLE run_events ALTER COLUMN body SET STATISTICS 0;
    ALTER TABLE outbox ALTER COLUMN headers SET STATISTICS 0, ALTER COLUMN payload SET STATISTICS 0;
    ALTER TABLE step_ledger ALTER COLUMN output SET STATISTICS 0;
    ALTER TABLE dead_letters ALTER COLUMN error SET STATISTICS 0, ALTER COLUMN payload SET STATISTICS 0;
    ALTER TABLE rejections ALTER COLUMN payload SET STATISTICS 0;
    """
}

extension Migrations {
    /// `aria_assume(holds, assumption)`: raises SQLSTATE `AR001` (``RunStore/assumptionFailed``) unless
    /// `holds`. A transaction sent whole, without waiting for its reads, checks with it what it assumed, and
    /// is rolled back (and done again the careful way) when the assumption was wrong.
    static let assumptions = """
    CREATE FUNCTION aria_assume(holds boolean, assumption text) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF holds IS NOT TRUE THEN
            RAISE EXCEPTION 'assumption failed: %', assumption USING ERRCODE = 'AR001';
        END IF;
    END
    $$;
    """
}
