//! Durable delivery: every notification is written to `notify_outbox` before it is
//! sent, in the same transaction that records what each notifier has been told
//! (`notify_state`). A guard killed at any point finds on restart exactly what is still
//! owed, and the state rows keep it from paging twice for one firing.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::alert::Alert;
use crate::config::guard::{Notify, NotifyKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Fire,
    Resolve,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Fire => "fire",
            Action::Resolve => "resolve",
        }
    }
}

/// A notification owed to a notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub id: i64,
    pub action: Action,
    pub alert: Alert,
    pub attempts: u32,
    pub created_ns: i64,
}

/// What a notifier was last told about one condition.
struct Told {
    firing: bool,
    last_queued: i64,
    alert: String,
}

/// Whether `alert` goes to `n` at all.
fn wants(n: &Notify, alert: &Alert) -> bool {
    match n.kind {
        // The dead-man's switch is Alertmanager's pattern; a page for it elsewhere would
        // be noise.
        NotifyKind::Alertmanager if alert.is_watchdog() => true,
        _ if alert.is_watchdog() => false,
        _ => alert.severity >= n.min_severity,
    }
}

/// Queues what changed for each notifier since the last cycle: a new condition fires, a
/// firing one repeats when due (Alertmanager: every cycle, as its API expects), a gone
/// one resolves. One transaction; the number of notifications queued.
pub fn reconcile(
    conn: &Connection,
    notifiers: &[Notify],
    alerts: &[Alert],
    now_ns: i64,
) -> rusqlite::Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let mut queued = 0;
    for n in notifiers {
        let mut told = told(&tx, &n.name)?;
        for alert in alerts.iter().filter(|a| wants(n, a)) {
            let due = match told.remove(&alert.key) {
                None => true,
                Some(t) if !t.firing => true,
                Some(t) => {
                    n.kind == NotifyKind::Alertmanager
                        || now_ns - t.last_queued >= n.repeat_every.as_nanos()
                }
            };
            let json = serde_json::to_string(alert).expect("an alert serialises");
            if due {
                queue(&tx, &n.name, &alert.key, Action::Fire, &json, now_ns)?;
                queued += 1;
            }
            tx.execute(
                "INSERT INTO notify_state (notifier, key, firing, since, last_queued, alert)
                 VALUES (?1, ?2, 1, ?3, ?3, ?4)
                 ON CONFLICT (notifier, key) DO UPDATE SET
                    since = CASE WHEN firing = 1 THEN since ELSE excluded.since END,
                    firing = 1,
                    last_queued = CASE WHEN ?5 THEN excluded.last_queued ELSE last_queued END,
                    alert = excluded.alert",
                params![n.name, alert.key, now_ns, json, due],
            )?;
        }
        // What is left was firing and holds no more.
        for (key, t) in told.into_iter().filter(|(_, t)| t.firing) {
            if n.send_resolved {
                queue(&tx, &n.name, &key, Action::Resolve, &t.alert, now_ns)?;
                queued += 1;
            }
            tx.execute(
                "UPDATE notify_state SET firing = 0 WHERE notifier = ?1 AND key = ?2",
                params![n.name, key],
            )?;
        }
    }
    tx.commit()?;
    Ok(queued)
}

fn told(conn: &Connection, notifier: &str) -> rusqlite::Result<BTreeMap<String, Told>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, firing, last_queued, alert FROM notify_state WHERE notifier = ?1",
    )?;
    let rows = stmt.query_map([notifier], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Told {
                firing: r.get(1)?,
                last_queued: r.get(2)?,
                alert: r.get(3)?,
            },
        ))
    })?;
    rows.collect()
}

/// A newer notification of the same kind replaces one not yet sent: the backlog of a
/// notifier that is down stays one row per condition.
fn queue(
    conn: &Connection,
    notifier: &str,
    key: &str,
    action: Action,
    alert: &str,
    now_ns: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM notify_outbox
         WHERE notifier = ?1 AND key = ?2 AND action = ?3 AND sent_at IS NULL AND failed_at IS NULL",
        params![notifier, key, action.as_str()],
    )?;
    conn.execute(
        "INSERT INTO notify_outbox (notifier, key, action, alert, created_at, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![notifier, key, action.as_str(), alert, now_ns],
    )?;
    Ok(())
}

/// What `notifier` owes now, oldest first. Empty while its oldest is backing off, so a
/// resolve never overtakes its fire.
pub fn due(conn: &Connection, notifier: &str, now_ns: i64) -> rusqlite::Result<Vec<Queued>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, action, alert, attempts, created_at, next_at FROM notify_outbox
         WHERE notifier = ?1 AND sent_at IS NULL AND failed_at IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([notifier], |r| {
        let action: String = r.get(1)?;
        let alert: String = r.get(2)?;
        Ok((
            Queued {
                id: r.get(0)?,
                action: if action == "resolve" {
                    Action::Resolve
                } else {
                    Action::Fire
                },
                alert: serde_json::from_str(&alert).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        2,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?,
                attempts: r.get(3)?,
                created_ns: r.get(4)?,
            },
            r.get::<_, i64>(5)?,
        ))
    })?;
    let all: Vec<(Queued, i64)> = rows.collect::<rusqlite::Result<_>>()?;
    if all.first().is_some_and(|(_, next)| *next > now_ns) {
        return Ok(Vec::new());
    }
    Ok(all.into_iter().map(|(q, _)| q).collect())
}

pub fn sent(conn: &Connection, ids: &[i64], now_ns: i64) -> rusqlite::Result<()> {
    for id in ids {
        conn.execute(
            "UPDATE notify_outbox SET sent_at = ?2, attempts = attempts + 1 WHERE id = ?1",
            params![id, now_ns],
        )?;
    }
    Ok(())
}

/// A failure worth retrying: the next attempt waits `after_ns`.
pub fn retry(
    conn: &Connection,
    ids: &[i64],
    error: &str,
    now_ns: i64,
    after_ns: i64,
) -> rusqlite::Result<()> {
    for id in ids {
        conn.execute(
            "UPDATE notify_outbox SET attempts = attempts + 1, next_at = ?2, last_error = ?3
             WHERE id = ?1",
            params![id, now_ns + after_ns, crate::secret::scrub(error)],
        )?;
    }
    Ok(())
}

/// A refusal that no retry will change (the peer rejected the notification itself).
pub fn failed(conn: &Connection, ids: &[i64], error: &str, now_ns: i64) -> rusqlite::Result<()> {
    for id in ids {
        conn.execute(
            "UPDATE notify_outbox SET attempts = attempts + 1, failed_at = ?2, last_error = ?3
             WHERE id = ?1",
            params![id, now_ns, crate::secret::scrub(error)],
        )?;
    }
    Ok(())
}

/// One notifier's delivery as `guard status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backlog {
    pub notifier: String,
    pub kind: String,
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    pub last_sent_ns: Option<i64>,
    pub last_error: Option<String>,
    pub firing: i64,
}

pub fn backlog(conn: &Connection, n: &Notify) -> rusqlite::Result<Backlog> {
    let (pending, sent, failed, last_sent_ns): (i64, i64, i64, Option<i64>) = conn.query_row(
        "SELECT count(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL),
                count(sent_at), count(failed_at), max(sent_at)
         FROM notify_outbox WHERE notifier = ?1",
        [&n.name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let last_error = conn
        .query_row(
            "SELECT last_error FROM notify_outbox
             WHERE notifier = ?1 AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
            [&n.name],
            |r| r.get(0),
        )
        .optional()?;
    let firing = conn.query_row(
        "SELECT count(*) FROM notify_state WHERE notifier = ?1 AND firing = 1",
        [&n.name],
        |r| r.get(0),
    )?;
    Ok(Backlog {
        notifier: n.name.clone(),
        kind: n.kind.as_str().into(),
        pending,
        sent,
        failed,
        last_sent_ns,
        last_error,
        firing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::guard::Severity;
    use crate::guard::alert::names;

    fn notifier(kind: NotifyKind, min: Severity) -> Notify {
        let text = format!(
            "name = \"n\"\nkind = \"{}\"\nurl = \"http://127.0.0.1:1\"\nsecret_env = \"K\"\nmin_severity = \"{}\"\nrepeat_every = \"1h\"\n",
            kind.as_str(),
            min.as_str()
        );
        toml::from_str(&text).unwrap()
    }

    fn alert(name: &str, severity: Severity) -> Alert {
        Alert::new(name, severity, &[("rollout", "1")], 0)
    }

    const HOUR: i64 = 3_600_000_000_000;

    #[test]
    fn a_condition_fires_once_repeats_when_due_and_resolves_once() {
        let conn = crate::store::memory();
        let n = notifier(NotifyKind::Webhook, Severity::Warning);
        let fired = alert(names::TRIGGER_FIRED, Severity::Critical);
        let all = std::slice::from_ref(&n);
        assert_eq!(
            reconcile(&conn, all, std::slice::from_ref(&fired), 0).unwrap(),
            1
        );
        assert_eq!(
            reconcile(&conn, all, std::slice::from_ref(&fired), 10).unwrap(),
            0
        );
        let due_now = due(&conn, "n", 10).unwrap();
        assert_eq!(due_now.len(), 1);
        sent(&conn, &[due_now[0].id], 11).unwrap();
        assert_eq!(
            reconcile(&conn, all, std::slice::from_ref(&fired), HOUR).unwrap(),
            1,
            "repeat_every"
        );
        assert_eq!(reconcile(&conn, all, &[], HOUR + 1).unwrap(), 1, "resolved");
        assert_eq!(reconcile(&conn, all, &[], HOUR + 2).unwrap(), 0, "once");
        let owed = due(&conn, "n", HOUR + 2).unwrap();
        let actions: Vec<Action> = owed.iter().map(|q| q.action).collect();
        assert_eq!(actions, [Action::Fire, Action::Resolve]);
    }

    #[test]
    fn below_min_severity_and_the_watchdog_stay_away_from_pagers() {
        let conn = crate::store::memory();
        let pager = notifier(NotifyKind::Pagerduty, Severity::Critical);
        let am = notifier(NotifyKind::Alertmanager, Severity::Critical);
        let am = Notify {
            name: "am".into(),
            ..am
        };
        let alerts = [
            alert(names::NO_DATA, Severity::Warning),
            alert(names::WATCHDOG, Severity::Info),
        ];
        let both = [pager, am];
        reconcile(&conn, &both, &alerts, 0).unwrap();
        assert!(due(&conn, "n", 0).unwrap().is_empty());
        let am_owed = due(&conn, "am", 0).unwrap();
        assert_eq!(am_owed.len(), 1);
        assert!(am_owed[0].alert.is_watchdog());
        // Alertmanager hears the firing set every cycle; the unsent one is replaced.
        assert_eq!(reconcile(&conn, &both[1..], &alerts, 5).unwrap(), 1);
        let again = due(&conn, "am", 5).unwrap();
        assert_eq!((again.len(), again[0].created_ns), (1, 5));
    }

    #[test]
    fn a_backing_off_head_holds_the_queue_in_order() {
        let conn = crate::store::memory();
        let n = notifier(NotifyKind::Webhook, Severity::Info);
        let a = alert(names::TRIGGER_FIRED, Severity::Critical);
        reconcile(&conn, std::slice::from_ref(&n), std::slice::from_ref(&a), 0).unwrap();
        reconcile(&conn, std::slice::from_ref(&n), &[], 1).unwrap();
        let head = due(&conn, "n", 1).unwrap()[0].id;
        retry(&conn, &[head], "503", 1, 100).unwrap();
        assert!(
            due(&conn, "n", 50).unwrap().is_empty(),
            "the resolve waits for its fire"
        );
        assert_eq!(due(&conn, "n", 101).unwrap().len(), 2);
        let b = backlog(&conn, &n).unwrap();
        assert_eq!((b.pending, b.last_error.as_deref()), (2, Some("503")));
    }
}
