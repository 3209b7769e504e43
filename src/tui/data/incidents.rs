//! The Incidents pane's data: every incident with its counts, and one incident's
//! timeline (attached traces, their replays, cases made for it, version changes, opened
//! and closed) in time order.
//!
//! Cases are files in the suite directory; the `cases` table only indexes what was seen
//! of them. Both are read: the files win; indexed rows without a file here are kept (a
//! case indexed from another checkout is still evidence) unless marked removed.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::{Connection, params};

use crate::cases::Suite;
use crate::store::{query, replays};

/// One incident in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: i64,
    pub title: String,
    pub severity: String,
    /// `open` or `closed`.
    pub status: String,
    pub opened_ns: i64,
    pub opened_by: String,
    pub closed_ns: Option<i64>,
    pub traces: usize,
    pub replays: usize,
    pub cases: usize,
}

impl IncidentRow {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

/// A case as the timeline shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRef {
    pub id: String,
    pub title: String,
    pub incident: Option<i64>,
    pub must_pass: bool,
    pub created_ns: Option<i64>,
    /// The file, when one was found.
    pub path: Option<String>,
}

/// What happened, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A version (fingerprint) served its first trace.
    Version {
        label: String,
        fingerprint: String,
    },
    Opened {
        by: String,
    },
    Closed,
    /// An attached trace.
    Trace {
        trace_id: String,
        version: String,
        error: bool,
        refusal: bool,
        tool_errors: i64,
        safety_events: i64,
        duration_ms: f64,
    },
    /// A replay of an attached trace.
    Replay {
        id: i64,
        trace_id: String,
        version: String,
        error: Option<String>,
        latency_ms: Option<f64>,
    },
    /// A case made for the incident.
    Case(CaseRef),
}

impl EventKind {
    /// Ties in time: the cause before the effect.
    fn rank(&self) -> u8 {
        match self {
            EventKind::Version { .. } => 0,
            EventKind::Trace { .. } => 1,
            EventKind::Opened { .. } => 2,
            EventKind::Replay { .. } => 3,
            EventKind::Case(_) => 4,
            EventKind::Closed => 5,
        }
    }

    /// The trace this event is about, if any.
    pub fn trace_id(&self) -> Option<&str> {
        match self {
            EventKind::Trace { trace_id, .. } | EventKind::Replay { trace_id, .. } => {
                Some(trace_id)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at_ns: i64,
    pub kind: EventKind,
}

/// One incident and what happened around it, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub incident: IncidentRow,
    pub events: Vec<Event>,
    /// Case files that could not be read (they may belong to this incident).
    pub bad_case_files: usize,
}

/// Every incident, open ones first, newest first within each.
pub fn list(conn: &Connection, suite: &Path) -> rusqlite::Result<Vec<IncidentRow>> {
    list_with(conn, &cases(conn, suite)?.0)
}

fn list_with(conn: &Connection, cases: &[CaseRef]) -> rusqlite::Result<Vec<IncidentRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT i.id, i.title, i.severity, i.status, i.opened_at, i.opened_by, i.closed_at,
            (SELECT count(*) FROM incident_traces it WHERE it.incident_id = i.id),
            (SELECT count(*) FROM replays r JOIN incident_traces it ON it.trace_pk = r.trace_pk
             WHERE it.incident_id = i.id)
         FROM incidents i
         ORDER BY i.status = 'open' DESC, i.opened_at DESC, i.id DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        let id: i64 = r.get(0)?;
        Ok(IncidentRow {
            id,
            title: r.get(1)?,
            severity: r.get(2)?,
            status: r.get(3)?,
            opened_ns: r.get(4)?,
            opened_by: r.get(5)?,
            closed_ns: r.get(6)?,
            traces: r.get::<_, i64>(7)?.max(0) as usize,
            replays: r.get::<_, i64>(8)?.max(0) as usize,
            cases: cases.iter().filter(|c| c.incident == Some(id)).count(),
        })
    })?;
    rows.collect()
}

/// Cases from the suite's files, then indexed ones without a file; and how many files
/// could not be read.
pub fn cases(conn: &Connection, suite: &Path) -> rusqlite::Result<(Vec<CaseRef>, usize)> {
    let loaded = Suite::load(suite);
    let mut out: Vec<CaseRef> = loaded
        .cases
        .iter()
        .map(|l| CaseRef {
            id: l.case.id.clone(),
            title: l.case.title.clone(),
            incident: l.case.incident,
            must_pass: l.case.must_pass,
            created_ns: parse_time(&l.case.created_at),
            path: Some(l.path.display().to_string()),
        })
        .collect();
    let seen: BTreeSet<String> = out.iter().map(|c| c.id.clone()).collect();
    let mut stmt = conn.prepare_cached(
        "SELECT id, title, incident_id, must_pass, created_at, path FROM cases
         WHERE removed_at IS NULL ORDER BY id",
    )?;
    let indexed = stmt.query_map([], |r| {
        Ok(CaseRef {
            id: r.get(0)?,
            title: r.get(1)?,
            incident: r.get(2)?,
            must_pass: r.get(3)?,
            created_ns: r.get(4)?,
            path: None,
        })
    })?;
    for c in indexed {
        let c = c?;
        if !seen.contains(&c.id) {
            out.push(c);
        }
    }
    Ok((out, loaded.errors.len()))
}

fn parse_time(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

/// One incident's timeline; `None` when there is no such incident.
pub fn timeline(conn: &Connection, id: i64, suite: &Path) -> rusqlite::Result<Option<Timeline>> {
    let (cases, bad_case_files) = cases(conn, suite)?;
    let Some(incident) = list_with(conn, &cases)?.into_iter().find(|i| i.id == id) else {
        return Ok(None);
    };
    let mut events = vec![Event {
        at_ns: incident.opened_ns,
        kind: EventKind::Opened {
            by: incident.opened_by.clone(),
        },
    }];
    if let Some(closed) = incident.closed_ns {
        events.push(Event {
            at_ns: closed,
            kind: EventKind::Closed,
        });
    }

    let mut stmt = conn.prepare_cached(
        "SELECT t.id, t.trace_id, v.label, t.start_ns, t.duration_ms, t.error, t.refusal,
            t.tool_errors, t.safety_events, v.fingerprint
         FROM incident_traces it JOIN traces t ON t.id = it.trace_pk
         JOIN versions v ON v.id = t.version_id
         WHERE it.incident_id = ?1 ORDER BY t.start_ns, t.id",
    )?;
    let traces = stmt
        .query_map(params![id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(9)?,
                Event {
                    at_ns: r.get(3)?,
                    kind: EventKind::Trace {
                        trace_id: r.get(1)?,
                        version: r.get(2)?,
                        duration_ms: r.get(4)?,
                        error: r.get(5)?,
                        refusal: r.get(6)?,
                        tool_errors: r.get(7)?,
                        safety_events: r.get(8)?,
                    },
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut fingerprints: BTreeSet<String> = BTreeSet::new();
    for (pk, fingerprint, event) in traces {
        fingerprints.insert(fingerprint);
        let trace_id = event.kind.trace_id().unwrap_or_default().to_string();
        events.push(event);
        for r in replays::for_trace(conn, pk)? {
            events.push(Event {
                at_ns: r.started_ns,
                kind: EventKind::Replay {
                    id: r.pk,
                    trace_id: trace_id.clone(),
                    version: r.version,
                    error: r.error,
                    latency_ms: r.latency_ms,
                },
            });
        }
    }
    for c in cases.into_iter().filter(|c| c.incident == Some(id)) {
        events.push(Event {
            at_ns: c.created_ns.unwrap_or(incident.opened_ns),
            kind: EventKind::Case(c),
        });
    }

    // Version changes: the versions of the attached traces, the one that first appeared
    // last before the earliest event (what changed before things went wrong), and any
    // that appeared while the incident unfolded.
    let start = events
        .iter()
        .map(|e| e.at_ns)
        .min()
        .unwrap_or(incident.opened_ns);
    let end = events.iter().map(|e| e.at_ns).max().unwrap_or(start);
    let versions = query::versions(conn)?;
    let before = versions
        .iter()
        .filter(|v| v.first_seen_ns.is_some_and(|t| t <= start))
        .max_by_key(|v| v.first_seen_ns)
        .map(|v| v.id.clone());
    for v in &versions {
        let Some(first) = v.first_seen_ns else {
            continue;
        };
        let shown = fingerprints.contains(&v.id)
            || before.as_deref() == Some(v.id.as_str())
            || (start..=end).contains(&first);
        if shown {
            events.push(Event {
                at_ns: first,
                kind: EventKind::Version {
                    label: v.label.clone(),
                    fingerprint: v.id.clone(),
                },
            });
        }
    }
    events.sort_by_key(|e| (e.at_ns, e.kind.rank()));
    Ok(Some(Timeline {
        incident,
        events,
        bad_case_files,
    }))
}
