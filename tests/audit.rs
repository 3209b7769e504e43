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

/// Opens and closes incidents `first..first + n`: 2n audit rows.
fn changes(config: &std::path::Path, first: usize, n: usize) {
    for i in first..first + n {
        relops(config)
            .args(["incident", "open", &format!("incident {i}")])
            .assert()
            .success();
        relops(config)
            .args(["incident", "close", &(i + 1).to_string()])
            .assert()
            .success();
    }
}

/// Deletes audit rows as someone with the file could, triggers out of the way.
fn cut(dir: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join("cache.db")).unwrap();
    conn.execute_batch(&format!(
        "DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_log_no_update; {sql}"
    ))
    .unwrap();
}

fn verify(config: &std::path::Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = relops(config)
        .args(["audit", "verify"])
        .args(extra)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn a_checkpoint_catches_the_newest_rows_cut_off() {
    let (dir, config) = workspace();
    changes(&config, 0, 2);
    let file = dir.path().join("audit.checkpoint");
    relops(&config)
        .args(["audit", "checkpoint", "--out"])
        .arg(&file)
        .assert()
        .success();
    let cp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        (cp["schema"].as_str(), cp["rows"].as_u64()),
        (Some("relops.audit-checkpoint/1"), Some(4))
    );
    let hash = cp["hash"].as_str().unwrap().to_string();

    // Later changes extend the checkpoint.
    changes(&config, 2, 1);
    let (code, text) = verify(&config, &["--checkpoint", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("contains and extends the checkpoint"),
        "{text}"
    );

    // The newest rows cut back past the checkpoint: the chain alone still fits, the
    // checkpoint (file or bare hash from a report) does not.
    cut(dir.path(), "DELETE FROM audit_log WHERE id >= 4");
    assert_eq!(
        verify(&config, &[]).0,
        Some(0),
        "a chain alone cannot see a cut tail"
    );
    let (code, text) = verify(&config, &["--checkpoint", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("has 3 rows") && text.contains("saw 4"),
        "{text}"
    );
    let (code, text) = verify(&config, &["--checkpoint", &hash]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no row has the hash"), "{text}");

    let (code, text) = verify(&config, &["--checkpoint", "not-a-hash"]);
    assert_eq!(code, Some(2), "bad input, not a verdict: {text}");
    assert!(
        text.contains("neither a checkpoint file nor a 64-hex-digit hash"),
        "{text}"
    );
}

#[test]
fn the_audit_key_seals_every_row_and_a_row_written_without_it_is_caught() {
    let (dir, config) = workspace();
    let keyed = dir.path().join("keyed.toml");
    std::fs::write(
        &keyed,
        "[workspace]\ncache = \"cache.db\"\n\n[audit]\nkey_env = \"RELOPS_TEST_AUDIT_KEY\"\n",
    )
    .unwrap();
    // Without the key set, relops stops at the start, naming the place.
    let out = relops(&keyed).args(["audit"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("keyed.toml:5:")
            && err.contains("audit.key_env")
            && err.contains("RELOPS_TEST_AUDIT_KEY is not set"),
        "{err}"
    );
    let key = "k3y-that-stays-out-of-the-ledger";
    let with_key = |args: &[&str]| {
        let mut cmd = relops(&keyed);
        cmd.env("RELOPS_TEST_AUDIT_KEY", key).args(args);
        cmd
    };
    with_key(&["incident", "open", "sealed"]).assert().success();
    with_key(&["incident", "close", "1"]).assert().success();
    let out = with_key(&["audit", "verify"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("2 sealed with the audit key"),
        "{text}"
    );
    let db = std::fs::read(dir.path().join("cache.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(key),
        "the key never reaches the ledger"
    );

    // Someone with the database but not the key appends a well-chained row.
    relops(&config)
        .args(["incident", "open", "forged"])
        .assert()
        .success();
    let out = with_key(&["audit", "verify"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("BROKEN at row 3") && text.contains("without the audit key"),
        "{text}"
    );
    // With the wrong key, the first row already fails.
    let out = relops(&keyed)
        .env("RELOPS_TEST_AUDIT_KEY", "another")
        .args(["audit", "verify"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BROKEN at row 1") && text.contains("does not match"),
        "{text}"
    );
}
