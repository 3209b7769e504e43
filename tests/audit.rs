//! The audit log as an operator checks it: every change recorded, and an edit to the
//! database file caught by `relops audit verify`.

mod common;

use common::{json, relops, workspace};

#[test]
fn changes_are_chained_and_an_edit_is_caught() {
    let (dir, config) = workspace();
    relops(&config)
        .args(["incident", "open", "refusals on v3", "--severity", "high"])
        .assert()
        .success();
    relops(&config)
        .args(["incident", "close", "1"])
        .assert()
        .success();
    let entries = json(relops(&config).args(["audit", "--json"]));
    let actions: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 2, "{entries}");
    assert!(entries[1]["hash"].as_str().unwrap().len() == 64);
    relops(&config).args(["audit", "verify"]).assert().success();

    // Someone with the file drops the guard and rewrites who did it.
    let conn = rusqlite::Connection::open(dir.path().join("cache.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE id = 1;",
    )
    .unwrap();
    drop(conn);
    let out = relops(&config).args(["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BROKEN at row 1: its content was edited"),
        "{text}"
    );
}
