//! Rows and versions for the console's unit tests.

use crate::store::query::{TraceRow, VersionRow};

/// A plain successful trace row; `key` orders it (newer rows have larger keys).
pub fn trace_row(id: i64, key: i64) -> TraceRow {
    TraceRow {
        id: format!("{id:032x}"),
        version: "v1".into(),
        version_id: "x".into(),
        name: "t".into(),
        started_at: String::new(),
        duration_ms: 1.0,
        status: "ok",
        refusal: false,
        safety_events: 0,
        tool_calls: 0,
        tool_errors: 0,
        tokens_in: 0,
        tokens_out: 0,
        cost_usd: 0.0,
        source: "s".into(),
        pk: key,
        start_ns: key,
    }
}

/// A version with a label and fingerprint id, nothing else known.
pub fn version(rowid: i64, label: &str, id: &str, traces: i64) -> VersionRow {
    VersionRow {
        id: id.into(),
        label: label.into(),
        prompt_hash: None,
        config_hash: None,
        model: None,
        index_version: None,
        tools: Default::default(),
        first_seen: None,
        last_seen: None,
        traces,
        rowid,
        first_seen_ns: None,
        last_seen_ns: None,
    }
}
