//! How long each check has gone without enough data. A key quiet now keeps the time it
//! first went quiet; a key that heard data again is forgotten.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::cycle::Quiet;

/// Records this cycle's quiet checks; since when each has been quiet.
pub fn track(
    conn: &Connection,
    quiet: &[Quiet],
    now_ns: i64,
) -> rusqlite::Result<BTreeMap<String, i64>> {
    let tx = conn.unchecked_transaction()?;
    let keys: Vec<&str> = quiet.iter().map(|q| q.key.as_str()).collect();
    let stored: Vec<String> = {
        let mut stmt = tx.prepare_cached("SELECT key FROM guard_quiet")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    for gone in stored.iter().filter(|k| !keys.contains(&k.as_str())) {
        tx.execute("DELETE FROM guard_quiet WHERE key = ?1", [gone])?;
    }
    let mut since = BTreeMap::new();
    for key in keys {
        tx.execute(
            "INSERT INTO guard_quiet (key, since) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![key, now_ns],
        )?;
        let at: i64 = tx.query_row("SELECT since FROM guard_quiet WHERE key = ?1", [key], |r| {
            r.get(0)
        })?;
        since.insert(key.to_string(), at);
    }
    tx.commit()?;
    Ok(since)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(key: &str) -> Quiet {
        Quiet {
            key: key.into(),
            what: key.into(),
            labels: Vec::new(),
            next_step: String::new(),
        }
    }

    #[test]
    fn quiet_keeps_its_start_and_data_forgets_it() {
        let conn = crate::store::memory();
        assert_eq!(track(&conn, &[q("a")], 10).unwrap()["a"], 10);
        assert_eq!(track(&conn, &[q("a"), q("b")], 20).unwrap()["a"], 10);
        assert!(!track(&conn, &[q("b")], 30).unwrap().contains_key("a"));
        assert_eq!(
            track(&conn, &[q("a")], 40).unwrap()["a"],
            40,
            "quiet again: a new start"
        );
    }
}
