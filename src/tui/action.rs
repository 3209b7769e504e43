//! The vocabulary of the console: what can happen ([`Action`]) and what the driver must
//! do about it ([`Effect`]). Keys, mouse, timers and loader replies all become actions;
//! `update` turns them into state changes plus effects.

use super::data::{Loaded, Request};

/// The panes reachable with `Tab` and the number keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    #[default]
    Overview,
    Traces,
    Drift,
    Diff,
    Sources,
    Incidents,
    Gate,
    Rollout,
    Review,
}

impl Pane {
    pub const ALL: [Pane; 9] = [
        Pane::Overview,
        Pane::Traces,
        Pane::Drift,
        Pane::Diff,
        Pane::Sources,
        Pane::Incidents,
        Pane::Gate,
        Pane::Rollout,
        Pane::Review,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Overview => "Overview",
            Pane::Traces => "Traces",
            Pane::Drift => "Drift",
            Pane::Diff => "Diff",
            Pane::Sources => "Sources",
            Pane::Incidents => "Incidents",
            Pane::Gate => "Gate",
            Pane::Rollout => "Rollout",
            Pane::Review => "Review",
        }
    }

    /// The title in a tab bar that has no room for the full one.
    pub fn short_title(self) -> &'static str {
        match self {
            Pane::Overview => "Over",
            Pane::Traces => "Trace",
            Pane::Drift => "Drift",
            Pane::Diff => "Diff",
            Pane::Sources => "Src",
            Pane::Incidents => "Inc",
            Pane::Gate => "Gate",
            Pane::Rollout => "Roll",
            Pane::Review => "Rev",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// The pane `step` places away, wrapping around.
    pub fn cycle(self, step: isize) -> Pane {
        let n = Self::ALL.len() as isize;
        Self::ALL[(self.index() as isize + step).rem_euclid(n) as usize]
    }
}

/// Everything that can change the state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quit,
    NextPane,
    PrevPane,
    ShowPane(Pane),
    ToggleHelp,
    OpenPalette,
    OpenFilter,
    /// Applies a filter expression (from the palette's `filter ...`).
    SetFilter(String),
    ClearFilter,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Drill in (`Enter`).
    Open,
    /// Back out (`Esc`).
    Back,
    Refresh,
    /// Drift pane: the next window length, candidate or baseline version.
    DriftWindow,
    DriftCandidate,
    DriftBaseline,
    // Text prompts (filter, palette).
    Submit,
    Cancel,
    DeleteChar,
    Complete,
    Insert(char),
    // Terminal.
    /// Mouse wheel: lines, negative is up.
    Scroll(i32),
    Click {
        col: u16,
        row: u16,
    },
    Resize {
        width: u16,
        height: u16,
    },
    // Time and data.
    /// The clock moved; ages on screen follow it.
    Tick(i64),
    /// The periodic poll for new data (the live feed).
    AutoRefresh,
    /// The background sync engine reported.
    Synced(crate::sync::Event),
    Loaded(Loaded),
    // Replay and diff.
    /// `r`: pick a version to replay the selected trace on.
    PickReplay,
    /// Replays a trace on versions (the picker's choice, or the palette's `replay V`).
    Replay {
        trace_id: String,
        versions: Vec<String>,
    },
    /// A replay finished: what was stored, or why nothing was.
    Replayed {
        trace_id: String,
        result: Result<Vec<crate::replay::Outcome>, String>,
    },
    /// `d`: diff the selected trace against its latest replay.
    DiffLatest,
    DiffNext,
    DiffPrev,
    DiffTab(isize),
    // Regression cases.
    /// `R`: draft a case from the selected trace (the driver suggests its assertions).
    NewCase,
    /// The draft arrived (or why there is none).
    CaseSuggested {
        trace_id: String,
        result: Result<Box<crate::cases::suggest::Draft>, String>,
    },
    /// The form's space: keep or drop the focused assertion, flip must-pass.
    Toggle,
    /// The case file was written (its path) or not (why).
    CaseSaved(Result<String, String>),
    // The release gate.
    /// `g` in the Gate pane or `:gate V [BASELINE]`: runs the gate in the background.
    /// No candidate: the selected run's pair again, else the newest version.
    RunGate {
        candidate: Option<String>,
        baseline: Option<String>,
    },
    /// The running gate reported.
    GateProgress(GateProgress),
    /// The running gate finished: the stored run, or why there is none.
    GateFinished(Result<GateDone, String>),
    // The rollout in flight and its procedures.
    /// `space`: tick the selected manual checklist item.
    RolloutCheck,
    Approve,
    Promote,
    /// Holds a running rollout, resumes a held one.
    HoldResume,
    /// `t`: rehearse the rollout's rollback procedure (dry-run forms, verify checks).
    Rehearse,
    /// `R` in the Rollout pane: ask for the typed confirmation of the rollback.
    AskRollback,
    /// While a procedure runs: ask before killing its step.
    AskKill,
    /// A rollout change was saved (what happened) or refused (why).
    RolloutDone(Result<String, String>),
    /// The procedure running from the console reported.
    Procedure(ProcEvent),
    // Quality review.
    /// The next (`1`) or previous (`-1`) rubric criterion.
    Criterion(isize),
    /// A digit: scores the selected criterion of the selected trace (0: not a score).
    Score(u8),
    /// `n`: a note on the selected trace.
    EditNote,
    /// `N`: draws the next round of traces to review.
    NewRound,
    /// The scores and note were stored (what the reviewer now has on the trace) or not.
    Reviewed {
        trace_pk: i64,
        result: Result<crate::review::store::TraceReview, String>,
    },
}

/// What a procedure running from the console reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ProcEvent {
    Started {
        index: usize,
        name: String,
    },
    /// A line of the running step's output (secrets already cut out).
    Line(String),
    Finished(Box<crate::runbook::exec::StepResult>),
    /// A confirm step's question for the operator.
    Ask(String),
    /// The rollback procedure succeeded and the rollout is rolled back, this many
    /// seconds after its trigger fired.
    RolledBack(Option<f64>),
    /// A reading of the verify signals after the rollback.
    Recovery {
        text: String,
        recovered: bool,
    },
    /// The run is over: a summary, or why it did not run or finish.
    Done(Result<String, String>),
}

/// An operator action on the rollout in flight (or the console's timed check).
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutOp {
    Tick,
    Check(String),
    Approve,
    Promote,
    HoldResume,
}

/// How far a running gate got: calls (case × version × attempt) done of all, and how
/// they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateProgress {
    pub done: usize,
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
}

/// A finished console gate run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateDone {
    pub run_id: i64,
    pub candidate: String,
    pub baseline: Option<String>,
    /// `ship` or `hold`.
    pub decision: String,
}

/// What `update` asks the driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Load(Request),
    /// Runs replays on a background task; the driver answers with `Action::Replayed`.
    Replay {
        trace_id: String,
        versions: Vec<String>,
    },
    /// Drafts a case from a trace; the driver answers with `Action::CaseSuggested`.
    SuggestCase {
        trace_id: String,
        now_ns: i64,
        /// Pre-filled when drafted from an incident's timeline.
        incident: Option<i64>,
    },
    /// Writes a case file into the suite; the driver answers with `Action::CaseSaved`.
    SaveCase(Box<crate::cases::Case>),
    /// Changes the rollout in flight, saved and audited; the driver answers with
    /// `Action::RolloutDone`.
    Rollout(RolloutOp),
    /// Runs a procedure from the console: a rehearsal, or the rollout's rollback (then
    /// its verification). Its events come back as `Action::Procedure`.
    RunProcedure {
        name: String,
        rollback: bool,
        /// The operator gave the second confirmation an untested procedure needs.
        allow_untested: bool,
    },
    /// The operator's answer to a confirm step.
    Answer(bool),
    /// Kills the running step: the operator confirmed.
    Kill,
    /// Runs the gate on a background task, reporting `Action::GateProgress` and ending
    /// with `Action::GateFinished`. No baseline: the version seen just before.
    RunGate {
        candidate: String,
        baseline: Option<String>,
    },
    /// Stores review scores and a note; the driver answers with `Action::Reviewed`.
    Review(Box<ReviewWrite>),
    /// Tells the operator outside the pane: the window title (OSC 2) and, once per
    /// firing, the terminal bell.
    Attention {
        title: String,
        bell: bool,
    },
    Quit,
}

/// Scores (and a note) one reviewer gives one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewWrite {
    /// The trace's row id.
    pub trace_pk: i64,
    pub reviewer: String,
    pub scores: Vec<crate::review::store::Score>,
    /// `Some("")` clears the note.
    pub note: Option<String>,
}

/// A named action: what the keymap and the palette refer to.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    pub name: &'static str,
    pub about: &'static str,
    /// Changes the world (production, the cache, files): hidden and refused in readonly.
    pub mutating: bool,
    /// Offered by the `:` palette.
    pub palette: bool,
}

const fn cmd(name: &'static str, about: &'static str, palette: bool) -> Command {
    Command {
        name,
        about,
        mutating: false,
        palette,
    }
}

/// Every named action. Those that change the world (replay; later rollback,
/// promotion) are marked `mutating: true`.
pub const COMMANDS: &[Command] = &[
    cmd("overview", "show the Overview pane", true),
    cmd("traces", "show the Traces pane", true),
    cmd("drift", "show the Drift pane", true),
    cmd("drift-window", "drift: next window length", true),
    cmd("drift-candidate", "drift: next candidate version", true),
    cmd("drift-baseline", "drift: next baseline version", true),
    cmd(
        "filter",
        "filter traces: filter v:v3 refusal error tool words",
        true,
    ),
    cmd("clear-filter", "show all traces", true),
    cmd("refresh", "reload data now", true),
    cmd("help", "show keys and the filter language", true),
    cmd("quit", "leave relops", true),
    // A replay changes nothing in production, but it calls the replay target (an
    // openai-chat target bills per token) and writes the cache: readonly hides it.
    Command {
        name: "replay",
        about: "replay the selected trace on a version",
        mutating: true,
        palette: true,
    },
    cmd(
        "diff",
        "diff the selected trace against its latest replay",
        true,
    ),
    cmd("diff-view", "show the Diff pane", true),
    cmd(
        "sources",
        "show the Sources pane: sync state per source",
        true,
    ),
    // Writes a case file into the suite directory (the user's repository).
    Command {
        name: "case",
        about: "make a regression case from the selected trace",
        mutating: true,
        palette: true,
    },
    cmd(
        "incidents",
        "show the Incidents pane: incidents and their timelines",
        true,
    ),
    cmd("gate-runs", "show the Gate pane: stored gate runs", true),
    // Calls the replay target for every case on two versions and stores the run.
    Command {
        name: "gate",
        about: "run the gate: gate V [BASELINE]",
        mutating: true,
        palette: true,
    },
    cmd(
        "rollout",
        "show the Rollout pane: the checklist of the rollout in flight",
        true,
    ),
    // The rollout actions change the rollout record and the audit log; rehearse and
    // rollback call production's endpoints.
    Command {
        name: "check",
        about: "rollout: tick the selected checklist item",
        mutating: true,
        palette: false,
    },
    cmd(
        "review",
        "show the Review pane: score sampled traces against the rubric",
        true,
    ),
    cmd("new-round", "review: draw the next round of traces", true),
    // Scores and notes are written to the cache.
    Command {
        name: "score",
        about: "score the selected criterion (the digit pressed)",
        mutating: true,
        palette: false,
    },
    Command {
        name: "approve",
        about: "rollout: approve the current stage",
        mutating: true,
        palette: true,
    },
    Command {
        name: "promote",
        about: "rollout: promote to the next stage",
        mutating: true,
        palette: true,
    },
    Command {
        name: "hold",
        about: "rollout: hold, or resume a held rollout",
        mutating: true,
        palette: true,
    },
    Command {
        name: "rehearse",
        about: "rehearse the rollback procedure (dry-run forms)",
        mutating: true,
        palette: true,
    },
    Command {
        name: "rollback",
        about: "roll the release back with its procedure (asks to confirm)",
        mutating: true,
        palette: true,
    },
    cmd("kill", "kill the running step (asks to confirm)", false),
    Command {
        name: "note",
        about: "a note on the trace under review",
        mutating: true,
        palette: false,
    },
    cmd("next-criterion", "review: next criterion", false),
    cmd("prev-criterion", "review: previous criterion", false),
    cmd("toggle", "toggle the focused item", false),
    cmd("next-change", "next change in the diff", false),
    cmd("prev-change", "previous change in the diff", false),
    cmd("next-tab", "next diff tab", false),
    cmd("prev-tab", "previous diff tab", false),
    cmd("next-pane", "next pane", false),
    cmd("prev-pane", "previous pane", false),
    cmd("palette", "command palette", false),
    cmd("up", "move up", false),
    cmd("down", "move down", false),
    cmd("page-up", "page up", false),
    cmd("page-down", "page down", false),
    cmd("top", "go to the top", false),
    cmd("bottom", "go to the bottom", false),
    cmd("open", "open the selection", false),
    cmd("back", "go back", false),
    cmd("submit", "accept", false),
    cmd("cancel", "cancel", false),
    cmd("delete-char", "delete a character", false),
    cmd("complete", "complete the command", false),
];

impl Action {
    /// The action a keymap or palette name stands for; `arg` feeds `filter`.
    pub fn named(name: &str, arg: &str) -> Option<Action> {
        Some(match name {
            "overview" => Action::ShowPane(Pane::Overview),
            "traces" => Action::ShowPane(Pane::Traces),
            "drift" => Action::ShowPane(Pane::Drift),
            "drift-window" => Action::DriftWindow,
            "drift-candidate" => Action::DriftCandidate,
            "drift-baseline" => Action::DriftBaseline,
            "filter" if arg.trim().is_empty() => Action::OpenFilter,
            "filter" => Action::SetFilter(arg.trim().to_string()),
            "clear-filter" => Action::ClearFilter,
            "refresh" => Action::Refresh,
            "help" => Action::ToggleHelp,
            "quit" => Action::Quit,
            "next-pane" => Action::NextPane,
            "prev-pane" => Action::PrevPane,
            "palette" => Action::OpenPalette,
            "up" => Action::Up,
            "down" => Action::Down,
            "page-up" => Action::PageUp,
            "page-down" => Action::PageDown,
            "top" => Action::Top,
            "bottom" => Action::Bottom,
            "open" => Action::Open,
            "back" => Action::Back,
            "submit" => Action::Submit,
            "cancel" => Action::Cancel,
            "delete-char" => Action::DeleteChar,
            "complete" => Action::Complete,
            "replay" => Action::PickReplay,
            "diff" => Action::DiffLatest,
            "diff-view" => Action::ShowPane(Pane::Diff),
            "sources" => Action::ShowPane(Pane::Sources),
            "case" => Action::NewCase,
            "toggle" => Action::Toggle,
            "incidents" => Action::ShowPane(Pane::Incidents),
            "gate-runs" => Action::ShowPane(Pane::Gate),
            "rollout" => Action::ShowPane(Pane::Rollout),
            "check" => Action::RolloutCheck,
            "approve" => Action::Approve,
            "promote" => Action::Promote,
            "hold" => Action::HoldResume,
            "rehearse" => Action::Rehearse,
            "rollback" => Action::AskRollback,
            "kill" => Action::AskKill,
            "review" => Action::ShowPane(Pane::Review),
            "new-round" => Action::NewRound,
            "score" => Action::Score(arg.trim().parse().unwrap_or(0)),
            "note" => Action::EditNote,
            "next-criterion" => Action::Criterion(1),
            "prev-criterion" => Action::Criterion(-1),
            "gate" => {
                let mut words = arg.split_whitespace().map(str::to_string);
                Action::RunGate {
                    candidate: words.next(),
                    baseline: words.next(),
                }
            }
            "next-change" => Action::DiffNext,
            "prev-change" => Action::DiffPrev,
            "next-tab" => Action::DiffTab(1),
            "prev-tab" => Action::DiffTab(-1),
            _ => return None,
        })
    }

    /// The command this action was named by, if any.
    pub fn command(&self) -> Option<&'static Command> {
        let name = match self {
            Action::ShowPane(Pane::Overview) => "overview",
            Action::ShowPane(Pane::Traces) => "traces",
            Action::ShowPane(Pane::Drift) => "drift",
            Action::DriftWindow => "drift-window",
            Action::DriftCandidate => "drift-candidate",
            Action::DriftBaseline => "drift-baseline",
            Action::OpenFilter | Action::SetFilter(_) => "filter",
            Action::ClearFilter => "clear-filter",
            Action::Refresh => "refresh",
            Action::ToggleHelp => "help",
            Action::Quit => "quit",
            Action::PickReplay | Action::Replay { .. } => "replay",
            Action::DiffLatest => "diff",
            Action::ShowPane(Pane::Diff) => "diff-view",
            Action::ShowPane(Pane::Sources) => "sources",
            Action::NewCase => "case",
            Action::ShowPane(Pane::Incidents) => "incidents",
            Action::ShowPane(Pane::Gate) => "gate-runs",
            Action::RunGate { .. } => "gate",
            Action::ShowPane(Pane::Rollout) => "rollout",
            Action::RolloutCheck => "check",
            Action::Approve => "approve",
            Action::Promote => "promote",
            Action::HoldResume => "hold",
            Action::Rehearse => "rehearse",
            Action::AskRollback => "rollback",
            Action::AskKill => "kill",
            Action::ShowPane(Pane::Review) => "review",
            Action::NewRound => "new-round",
            Action::Score(_) => "score",
            Action::EditNote => "note",
            _ => return None,
        };
        COMMANDS.iter().find(|c| c.name == name)
    }

    /// True for actions that change the world (refused in readonly).
    pub fn is_mutating(&self) -> bool {
        self.command().is_some_and(|c| c.mutating)
    }
}

/// Whether a command may be offered: mutating ones are hidden in readonly.
pub fn offered(command: &Command, readonly: bool) -> bool {
    !(readonly && command.mutating)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_name_resolves() {
        for c in COMMANDS {
            assert!(Action::named(c.name, "").is_some(), "{}", c.name);
        }
    }

    #[test]
    fn pane_cycle_wraps() {
        assert_eq!(Pane::Overview.cycle(1), Pane::Traces);
        assert_eq!(Pane::Overview.cycle(-1), Pane::Review);
        assert_eq!(Pane::Drift.cycle(1), Pane::Diff);
        assert_eq!(Pane::Sources.cycle(1), Pane::Incidents);
        assert_eq!(Pane::Gate.cycle(1), Pane::Rollout);
        assert_eq!(Pane::Rollout.cycle(1), Pane::Review);
        assert_eq!(Pane::Review.cycle(1), Pane::Overview);
    }

    #[test]
    fn readonly_hides_mutating_commands() {
        let rollback = Command {
            name: "rollback",
            about: "roll back",
            mutating: true,
            palette: true,
        };
        assert!(offered(&rollback, false));
        assert!(!offered(&rollback, true));
        let hidden: Vec<&str> = COMMANDS
            .iter()
            .filter(|c| !offered(c, true))
            .map(|c| c.name)
            .collect();
        assert_eq!(
            hidden,
            [
                "replay", "case", "gate", "check", "score", "approve", "promote", "hold",
                "rehearse", "rollback", "note"
            ]
        );
        assert!(Action::Score(3).is_mutating() && Action::EditNote.is_mutating());
        assert!(!Action::NewRound.is_mutating());
        assert!(
            Action::Replay {
                trace_id: "t".into(),
                versions: vec![]
            }
            .is_mutating()
        );
        assert!(
            Action::RunGate {
                candidate: None,
                baseline: None
            }
            .is_mutating()
        );
    }
}
