//! One guard per workspace: a lease row with a heartbeat. A guard takes the lease when
//! there is none, when it is its own, or when the holder's heartbeat is older than the
//! lease's time to live (the holder died without letting go).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::rfc3339;

/// The lease as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lease {
    pub holder: String,
    pub pid: i64,
    pub since_ns: i64,
    pub heartbeat_ns: i64,
    pub cycles: i64,
    pub last_cycle_ns: Option<i64>,
    pub last_cycle_ms: Option<f64>,
    pub last_error: Option<String>,
}

impl Lease {
    /// "guard@host (pid 41) since 2026-12-02T03:12:00Z, heartbeat 4 s ago".
    pub fn describe(&self, now_ns: i64) -> String {
        format!(
            "{} (pid {}) since {}, heartbeat {} s ago",
            self.holder,
            self.pid,
            rfc3339(self.since_ns),
            (now_ns - self.heartbeat_ns).max(0) / 1_000_000_000
        )
    }
}

/// Who this guard is.
#[derive(Debug, Clone)]
pub struct Me {
    pub holder: String,
    pub pid: i64,
}

impl Me {
    pub fn this_process() -> Self {
        Self {
            holder: format!("guard@{}", host()),
            pid: i64::from(std::process::id()),
        }
    }

    fn owns(&self, lease: &Lease) -> bool {
        lease.holder == self.holder && lease.pid == self.pid
    }
}

pub use crate::audit::identity::host;

pub fn read(conn: &Connection) -> rusqlite::Result<Option<Lease>> {
    conn.query_row(
        "SELECT holder, pid, since, heartbeat, cycles, last_cycle_at, last_cycle_ms, last_error
         FROM guard_lease WHERE id = 1",
        [],
        |r| {
            Ok(Lease {
                holder: r.get(0)?,
                pid: r.get(1)?,
                since_ns: r.get(2)?,
                heartbeat_ns: r.get(3)?,
                cycles: r.get(4)?,
                last_cycle_ns: r.get(5)?,
                last_cycle_ms: r.get(6)?,
                last_error: r.get(7)?,
            })
        },
    )
    .optional()
}

/// Takes the lease, or says who holds it.
/// Two guards starting at once: `BEGIN IMMEDIATE` takes the write lock before the
/// read, so the second waits and then sees the first's lease.
pub fn acquire(conn: &Connection, me: &Me, ttl_ns: i64, now_ns: i64) -> Result<(), String> {
    let db = |e: rusqlite::Error| e.to_string();
    conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
    let taken = take(conn, me, ttl_ns, now_ns);
    let end = if taken.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end).map_err(db)?;
    taken
}

fn take(conn: &Connection, me: &Me, ttl_ns: i64, now_ns: i64) -> Result<(), String> {
    if let Some(held) = read(conn).map_err(|e| e.to_string())? {
        let alive = now_ns - held.heartbeat_ns < ttl_ns;
        if alive && !me.owns(&held) {
            return Err(format!(
                "another guard holds this workspace: {}",
                held.describe(now_ns)
            ));
        }
    }
    conn.execute(
        "INSERT OR REPLACE INTO guard_lease (id, holder, pid, since, heartbeat, cycles)
         VALUES (1, ?1, ?2, ?3, ?3, 0)",
        params![me.holder, me.pid, now_ns],
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Records a finished cycle as the heartbeat; fails when the lease was taken over.
pub fn beat(
    conn: &Connection,
    me: &Me,
    now_ns: i64,
    cycle_ms: f64,
    error: Option<&str>,
) -> Result<(), String> {
    let changed = conn
        .execute(
            "UPDATE guard_lease SET heartbeat = ?3, cycles = cycles + 1, last_cycle_at = ?3,
                    last_cycle_ms = ?4, last_error = ?5
             WHERE id = 1 AND holder = ?1 AND pid = ?2",
            params![me.holder, me.pid, now_ns, cycle_ms, error],
        )
        .map_err(|e| e.to_string())?;
    if changed == 0 {
        return Err("the guard's lease was taken over by another guard; stopping".into());
    }
    Ok(())
}

/// Lets go of the lease on a clean exit, so the next guard need not wait out the TTL.
pub fn release(conn: &Connection, me: &Me) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM guard_lease WHERE id = 1 AND holder = ?1 AND pid = ?2",
        params![me.holder, me.pid],
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(pid: i64) -> Me {
        Me {
            holder: "guard@test".into(),
            pid,
        }
    }

    #[test]
    fn a_live_lease_refuses_a_second_guard_and_a_dead_one_is_taken_over() {
        let conn = crate::store::memory();
        acquire(&conn, &me(1), 100, 1_000).unwrap();
        let refused = acquire(&conn, &me(2), 100, 1_050).unwrap_err();
        assert!(refused.contains("guard@test (pid 1)"), "{refused}");
        beat(&conn, &me(1), 1_090, 3.5, None).unwrap();
        assert!(
            acquire(&conn, &me(2), 100, 1_150).is_err(),
            "beat renewed it"
        );
        acquire(&conn, &me(2), 100, 1_200).unwrap();
        assert!(
            beat(&conn, &me(1), 1_210, 1.0, None).is_err(),
            "pid 1 lost it"
        );
        release(&conn, &me(2)).unwrap();
        assert_eq!(read(&conn).unwrap(), None);
    }
}
