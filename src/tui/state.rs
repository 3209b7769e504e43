//! Everything the console shows, and nothing it does: changed only by `update`, read by
//! the views.

use std::sync::Arc;

use ratatui::layout::Rect;

use super::action::{GateProgress, Pane};
use super::data::OverviewData;
use super::data::gate::{RunDetail, RunSummary};
use super::data::incidents::{IncidentRow, Timeline};
use super::keymap::{Keymap, Mode};
use super::layout;
use super::list::ListState;
use super::palette::Prompt;
use crate::drift::DriftReport;
use crate::period::Period;
use crate::store::query::{TraceDetail, VersionRow};
use crate::workspace::Workspace;

/// What floats over the panes and takes the keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Overlay {
    #[default]
    None,
    Help {
        scroll: usize,
    },
    Filter(Prompt),
    Palette(Prompt),
    /// `r`: which version to replay a trace on.
    Versions(Picker),
    /// `R`: a regression case drafted from a trace, to edit and save.
    CaseForm(Box<CaseForm>),
    /// `n` in the Review pane: a note on a trace (its row id).
    Note {
        trace_pk: i64,
        prompt: Prompt,
    },
    /// A typed confirmation before something changes production.
    Confirm(Confirm),
}

/// What the operator is asked to confirm, and the exact text that confirms it.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub purpose: Purpose,
    pub question: String,
    pub expect: String,
    pub prompt: Prompt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The rollback runs once the target version is typed.
    Rollback { allow_untested: bool },
    /// The first of two confirmations for a procedure that is not tested.
    Untested,
    /// Kills the running step.
    Kill,
    /// A confirm step's question.
    Question,
}

/// The `R` form: the drafted case, which suggested assertions to keep, and the focus.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseForm {
    pub draft: crate::cases::suggest::Draft,
    /// One per suggested assertion.
    pub keep: Vec<bool>,
    /// 0: the title; 1..=n: the assertions; n + 1: must-pass.
    pub focus: usize,
}

impl CaseForm {
    pub fn new(draft: crate::cases::suggest::Draft) -> Self {
        let keep = vec![true; draft.case.assertions.len()];
        Self {
            draft,
            keep,
            focus: 0,
        }
    }

    /// Rows the focus moves over.
    pub fn rows(&self) -> usize {
        self.keep.len() + 2
    }

    /// The case to save: the kept assertions (a reference only if still used).
    pub fn case(&self) -> crate::cases::Case {
        let mut case = self.draft.case.clone();
        case.assertions = case
            .assertions
            .into_iter()
            .zip(&self.keep)
            .filter(|(_, k)| **k)
            .map(|(a, _)| a)
            .collect();
        let uses_reference = case
            .assertions
            .iter()
            .any(|a| matches!(a, crate::cases::Assertion::SimilarToReference { .. }));
        if !uses_reference {
            case.reference = None;
        }
        case
    }
}

/// A choice of versions for a replay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Picker {
    pub trace_id: String,
    /// Version labels, oldest first.
    pub choices: Vec<String>,
    /// Which one the baseline is (the default choice).
    pub baseline: usize,
    pub choice: usize,
}

/// The Diff pane's state: the diff, the tab and one scroll offset for both columns.
#[derive(Debug, Clone, Default)]
pub struct DiffState {
    pub data: Option<Arc<crate::replay::Diff>>,
    /// A diff was asked for and has not arrived.
    pub loading: bool,
    pub tab: super::views::diff::DiffTab,
    pub scroll: usize,
    /// The current tab's rows at the current width (see `views::diff::layout`).
    pub layout: Arc<super::views::diff::DiffLayout>,
    /// Where `Esc` goes back to: the pane the diff was opened from.
    pub from: Option<Pane>,
}

/// The status line's message.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    /// The kind of load an error came from; a later success of that kind clears it.
    pub what: Option<&'static str>,
}

#[derive(Debug, Clone, Default)]
pub struct OverviewState {
    pub data: Option<OverviewData>,
    /// Index into the versions with traffic.
    pub selected: usize,
}

/// The Drift pane: the latest report and the operator's choices.
#[derive(Debug, Clone, Default)]
pub struct DriftState {
    pub report: Option<Box<DriftReport>>,
    /// Index into the report's signals.
    pub selected: usize,
    /// Chosen window (`None`: the config's); versions by label (`None`: defaults).
    pub window: Option<Period>,
    pub candidate: Option<String>,
    pub baseline: Option<String>,
    /// Auto-refreshes since the last drift request: drift scans are heavier.
    pub since_refresh: u32,
}

/// Where the keys go in a pane with a list above and its selection's rows below.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Focus {
    #[default]
    List,
    /// The selection's rows (an incident's timeline, a gate run's cases).
    Rows,
}

/// The Incidents pane: the list, the selected incident's timeline, a trace opened from it.
#[derive(Debug, Clone, Default)]
pub struct IncidentsState {
    /// `None` until the first load.
    pub rows: Option<Vec<IncidentRow>>,
    pub selected: usize,
    /// The timeline of the selected incident (or of the one selected before, until the
    /// new one arrives: compare ids).
    pub timeline: Option<Box<Timeline>>,
    pub focus: Focus,
    /// Index into the timeline's events.
    pub cursor: usize,
    /// A trace opened from the timeline (`Enter`); `Esc` returns to the timeline.
    pub detail: Option<DetailState>,
}

impl IncidentsState {
    pub fn selected_row(&self) -> Option<&IncidentRow> {
        self.rows.as_ref()?.get(self.selected)
    }

    /// The timeline, when it is the selected incident's.
    pub fn current(&self) -> Option<&Timeline> {
        let id = self.selected_row()?.id;
        self.timeline.as_deref().filter(|t| t.incident.id == id)
    }
}

/// The gate running from the console.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRunning {
    pub candidate: String,
    pub baseline: Option<String>,
    pub progress: GateProgress,
}

/// The Gate pane: stored runs, the selected run's cases, the run in progress.
#[derive(Debug, Clone, Default)]
pub struct GateState {
    pub runs: Option<Vec<RunSummary>>,
    pub selected: usize,
    pub run: Option<Box<RunDetail>>,
    pub focus: Focus,
    /// Index into the run's cases.
    pub cursor: usize,
    pub running: Option<GateRunning>,
    /// Select this run once the list has it (a run that just finished).
    pub select_id: Option<i64>,
}

impl GateState {
    pub fn selected_row(&self) -> Option<&RunSummary> {
        self.runs.as_ref()?.get(self.selected)
    }

    /// The cases, when they are the selected run's.
    pub fn current(&self) -> Option<&RunDetail> {
        let id = self.selected_row()?.id;
        self.run.as_deref().filter(|r| r.summary.id == id)
    }
}

/// The Rollout pane: the rollout, the checklist cursor, a procedure run from here.
#[derive(Debug, Clone, Default)]
pub struct RolloutState {
    /// `None` until loaded, then `Some(None)` when there is no rollout.
    pub view: Option<Option<Box<super::data::rollout::RolloutView>>>,
    /// Index into the current stage's items.
    pub cursor: usize,
    /// A change was sent and not answered yet; timed checks wait for it.
    pub busy: bool,
    /// When the console last checked the live signals for this rollout.
    pub checked_ns: i64,
    pub run: Option<RunView>,
    /// The firing the console rang the bell for (its `fired_ns`), so it rings once.
    pub announced: Option<i64>,
}

impl RolloutState {
    pub fn current(&self) -> Option<&super::data::rollout::RolloutView> {
        self.view.as_ref()?.as_deref()
    }

    /// A procedure is running from the console (not yet done).
    pub fn running(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.done.is_none())
    }

    /// The rollout in flight has fired a trigger.
    pub fn triggered(&self) -> bool {
        self.current()
            .is_some_and(|v| v.rollout.state == crate::rollout::State::Triggered)
    }
}

/// A procedure run from the Rollout pane, as it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub procedure: String,
    /// A rollback (else a rehearsal).
    pub rollback: bool,
    pub started_ns: i64,
    pub steps: Vec<StepLine>,
    /// The latest output lines, newest last.
    pub lines: std::collections::VecDeque<String>,
    /// The step that failed, with its output tail and remediation.
    pub failure: Option<crate::runbook::exec::StepResult>,
    pub rolled_back_after: Option<f64>,
    /// The latest verification reading, and whether it says recovered.
    pub recovery: Option<(String, bool)>,
    /// The summary once over (or why it did not run).
    pub done: Option<Result<String, String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepLine {
    pub name: String,
    /// `None` while it runs.
    pub outcome: Option<String>,
    pub millis: u64,
}

/// The Review pane: a round of sampled traces, the one under the cursor, the scores.
#[derive(Debug, Clone, Default)]
pub struct ReviewState {
    /// Who scores: the OS user, as in the audit log.
    pub reviewer: String,
    /// The round shown (`None` until the first one is drawn).
    pub sample: Option<Box<crate::review::sample::Sample>>,
    /// The round asked for (from 1, as `relops review sample --round`); `N` asks for
    /// the next one.
    pub round: u32,
    pub loading: bool,
    pub selected: usize,
    /// Index into the rubric's criteria.
    pub criterion: usize,
    /// What the reviewer has stored per trace (row id), as the writer answered.
    pub reviews: std::collections::HashMap<i64, crate::review::store::TraceReview>,
    /// Notes written before the trace had a score: stored with its first score.
    pub pending_notes: std::collections::HashMap<i64, String>,
    /// The selected trace's input and output (the trace detail load).
    pub detail: Option<Box<TraceDetail>>,
}

impl ReviewState {
    pub fn selected_item(&self) -> Option<&crate::review::sample::Item> {
        self.sample.as_ref()?.items.get(self.selected)
    }

    /// The selected trace's detail, once it has arrived.
    pub fn current(&self) -> Option<&TraceDetail> {
        let id = &self.selected_item()?.trace.id;
        self.detail.as_deref().filter(|d| d.row.id == *id)
    }
}

#[derive(Debug, Clone)]
pub struct DetailState {
    pub trace_id: String,
    pub data: Option<Box<TraceDetail>>,
    pub scroll: usize,
}

#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub readonly: bool,
    pub window: Period,
    pub buckets: usize,
    pub keymap: Arc<Keymap>,
    /// The clock as of the last tick (drawing must not read the clock).
    pub now_ns: i64,
    pub size: Rect,
    pub pane: Pane,
    pub overlay: Overlay,
    pub overview: OverviewState,
    pub list: ListState,
    pub detail: Option<DetailState>,
    pub drift: DriftState,
    pub diff: DiffState,
    pub incidents: IncidentsState,
    pub gate: GateState,
    pub rollout: RolloutState,
    pub review: ReviewState,
    /// The suite directory (case files), for the incident loads.
    pub suite_dir: std::path::PathBuf,
    /// Replays started and not finished yet.
    pub replays_running: usize,
    /// What the background sync engine said lately, newest last.
    pub sync_log: std::collections::VecDeque<String>,
    /// Read by the loader for diffs (refusal and safety detection rules).
    pub config: super::data::SharedConfig,
    pub status: Option<Status>,
    pub quit: bool,
}

impl State {
    pub fn new(ws: &Workspace, keymap: Arc<Keymap>, now_ns: i64, size: Rect) -> Self {
        Self {
            name: ws.name(),
            readonly: ws.readonly,
            window: ws.config.overview.window,
            buckets: ws.config.overview.buckets.max(1) as usize,
            keymap,
            now_ns,
            size,
            pane: Pane::Overview,
            overlay: Overlay::None,
            overview: OverviewState::default(),
            list: ListState::default(),
            detail: None,
            drift: DriftState::default(),
            diff: DiffState::default(),
            incidents: IncidentsState::default(),
            gate: GateState::default(),
            rollout: RolloutState::default(),
            review: ReviewState {
                reviewer: crate::audit::actor(),
                round: 1,
                ..ReviewState::default()
            },
            suite_dir: ws.suite_dir(),
            replays_running: 0,
            sync_log: Default::default(),
            config: super::data::SharedConfig(Arc::new(ws.config.clone())),
            status: None,
            quit: false,
        }
    }

    /// The keymap modes that apply now, most specific first.
    pub fn modes(&self) -> Vec<Mode> {
        match (&self.overlay, self.pane, &self.detail) {
            (Overlay::Help { .. }, _, _) => vec![Mode::Help],
            (Overlay::Filter(_) | Overlay::Palette(_) | Overlay::Note { .. }, _, _) => {
                vec![Mode::Input]
            }
            (Overlay::Versions(_), _, _) => vec![Mode::Picker],
            (Overlay::CaseForm(_), _, _) => vec![Mode::Form],
            (Overlay::Confirm(_), _, _) => vec![Mode::Input],
            (Overlay::None, Pane::Rollout, _) if self.rollout.running() => {
                vec![Mode::Running, Mode::Rollout, Mode::Global]
            }
            (Overlay::None, Pane::Rollout, _) => vec![Mode::Rollout, Mode::Global],
            (Overlay::None, Pane::Diff, _) => vec![Mode::Diff, Mode::Global],
            (Overlay::None, Pane::Traces, Some(_)) => vec![Mode::Detail, Mode::Global],
            (Overlay::None, Pane::Traces, None) => vec![Mode::Traces, Mode::Global],
            (Overlay::None, Pane::Overview, _) => vec![Mode::Overview, Mode::Global],
            (Overlay::None, Pane::Drift, _) => vec![Mode::Drift, Mode::Global],
            (Overlay::None, Pane::Sources, _) => vec![Mode::Global],
            (Overlay::None, Pane::Incidents, _) => {
                match (&self.incidents.detail, self.incidents.focus) {
                    (Some(_), _) => vec![Mode::Detail, Mode::Global],
                    (None, Focus::Rows) => vec![Mode::Timeline, Mode::Global],
                    (None, Focus::List) => vec![Mode::Incidents, Mode::Global],
                }
            }
            (Overlay::None, Pane::Review, _) => vec![Mode::Review, Mode::Global],
            (Overlay::None, Pane::Gate, _) => match self.gate.focus {
                Focus::Rows => vec![Mode::GateRun, Mode::Global],
                Focus::List => vec![Mode::Gate, Mode::Global],
            },
        }
    }

    /// Rows of the trace list that fit on screen.
    pub fn list_height(&self) -> usize {
        layout::list_rows(layout::areas(self.size).body)
            .height
            .max(1) as usize
    }

    /// Known versions (for resolving `v:`), oldest first.
    pub fn versions(&self) -> &[VersionRow] {
        self.overview
            .data
            .as_ref()
            .map_or(&[], |d| d.versions.as_slice())
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: false,
            what: None,
        });
    }

    pub fn error(&mut self, what: Option<&'static str>, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: true,
            what,
        });
    }

    /// Clears an error that a successful load of `what` made stale.
    pub fn loaded_ok(&mut self, what: &'static str) {
        if self.status.as_ref().is_some_and(|s| s.what == Some(what)) {
            self.status = None;
        }
    }
}

impl OverviewData {
    /// Versions with traffic in the window, oldest first.
    pub fn active(&self) -> Vec<&VersionRow> {
        self.versions
            .iter()
            .filter(|v| self.series.contains_key(&v.rowid))
            .collect()
    }
}
