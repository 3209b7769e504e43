//! Version rows: one per fingerprint, never changed once written.

use rusqlite::{Connection, params};

use crate::model::Fingerprint;

/// The `versions` row of a fingerprint, created if new: by the writer for traces, and
/// for replays on a version that has no traffic yet (an openai-chat version defined
/// only in the config).
pub fn ensure_version(conn: &Connection, f: &Fingerprint, now_ns: i64) -> rusqlite::Result<i64> {
    let id = f.id();
    conn.prepare_cached(
        "INSERT INTO versions (fingerprint, label, prompt_hash, config_hash, model,
                               index_version, tools, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (fingerprint) DO NOTHING",
    )?
    .execute(params![
        id,
        f.display_label(),
        f.prompt_hash,
        f.config_hash,
        f.model,
        f.index_version,
        serde_json::to_string(&f.tools).expect("tools serialise"),
        now_ns
    ])?;
    conn.prepare_cached("SELECT id FROM versions WHERE fingerprint = ?1")?
        .query_row([&id], |r| r.get(0))
}
