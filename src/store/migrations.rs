//! Versioned schema migrations, applied in order and recorded in `PRAGMA user_version`.
//!
//! Never edit a migration that has shipped: add a new one.

use rusqlite::Connection;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    V1_CORE,
    V2_SYNC,
    V3_AUDIT_CHAIN,
    V4_ROLLOUT_STATE,
    V5_GATE,
    V6_REVIEW,
    V7_GUARD,
    V8_FOLDED_TICKS,
    V9_AUDIT_ANCHOR,
    V10_ROLLOUT_CONCURRENCY,
];

/// The schema version this build writes.
pub const LATEST: usize = MIGRATIONS.len();

/// The whole product's first schema: traces and what later features hang off them.
const V1_CORE: &str = r#"
CREATE TABLE versions (
    id            INTEGER PRIMARY KEY,
    fingerprint   TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    prompt_hash   TEXT,
    config_hash   TEXT,
    model         TEXT,
    index_version TEXT,
    tools         TEXT NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL
);
CREATE INDEX versions_label ON versions(label);

-- Resource attributes are shared by many spans: stored once.
CREATE TABLE resources (
    id         INTEGER PRIMARY KEY,
    digest     BLOB NOT NULL UNIQUE,
    attributes TEXT NOT NULL
);

CREATE TABLE traces (
    id                  INTEGER PRIMARY KEY,
    source              TEXT NOT NULL,
    trace_id            TEXT NOT NULL,
    version_id          INTEGER NOT NULL REFERENCES versions(id),
    name                TEXT NOT NULL,
    start_ns            INTEGER NOT NULL,
    end_ns              INTEGER NOT NULL,
    duration_ms         REAL NOT NULL,
    error               INTEGER NOT NULL,
    refusal             INTEGER NOT NULL,
    safety_events       INTEGER NOT NULL,
    tool_calls          INTEGER NOT NULL,
    tool_errors         INTEGER NOT NULL,
    retrievals          INTEGER NOT NULL,
    retrieval_empty     INTEGER NOT NULL,
    retrieval_top_score REAL,
    tokens_in           INTEGER NOT NULL,
    tokens_out          INTEGER NOT NULL,
    cost_usd            REAL NOT NULL,
    input               TEXT,
    output              TEXT,
    output_chars        INTEGER NOT NULL,
    span_count          INTEGER NOT NULL,
    imported_at         INTEGER NOT NULL,
    -- Trace id first: `trace show ID` finds a trace without knowing its source.
    UNIQUE (trace_id, source)
);
CREATE INDEX traces_version_start ON traces(version_id, start_ns);
CREATE INDEX traces_start ON traces(start_ns);

-- The version fields spans carry, stored once per distinct set.
CREATE TABLE span_versions (
    id     INTEGER PRIMARY KEY,
    fields TEXT NOT NULL UNIQUE
);

CREATE TABLE spans (
    id                  INTEGER PRIMARY KEY,
    trace_pk            INTEGER NOT NULL REFERENCES traces(id) ON DELETE CASCADE,
    span_id             TEXT NOT NULL,
    parent_span_id      TEXT,
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL,
    start_ns            INTEGER NOT NULL,
    end_ns              INTEGER NOT NULL,
    error               INTEGER NOT NULL,
    status_message      TEXT,
    model               TEXT,
    tokens_in           INTEGER NOT NULL,
    tokens_out          INTEGER NOT NULL,
    cost_usd            REAL NOT NULL,
    input               TEXT,
    output              TEXT,
    refusal             INTEGER NOT NULL,
    safety_events       INTEGER NOT NULL,
    tool_name           TEXT,
    tool_args           TEXT,
    retrieval_docs      INTEGER,
    retrieval_top_score REAL,
    span_version_id     INTEGER REFERENCES span_versions(id),
    resource_id         INTEGER REFERENCES resources(id),
    attributes          TEXT NOT NULL,
    content_hash        INTEGER NOT NULL,
    UNIQUE (trace_pk, span_id)
);

-- Time series pulled from Prometheus and similar sources.
CREATE TABLE signal_samples (
    id         INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,
    signal     TEXT NOT NULL,
    labels     TEXT NOT NULL DEFAULT '{}',
    version_id INTEGER REFERENCES versions(id),
    ts_ns      INTEGER NOT NULL,
    value      REAL NOT NULL,
    UNIQUE (source, signal, labels, ts_ns)
);
CREATE INDEX signal_samples_lookup ON signal_samples(signal, version_id, ts_ns);

-- Per-source pull cursors; a cursor moves only after its batch committed.
CREATE TABLE sync_state (
    source       TEXT PRIMARY KEY,
    cursor       TEXT,
    high_water_ns INTEGER,
    updated_at   INTEGER NOT NULL,
    last_error   TEXT
);

CREATE TABLE incidents (
    id        INTEGER PRIMARY KEY,
    title     TEXT NOT NULL,
    severity  TEXT NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at INTEGER NOT NULL,
    closed_at INTEGER,
    opened_by TEXT NOT NULL
);

CREATE TABLE incident_traces (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    trace_pk    INTEGER NOT NULL REFERENCES traces(id),
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (incident_id, trace_pk)
);

-- Cases live as files in the user's repository; this indexes what was seen of them.
CREATE TABLE cases (
    id          TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    title       TEXT NOT NULL,
    incident_id INTEGER REFERENCES incidents(id),
    trace_pk    INTEGER REFERENCES traces(id),
    must_pass   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE replays (
    id          INTEGER PRIMARY KEY,
    trace_pk    INTEGER REFERENCES traces(id),
    case_id     TEXT,
    version_id  INTEGER NOT NULL REFERENCES versions(id),
    target      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    latency_ms  REAL,
    output      TEXT,
    spans       TEXT,
    tokens_in   INTEGER,
    tokens_out  INTEGER,
    cost_usd    REAL,
    error       TEXT
);
CREATE INDEX replays_trace ON replays(trace_pk, started_at);

CREATE TABLE gate_runs (
    id                  INTEGER PRIMARY KEY,
    candidate_version_id INTEGER NOT NULL REFERENCES versions(id),
    baseline_version_id  INTEGER REFERENCES versions(id),
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    decision            TEXT CHECK (decision IN ('ship', 'hold')),
    report              TEXT
);

CREATE TABLE gate_results (
    gate_run_id INTEGER NOT NULL REFERENCES gate_runs(id),
    case_id     TEXT NOT NULL,
    version_id  INTEGER NOT NULL REFERENCES versions(id),
    attempt     INTEGER NOT NULL,
    passed      INTEGER NOT NULL,
    replay_id   INTEGER REFERENCES replays(id),
    details     TEXT NOT NULL,
    PRIMARY KEY (gate_run_id, case_id, version_id, attempt)
);

CREATE TABLE rollouts (
    id                 INTEGER PRIMARY KEY,
    plan               TEXT NOT NULL,
    release_version_id INTEGER NOT NULL REFERENCES versions(id),
    previous_version_id INTEGER REFERENCES versions(id),
    state              TEXT NOT NULL,
    stage_index        INTEGER NOT NULL,
    stage_started_at   INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE rollout_events (
    id         INTEGER PRIMARY KEY,
    rollout_id INTEGER NOT NULL REFERENCES rollouts(id),
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    item       TEXT,
    evidence   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX rollout_events_rollout ON rollout_events(rollout_id, at);

CREATE TABLE procedure_runs (
    id           INTEGER PRIMARY KEY,
    procedure    TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    mode         TEXT NOT NULL CHECK (mode IN ('rehearsal', 'run')),
    actor        TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    outcome      TEXT,
    vars         TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE procedure_steps (
    run_id      INTEGER NOT NULL REFERENCES procedure_runs(id),
    step_index  INTEGER NOT NULL,
    name        TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    exit_code   INTEGER,
    stdout      TEXT,
    stderr      TEXT,
    outcome     TEXT NOT NULL,
    PRIMARY KEY (run_id, step_index)
);

-- Append-only: the triggers refuse to rewrite history.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"#;

/// What the Sources view shows per source: outcomes and totals of its pulls.
const V2_SYNC: &str = r#"
ALTER TABLE sync_state ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE sync_state ADD COLUMN last_attempt_ns INTEGER;
ALTER TABLE sync_state ADD COLUMN last_success_ns INTEGER;
ALTER TABLE sync_state ADD COLUMN last_error_ns INTEGER;
ALTER TABLE sync_state ADD COLUMN rows_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN pages_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN rejected_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN errors_total INTEGER NOT NULL DEFAULT 0;
"#;

/// The audit log becomes a hash chain (see [`crate::audit`]); older rows stay unchained.
const V3_AUDIT_CHAIN: &str = r#"
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
"#;

/// A rollout's whole machine state (ticks, approvals, streaks) as JSON beside the
/// columns the queries use.
const V4_ROLLOUT_STATE: &str = r#"
ALTER TABLE rollouts ADD COLUMN snapshot TEXT NOT NULL DEFAULT '{}';
"#;

/// The gate keeps what it ran: each case's replays (the input it sent, since a case file
/// may change later), each result's case as it was (title, must-pass), the verdict as
/// JSON; the case index knows each file's content hash and when it went missing.
const V5_GATE: &str = r#"
ALTER TABLE replays ADD COLUMN input TEXT;
CREATE INDEX replays_case ON replays(case_id, started_at);
ALTER TABLE gate_runs ADD COLUMN verdict TEXT;
ALTER TABLE gate_runs ADD COLUMN suite TEXT;
ALTER TABLE gate_runs ADD COLUMN target TEXT;
ALTER TABLE gate_runs ADD COLUMN repeat INTEGER NOT NULL DEFAULT 1;
ALTER TABLE gate_results ADD COLUMN title TEXT;
ALTER TABLE gate_results ADD COLUMN must_pass INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN seen_at INTEGER;
ALTER TABLE cases ADD COLUMN removed_at INTEGER;
CREATE INDEX cases_incident ON cases(incident_id);
"#;

/// Quality sampling (see the `review` room): one row per trace, criterion and reviewer
/// (re-scoring replaces it), with the version the trace ran on and the scale it was
/// scored on (a rubric may change its scale later). `trace_id` is the `traces` row id,
/// not the OTLP trace id. The reviewer's note on the trace is kept on each of its rows.
const V6_REVIEW: &str = r#"
CREATE TABLE review_scores (
    id         INTEGER PRIMARY KEY,
    trace_id   INTEGER NOT NULL REFERENCES traces(id),
    version_id INTEGER REFERENCES versions(id),
    criterion  TEXT NOT NULL,
    score      INTEGER NOT NULL,
    scale      INTEGER NOT NULL,
    note       TEXT,
    reviewer   TEXT NOT NULL,
    scored_at  INTEGER NOT NULL,
    CHECK (score >= 1 AND score <= scale),
    UNIQUE (trace_id, criterion, reviewer)
);
CREATE INDEX review_scores_scored_at ON review_scores(scored_at);
"#;

/// The guard (see the `guard` room): one lease per workspace with its heartbeat; how long
/// each check has gone without enough data; per notifier, what it was last told of each
/// notification; and the outbox every notification is written to before it is sent.
const V7_GUARD: &str = r#"
CREATE TABLE guard_lease (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    holder        TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    since         INTEGER NOT NULL,
    heartbeat     INTEGER NOT NULL,
    cycles        INTEGER NOT NULL DEFAULT 0,
    last_cycle_at INTEGER,
    last_cycle_ms REAL,
    last_error    TEXT
);
CREATE TABLE guard_quiet (
    key   TEXT PRIMARY KEY,
    since INTEGER NOT NULL
);
CREATE TABLE notify_state (
    notifier    TEXT NOT NULL,
    key         TEXT NOT NULL,
    firing      INTEGER NOT NULL,
    since       INTEGER NOT NULL,
    last_queued INTEGER NOT NULL,
    alert       TEXT NOT NULL,
    PRIMARY KEY (notifier, key)
);
CREATE TABLE notify_outbox (
    id         INTEGER PRIMARY KEY,
    notifier   TEXT NOT NULL,
    key        TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('fire', 'resolve')),
    alert      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    sent_at    INTEGER,
    failed_at  INTEGER,
    last_error TEXT
);
CREATE INDEX notify_outbox_pending ON notify_outbox(notifier, sent_at, failed_at, next_at);
"#;

/// Repeated identical checks fold into one rollout event (and one audit row): how many,
/// the last one's time, and the outcome that made them identical.
const V8_FOLDED_TICKS: &str = r#"
ALTER TABLE rollout_events ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
ALTER TABLE rollout_events ADD COLUMN last_at INTEGER;
ALTER TABLE rollout_events ADD COLUMN outcome TEXT;
"#;

/// The audit chain cannot be cut short or forged quietly (see [`crate::audit`]): each row
/// may carry an HMAC seal under a key kept outside the database and an operator's SSH
/// signature; the genesis row records how many rows predate the chain, so nulling every
/// hash no longer passes the whole log off as "older rows".
const V9_AUDIT_ANCHOR: &str = r#"
ALTER TABLE audit_log ADD COLUMN mac TEXT;
ALTER TABLE audit_log ADD COLUMN signer TEXT;
ALTER TABLE audit_log ADD COLUMN signature TEXT;
CREATE TABLE audit_genesis (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    unchained INTEGER NOT NULL
);
INSERT INTO audit_genesis (id, unchained)
    SELECT 1, COUNT(*) FROM audit_log WHERE hash IS NULL;
CREATE TRIGGER audit_genesis_no_update BEFORE UPDATE ON audit_genesis
BEGIN SELECT RAISE(ABORT, 'audit_genesis is written once'); END;
CREATE TRIGGER audit_genesis_no_delete BEFORE DELETE ON audit_genesis
BEGIN SELECT RAISE(ABORT, 'audit_genesis is written once'); END;
"#;

/// Several operators on one rollout: every change names the revision it was made on
/// (a stale one changes nothing), and a rollback in progress holds a lease.
const V10_ROLLOUT_CONCURRENCY: &str = r#"
ALTER TABLE rollouts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN rollback_by TEXT;
ALTER TABLE rollouts ADD COLUMN rollback_since INTEGER;
"#;

/// Brings the schema up to date; returns the version reached.
pub fn migrate(conn: &mut Connection) -> Result<usize, MigrateError> {
    migrate_to(conn, LATEST)
}

/// Brings the schema up to `target` (tests build older caches with it).
pub fn migrate_to(conn: &mut Connection, target: usize) -> Result<usize, MigrateError> {
    let current = schema_version(conn)?;
    if current > LATEST {
        return Err(MigrateError::TooNew(current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().take(target).skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(target.max(current))
}

/// The schema version recorded in the database.
pub fn schema_version(conn: &Connection) -> rusqlite::Result<usize> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(v.max(0) as usize)
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "cache schema version {0} is newer than this relops understands ({LATEST}); upgrade relops"
    )]
    TooNew(usize),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_is_idempotent() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c).unwrap(), MIGRATIONS.len());
        assert_eq!(migrate(&mut c).unwrap(), MIGRATIONS.len());
        assert_eq!(schema_version(&c).unwrap(), LATEST);
    }

    #[test]
    fn audit_log_is_append_only() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        c.execute(
            "INSERT INTO audit_log (at, actor, action) VALUES (1, 'me', 'test')",
            [],
        )
        .unwrap();
        assert!(c.execute("UPDATE audit_log SET actor = 'x'", []).is_err());
        assert!(c.execute("DELETE FROM audit_log", []).is_err());
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", 99i64).unwrap();
        assert!(migrate(&mut c).unwrap_err().to_string().contains("newer"));
    }
}
