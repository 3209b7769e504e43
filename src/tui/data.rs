//! What the console asks of the cache ([`Request`]), what comes back ([`Loaded`]), and
//! the queries behind them. [`execute`] is shared by the background loader and the
//! headless driver, so tests read data exactly as the console does.
//!
//! The trace list is a snapshot: rows with `id <= max_pk`, newest first, so indices stay
//! put while the live feed writes; [`Request::Head`] counts what arrived since.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rusqlite::Connection;

use crate::config::Drift;
use crate::drift::{self, DriftReport, DriftRequest};

pub mod gate;
pub mod incidents;
pub mod rollout;

pub use crate::store::query::Seek;
use crate::store::query::TraceFilter;
use crate::store::query::{self, Buckets, TraceDetail, TraceRow, VersionRow};

/// Rows per page of the trace list.
pub const PAGE_SIZE: usize = 200;

/// A query for the loader. `generation` ties list replies to the list they were for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Overview {
        window_ns: i64,
        buckets: usize,
        /// Names the configured sources, whose sync state comes along.
        config: SharedConfig,
    },
    /// Takes a new snapshot of the list and loads its first page.
    Rebase {
        generation: u64,
        filter: TraceFilter,
    },
    Page {
        generation: u64,
        filter: TraceFilter,
        max_pk: i64,
        page: usize,
        seek: Seek,
    },
    Count {
        generation: u64,
        filter: TraceFilter,
        max_pk: i64,
    },
    /// How many matching rows arrived after the snapshot.
    Head {
        generation: u64,
        filter: TraceFilter,
        max_pk: i64,
    },
    Detail {
        trace_id: String,
    },
    /// A drift verdict, with the workspace's drift settings.
    Drift {
        config: Box<Drift>,
        request: DriftRequest,
    },
    /// Two executions compared (the diff runs on the loader, not the UI thread).
    Diff {
        a: crate::replay::ExecRef,
        b: crate::replay::ExecRef,
        config: SharedConfig,
    },
    /// Every incident with its counts; `suite` holds the case files.
    Incidents {
        suite: PathBuf,
    },
    /// One incident's timeline.
    Timeline {
        incident: i64,
        suite: PathBuf,
    },
    /// Stored gate runs with their counts.
    GateRuns,
    /// One gate run with its cases.
    GateRun {
        id: i64,
    },
    /// The newest rollout with its plan and procedures (from the config).
    /// `now_ns`: the console's clock (pinned in tests), so a rehearsal's freshness is
    /// judged at the same instant the pane shows.
    Rollout {
        config: SharedConfig,
        now_ns: i64,
    },
    /// A review round (see [`crate::review::sample`]).
    ReviewSample {
        rubric: Box<crate::review::Rubric>,
        reviewer: String,
        round: u32,
        now_ns: i64,
    },
}

/// The workspace config, shared by requests that read it; equal when it is the same one.
#[derive(Debug, Clone)]
pub struct SharedConfig(pub std::sync::Arc<crate::config::Config>);

impl PartialEq for SharedConfig {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A computed diff; equal when it is the same one.
#[derive(Debug, Clone)]
pub struct DiffBox(pub std::sync::Arc<crate::replay::Diff>);

impl PartialEq for DiffBox {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A loader reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    Overview(Box<OverviewData>),
    Rebased {
        generation: u64,
        max_pk: i64,
        rows: Vec<TraceRow>,
    },
    Page {
        generation: u64,
        page: usize,
        rows: Vec<TraceRow>,
    },
    Count {
        generation: u64,
        count: usize,
    },
    Head {
        generation: u64,
        new_rows: usize,
    },
    Detail(DetailBox),
    Drift(DriftBox),
    Diff(DiffBox),
    Incidents(Vec<incidents::IncidentRow>),
    Timeline(Box<incidents::Timeline>),
    GateRuns(Vec<gate::RunSummary>),
    GateRun(Box<gate::RunDetail>),
    Rollout(Option<Box<rollout::RolloutView>>),
    ReviewSample(Box<crate::review::sample::Sample>),
    /// A request failed; `what` names it for the status line.
    Failed {
        what: &'static str,
        error: String,
    },
}

/// A trace detail; two are equal when they show the same row.
#[derive(Debug, Clone)]
pub struct DetailBox(pub Box<TraceDetail>);

impl PartialEq for DetailBox {
    fn eq(&self, other: &Self) -> bool {
        self.0.row == other.0.row
    }
}

/// A drift report; two are equal when they judged the same pair over the same window.
#[derive(Debug, Clone)]
pub struct DriftBox(pub Box<DriftReport>);

impl PartialEq for DriftBox {
    fn eq(&self, other: &Self) -> bool {
        let key = |r: &DriftReport| (r.candidate.rowid, r.window_start_ns, r.bucket_ns);
        key(&self.0) == key(&other.0)
    }
}

/// Everything the Overview shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OverviewData {
    pub window_start_ns: i64,
    pub window_end_ns: i64,
    pub buckets: usize,
    pub newest_ns: Option<i64>,
    pub imported_ns: Option<i64>,
    pub total: i64,
    /// Every known version, oldest first.
    pub versions: Vec<VersionRow>,
    /// Per version row id, only versions with traffic in the window.
    pub series: BTreeMap<i64, Buckets>,
    /// Each configured source's sync state, from the cache.
    pub sources: Vec<crate::sync::status::SourceStatus>,
}

impl Request {
    /// Names the request in error messages.
    pub fn what(&self) -> &'static str {
        match self {
            Request::Overview { .. } => "overview",
            Request::Rebase { .. } | Request::Page { .. } => "traces",
            Request::Count { .. } => "trace count",
            Request::Head { .. } => "new traces",
            Request::Detail { .. } => "trace",
            Request::Drift { .. } => "drift",
            Request::Diff { .. } => "diff",
            Request::Incidents { .. } => "incidents",
            Request::Timeline { .. } => "timeline",
            Request::GateRuns => "gate runs",
            Request::GateRun { .. } => "gate run",
            Request::Rollout { .. } => "rollout",
            Request::ReviewSample { .. } => "review round",
        }
    }
}

/// Runs one request on a read-only connection.
pub fn execute(conn: &Connection, req: &Request) -> Loaded {
    run(conn, req).unwrap_or_else(|e| Loaded::Failed {
        what: req.what(),
        error: e.to_string(),
    })
}

fn run(conn: &Connection, req: &Request) -> rusqlite::Result<Loaded> {
    Ok(match req {
        Request::Overview {
            window_ns,
            buckets,
            config,
        } => {
            let mut data = overview(conn, *window_ns, *buckets)?;
            data.sources = crate::sync::status::statuses(&config.0, conn, crate::clock::now_ns())?;
            Loaded::Overview(Box::new(data))
        }
        Request::Rebase { generation, filter } => {
            let max_pk = query::max_pk(conn)?;
            let rows = page(conn, filter, max_pk, Seek::Offset(0))?;
            Loaded::Rebased {
                generation: *generation,
                max_pk,
                rows,
            }
        }
        Request::Page {
            generation,
            filter,
            max_pk,
            page: index,
            seek,
        } => Loaded::Page {
            generation: *generation,
            page: *index,
            rows: page(conn, filter, *max_pk, *seek)?,
        },
        Request::Count {
            generation,
            filter,
            max_pk,
        } => Loaded::Count {
            generation: *generation,
            count: count(conn, filter, None, Some(*max_pk))?,
        },
        Request::Head {
            generation,
            filter,
            max_pk,
        } => Loaded::Head {
            generation: *generation,
            new_rows: count(conn, filter, Some(*max_pk), None)?,
        },
        Request::Drift { config, request } => match drift::run(conn, config, request) {
            Ok(report) => Loaded::Drift(DriftBox(Box::new(report))),
            Err(error) => Loaded::Failed {
                what: "drift",
                error,
            },
        },
        Request::Detail { trace_id } => match query::trace_detail(conn, trace_id)? {
            Some(d) => Loaded::Detail(DetailBox(Box::new(d))),
            None => Loaded::Failed {
                what: "trace",
                error: format!("{trace_id} is no longer in the cache"),
            },
        },
        Request::Diff { a, b, config } => diff(conn, a, b, &config.0),
        Request::Incidents { suite } => Loaded::Incidents(incidents::list(conn, suite)?),
        Request::Timeline { incident, suite } => {
            match incidents::timeline(conn, *incident, suite)? {
                Some(t) => Loaded::Timeline(Box::new(t)),
                None => Loaded::Failed {
                    what: "timeline",
                    error: format!("incident {incident} is no longer in the cache"),
                },
            }
        }
        Request::GateRuns => Loaded::GateRuns(gate::runs(conn)?),
        Request::ReviewSample {
            rubric,
            reviewer,
            round,
            now_ns,
        } => Loaded::ReviewSample(Box::new(crate::review::sample::draw(
            conn, rubric, reviewer, *round, *now_ns,
        )?)),
        Request::GateRun { id } => match gate::run(conn, *id)? {
            Some(r) => Loaded::GateRun(Box::new(r)),
            None => Loaded::Failed {
                what: "gate run",
                error: format!("gate run {id} is no longer in the cache"),
            },
        },
        Request::Rollout { config, now_ns } => {
            Loaded::Rollout(rollout::load(conn, &config.0, *now_ns)?.map(Box::new))
        }
    })
}

fn diff(
    conn: &Connection,
    a: &crate::replay::ExecRef,
    b: &crate::replay::ExecRef,
    config: &crate::config::Config,
) -> Loaded {
    use crate::replay::execution::load;
    match load(conn, config, a).and_then(|x| Ok((x, load(conn, config, b)?))) {
        Ok((x, y)) => Loaded::Diff(DiffBox(std::sync::Arc::new(crate::replay::diff(x, y)))),
        Err(error) => Loaded::Failed {
            what: "diff",
            error,
        },
    }
}

/// The Overview's window ends at the newest trace, so an old workspace still shows data.
pub fn overview(
    conn: &Connection,
    window_ns: i64,
    buckets: usize,
) -> rusqlite::Result<OverviewData> {
    let (newest_ns, imported_ns, total) = query::freshness(conn)?;
    let versions = query::versions(conn)?;
    let buckets = buckets.max(1);
    let mut data = OverviewData {
        buckets,
        newest_ns,
        imported_ns,
        total,
        versions,
        ..OverviewData::default()
    };
    if let Some(newest) = newest_ns {
        data.window_end_ns = newest + 1;
        data.window_start_ns = data.window_end_ns - window_ns.max(1);
        data.series =
            query::window_buckets(conn, data.window_start_ns, data.window_end_ns, buckets)?;
    }
    Ok(data)
}

/// One page of the snapshot, newest first.
pub fn page(
    conn: &Connection,
    f: &TraceFilter,
    max_pk: i64,
    seek: Seek,
) -> rusqlite::Result<Vec<TraceRow>> {
    let snapshot = TraceFilter {
        upto_pk: Some(max_pk),
        ..f.clone()
    };
    query::traces_page(conn, &snapshot, seek, PAGE_SIZE)
}

/// Matching rows with `after_pk < id <= upto_pk`.
pub fn count(
    conn: &Connection,
    f: &TraceFilter,
    after_pk: Option<i64>,
    upto_pk: Option<i64>,
) -> rusqlite::Result<usize> {
    let bounded = TraceFilter {
        after_pk,
        upto_pk,
        ..f.clone()
    };
    Ok(query::trace_count(conn, &bounded)?.max(0) as usize)
}
