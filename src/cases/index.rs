//! The cache's index of case files (table `cases`): what the console joins gate results
//! and incidents to, by case id. The files stay the truth; the index is what was last
//! seen of them: path, title, must-pass, incident and source trace (when this cache holds
//! them), creation time and the file's content hash.
//!
//! A case whose file is gone from its suite directory is marked (`removed_at`), not
//! deleted: past gate results and incidents still name it, and a pane can say "removed
//! from the suite" instead of showing a bare id. A file that comes back (a `git
//! checkout`) clears the mark. An unreadable file is not a removal: its case is kept as
//! last seen until the file reads again.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use super::{Loaded, Suite};

/// What an indexing pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Indexed {
    pub upserted: usize,
    /// Cases newly marked removed.
    pub removed: usize,
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Indexes one case file (e.g. one just written). The incident and the source trace
/// are linked only when this cache holds them (incident ids are local to a cache).
pub fn upsert(conn: &Connection, l: &Loaded, now_ns: i64) -> rusqlite::Result<()> {
    let created_ns = chrono::DateTime::parse_from_rfc3339(&l.case.created_at)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(now_ns);
    conn.prepare_cached(
        "INSERT INTO cases (id, path, title, incident_id, trace_pk, must_pass, created_at,
            content_hash, seen_at, removed_at)
         VALUES (?1, ?2, ?3, (SELECT id FROM incidents WHERE id = ?4),
            (SELECT id FROM traces WHERE trace_id = ?5 ORDER BY id LIMIT 1), ?6, ?7, ?8, ?9,
            NULL)
         ON CONFLICT (id) DO UPDATE SET path = excluded.path, title = excluded.title,
            incident_id = excluded.incident_id, trace_pk = excluded.trace_pk,
            must_pass = excluded.must_pass, created_at = excluded.created_at,
            content_hash = excluded.content_hash, seen_at = excluded.seen_at,
            removed_at = NULL",
    )?
    .execute(params![
        l.case.id,
        canonical(&l.path).display().to_string(),
        l.case.title,
        l.case.incident,
        l.case.source.as_ref().map(|s| s.trace_id.as_str()),
        l.case.must_pass,
        created_ns,
        l.content_hash,
        now_ns,
    ])?;
    Ok(())
}

/// Indexes a loaded suite in one transaction: every good case upserted, and the cases
/// indexed from this directory whose file is gone marked removed.
pub fn index(conn: &Connection, suite: &Suite, now_ns: i64) -> rusqlite::Result<Indexed> {
    let tx = conn.unchecked_transaction()?;
    let mut done = Indexed::default();
    for l in &suite.cases {
        upsert(&tx, l, now_ns)?;
        done.upserted += 1;
    }
    let dir = canonical(&suite.dir);
    let present: Vec<&str> = suite.cases.iter().map(|l| l.case.id.as_str()).collect();
    let unreadable: Vec<PathBuf> = suite.errors.iter().map(|e| canonical(&e.path)).collect();
    let gone: Vec<String> = {
        let mut stmt = tx.prepare_cached("SELECT id, path FROM cases WHERE removed_at IS NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut gone = Vec::new();
        for row in rows {
            let (id, path) = row?;
            let path = PathBuf::from(path);
            if path.parent() == Some(dir.as_path())
                && !present.contains(&id.as_str())
                && !unreadable.contains(&path)
            {
                gone.push(id);
            }
        }
        gone
    };
    for id in gone {
        tx.prepare_cached("UPDATE cases SET removed_at = ?1 WHERE id = ?2")?
            .execute(params![now_ns, id])?;
        done.removed += 1;
    }
    tx.commit()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::{Assertion, Case, save};

    fn case(id: &str, title: &str, incident: Option<i64>) -> Case {
        Case {
            id: id.into(),
            title: title.into(),
            created_at: "2026-11-20T12:00:00Z".into(),
            source: None,
            incident,
            input: "hello".into(),
            reference: None,
            assertions: vec![Assertion::NotRefusal],
            must_pass: true,
            tags: Vec::new(),
        }
    }

    fn rows(conn: &Connection) -> Vec<(String, String, Option<i64>, Option<i64>)> {
        let mut stmt = conn
            .prepare("SELECT id, title, incident_id, removed_at FROM cases ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn indexes_updates_marks_removed_and_restores() {
        let conn = crate::store::memory();
        conn.execute(
            "INSERT INTO incidents (id, title, severity, status, opened_at, opened_by)
             VALUES (1, 'refusals', 'sev2', 'open', 0, 'me')",
            [],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let a = save(dir.path(), &case("aaaa0001", "first", Some(1))).unwrap();
        // Incident 9 is not in this cache: not linked (and no foreign-key error).
        save(dir.path(), &case("bbbb0002", "second", Some(9))).unwrap();
        let got = index(&conn, &Suite::load(dir.path()), 10).unwrap();
        assert_eq!(
            got,
            Indexed {
                upserted: 2,
                removed: 0
            }
        );
        assert_eq!(
            rows(&conn),
            [
                ("aaaa0001".into(), "first".into(), Some(1), None),
                ("bbbb0002".into(), "second".into(), None, None),
            ]
        );
        let hash = |id: &str| -> String {
            conn.query_row("SELECT content_hash FROM cases WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
        };
        let before = hash("aaaa0001");
        assert_eq!(before.len(), 64);

        // Edited: the title and the hash follow. Removed: marked, not deleted.
        save(dir.path(), &case("aaaa0001", "first, edited", Some(1))).unwrap();
        std::fs::remove_file(&a).unwrap();
        let b_path = dir.path().join("second-bbbb0002.json");
        std::fs::remove_file(&b_path).unwrap();
        let got = index(&conn, &Suite::load(dir.path()), 20).unwrap();
        assert_eq!(
            got,
            Indexed {
                upserted: 1,
                removed: 1
            }
        );
        let now = rows(&conn);
        assert_eq!(now[0].1, "first, edited");
        assert_ne!(hash("aaaa0001"), before);
        assert_eq!(now[1].3, Some(20), "second marked removed");

        // A file that comes back is restored; an unreadable file is not a removal.
        save(dir.path(), &case("bbbb0002", "second", None)).unwrap();
        index(&conn, &Suite::load(dir.path()), 30).unwrap();
        assert_eq!(rows(&conn)[1].3, None, "restored");
        std::fs::write(&b_path, "{").unwrap();
        let got = index(&conn, &Suite::load(dir.path()), 40).unwrap();
        assert_eq!(got.removed, 0);
        assert_eq!(rows(&conn)[1].3, None, "kept as last seen");
    }
}
