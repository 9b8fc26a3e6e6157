#!/usr/bin/env bash
# What Postgres alone costs a one-step job: pgbench sends the transaction a gateway commits for a
# one-at-a-time A job (BEGIN, runs, steps, step_attempts, the breakers' check, five run_events, one
# outbox row, COMMIT) in one pipeline, one client, as the gateway does, and reports the latency with and
# without waiting for the WAL flush, next to an empty transaction's round trip.
#
#   scripts/postgres-floor.sh [cluster.env] [seconds]   # default .aria-dev/cluster.env (from `aria dev up`), 10 s
#
# It writes into the cluster's own database under a tenant of its own (`pgbench-floor`), whose rows it
# deletes afterwards; the outbox rows carry an origin no relay sweeps. Run ids are random, where Aria's
# are time-ordered (UUIDv7), so the runs' primary key is written a little less cheaply than by Aria.
set -euo pipefail
env_file=${1:-.aria-dev/cluster.env}
seconds=${2:-10}
url=$(grep -s '^ARIA_DATABASE_URL=' "$env_file" | cut -d= -f2- || true)
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -n 1 || true)
[[ -n $url && -x $pgbench ]] || { echo "needs ARIA_DATABASE_URL in $env_file and pgbench (package postgresql)" >&2; exit 2; }

work=$(mktemp -d)
cleanup() {
  psql -q "$url" -v ON_ERROR_STOP=1 <<'SQL' >/dev/null || true
DELETE FROM outbox WHERE tenant_id = 'pgbench-floor';
DELETE FROM run_events WHERE tenant_id = 'pgbench-floor';
DELETE FROM runs WHERE tenant_id = 'pgbench-floor';   -- steps and step_attempts cascade
DELETE FROM tenants WHERE tenant_id = 'pgbench-floor';
SQL
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$url" -v ON_ERROR_STOP=1 -c "INSERT INTO tenants (tenant_id) VALUES ('pgbench-floor') ON CONFLICT DO NOTHING"

printf '\\startpipeline\nBEGIN;\nSELECT 1;\nCOMMIT;\n\\endpipeline\n' > "$work/empty.sql"

# The statements as the gateway sends them for an inline `echo` job (RunStore; values from a real run).
job='{"agent": "bench", "source": {"plan": {"_0": {"steps": [{"skill": "echo", "params": {"i": 0}, "step_id": "echo", "on_error": "abort", "depends_on": []}], "plan_id": "plan", "defaults": {}, "metadata": {}}}}, "metadata": {}}'
plan='{"steps": [{"skill": "echo", "params": {"i": 0}, "step_id": "echo", "on_error": "abort", "depends_on": []}], "plan_id": "plan", "defaults": {}, "metadata": {}}'
event() { # seq kind body
  printf "('pgbench-floor', md5(:n::text)::uuid, %s::bigint, '%s', '{\"run\": \"01a2434d-fa41-7450-b89a-32879ebe2032\", \"seq\": %s, \"body\": %s, \"type\": \"event.%s\", \"tenant\": \"pgbench-floor\", \"version\": 1, \"created_at\": \"2026-12-04T23:05:13.537Z\"}'::jsonb)" "$1" "$2" "$1" "$3" "$2"
}
cat > "$work/job.sql" <<SQL
\set n random(1, 9000000000000000000)
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED;
INSERT INTO runs (run_id, tenant_id, agent_id, status, goal, idempotency_key, submission_ref, payload_hash, job, plan, last_seq, deadline, traceparent, output, error, finished_at)
SELECT r, t, a, s, g, k, ref, h, j, p, seq, dl, tp, o, e, CASE WHEN s IN ('succeeded', 'failed', 'cancelled') THEN now() END
FROM (VALUES (md5(:n::text)::uuid, 'pgbench-floor', 'bench', 'succeeded', NULL::text, 'k' || :n, 'pgbench-floor:' || :n, '2de04ebd25fd220d0b51cae01a9d36fded1e570f79e4e98aaf1a910a78e23907', '$job'::jsonb, '$plan'::jsonb, 5::bigint, NULL::timestamptz, NULL::text, '{"echo": {"i": 0}}'::jsonb, NULL::jsonb)) AS u(r, t, a, s, g, k, ref, h, j, p, seq, dl, tp, o, e);
INSERT INTO steps (run_id, step_id, tenant_id, position, skill, status, phase, dispatched_at, output, error, attempts, fencing_token, started_at, finished_at)
SELECT r, st, t, p, k, coalesce(fs, d, 'waiting'), coalesce(ph, 'primary'), CASE WHEN d IS NULL THEN NULL ELSE now() END, o, e, coalesce(n, 0), coalesce(ft, 0), CASE WHEN sh THEN now() END, CASE WHEN fs IS NULL THEN NULL ELSE now() END
FROM (VALUES (md5(:n::text)::uuid, 'echo', 'pgbench-floor', 0, 'echo', 'succeeded', 'primary', 'succeeded', '{"i": 0}'::jsonb, NULL::jsonb, 1, 1::bigint, true)) AS u(r, st, t, p, k, d, ph, fs, o, e, n, ft, sh)
ON CONFLICT DO NOTHING;
INSERT INTO step_attempts (run_id, step_id, attempt, tenant_id, fencing_token, status, worker, skill, phase, error, started_at, finished_at)
SELECT r, st, n, tn, t, status, w, sk, ph, error, now(), now()
FROM (VALUES (md5(:n::text)::uuid, 'echo', 1, 'pgbench-floor', 1::bigint, 'succeeded', 'gateway-1', 'echo', 'primary', NULL::jsonb)) AS u(r, st, n, tn, t, status, w, sk, ph, error);
SELECT aria_assume(NOT EXISTS (SELECT 1 FROM skill_breakers WHERE skill = ANY('{echo}'::text[]) AND (state <> 'closed' OR consecutive_failures > 0)), 'the breakers are settled');
INSERT INTO run_events (tenant_id, run_id, seq, kind, body)
SELECT * FROM (VALUES $(event 1 accepted '{"kind": "accepted", "status": "accepted", "idempotency_key": "w-ECE661-0"}'),
$(event 2 planned '{"kind": "planned", "status": "accepted"}'),
$(event 3 step_started '{"kind": "step_started", "step": "echo", "skill": "echo", "status": "running", "attempt": 1}'),
$(event 4 step_succeeded '{"kind": "step_succeeded", "step": "echo", "skill": "echo", "output": {"i": 0}, "status": "running", "attempt": 1}'),
$(event 5 succeeded '{"kind": "succeeded", "output": {"echo": {"i": 0}}, "status": "succeeded", "idempotency_key": "w-ECE661-0"}')) AS u;
INSERT INTO outbox (tenant_id, origin, subject, msg_id, headers, payload, available_at)
SELECT t, 'pgbench-floor', s, m, h, p, now() + make_interval(secs => 0::float8 / 1000)
FROM (VALUES ('pgbench-floor', 'aria.evt.pgbench-floor', 'm' || :n, '{}'::jsonb, '["five events, as one outbox row"]')) AS u(t, s, m, h, p)
RETURNING id, msg_id;
COMMIT;
\endpipeline
SQL

latency() { # label script [PGOPTIONS]
  local line
  line=$(PGOPTIONS=${3:-} "$pgbench" "$url" -n -M prepared -c 1 -T "$seconds" -f "$2" 2>&1 | grep -E '^latency average|ERROR' | head -n 1)
  [[ $line == latency* ]] || { echo "pgbench failed on $1: $line" >&2; exit 1; }
  printf '| %s | %s |\n' "$1" "${line#latency average = }"
}
echo "| transaction (one client, pipelined, ${seconds} s each) | mean latency |"
echo "|---|---|"
latency "empty: BEGIN, SELECT 1, COMMIT" "$work/empty.sql"
latency "a one-step job, durable commit" "$work/job.sql"
latency "a one-step job, synchronous_commit=off (not durable)" "$work/job.sql" "-c synchronous_commit=off"
