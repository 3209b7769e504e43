//! The Rollout pane: the checklist of the rollout in flight, checked against live
//! signals every `check_every` while the console is open; operator actions (tick,
//! approve, promote, hold) saved by the driver; the rollback procedure rehearsed or run
//! after a typed confirmation, its steps and output followed live, a kill asked first.

use super::super::action::{Effect, Pane, ProcEvent, RolloutOp};
use super::super::data::Request;
use super::super::data::rollout::RolloutView;
use super::super::palette::Prompt;
use super::super::state::{Confirm, Overlay, Purpose, RunView, State, StepLine};
use super::{Move, moved};
use crate::rollout::plan::ItemKind;

/// Output lines kept for the pane.
const LINES: usize = 200;

pub(super) fn request(s: &State) -> Effect {
    Effect::Load(Request::Rollout {
        config: s.config.clone(),
        now_ns: s.now_ns,
    })
}

pub(super) fn loaded(s: &mut State, view: Option<Box<RolloutView>>) -> Vec<Effect> {
    s.loaded_ok("rollout");
    let items = view.as_ref().map_or(0, |v| stage_items(v).len());
    s.rollout.cursor = s.rollout.cursor.min(items.saturating_sub(1));
    s.rollout.view = Some(view);
    attention(s).into_iter().collect()
}

/// A trigger that fired since the console last looked rings the bell once and puts
/// itself in the window title; the title goes back when the rollout leaves Triggered.
fn attention(s: &mut State) -> Option<Effect> {
    let firing = s
        .rollout
        .current()
        .filter(|v| v.rollout.state == crate::rollout::State::Triggered)
        .map(|v| {
            let trigger = v.rollout.fired.as_deref().unwrap_or("");
            let name = trigger.split(':').next().unwrap_or(trigger);
            let title = format!("relops ⚠ TRIGGERED {} {name}", v.rollout.release);
            (v.rollout.fired_ns.unwrap_or(0), title)
        });
    match firing {
        Some((at, title)) if s.rollout.announced != Some(at) => {
            s.rollout.announced = Some(at);
            Some(Effect::Attention { title, bell: true })
        }
        None if s.rollout.announced.is_some() => {
            s.rollout.announced = None;
            Some(Effect::Attention {
                title: "relops".into(),
                bell: false,
            })
        }
        _ => None,
    }
}

fn stage_items(v: &RolloutView) -> &[crate::rollout::plan::Item] {
    let stage = v.rollout.stage.min(v.plan.stages.len() - 1);
    &v.plan.stages[stage].items
}

/// The clock moved: check the live signals when `check_every` has passed. Readonly
/// consoles watch but never check (a check is saved and audited).
pub(super) fn clock(s: &mut State) -> Vec<Effect> {
    let Some(v) = s.rollout.current() else {
        return Vec::new();
    };
    let due = s.now_ns - s.rollout.checked_ns >= v.plan.check_every.as_nanos();
    if v.guarded() && due && v.active() {
        // The guard checks (and records); the console reads what it found.
        s.rollout.checked_ns = s.now_ns;
        return vec![request(s)];
    }
    if s.readonly || s.rollout.busy || !v.active() || !due {
        return Vec::new();
    }
    s.rollout.checked_ns = s.now_ns;
    s.rollout.busy = true;
    vec![Effect::Rollout(RolloutOp::Tick)]
}

pub(super) fn navigate(s: &mut State, m: Move) -> Vec<Effect> {
    let n = s.rollout.current().map_or(0, |v| stage_items(v).len());
    s.rollout.cursor = moved(s.rollout.cursor, m, 5, n);
    Vec::new()
}

/// An operator action on the rollout in flight.
pub(super) fn act(s: &mut State, op: RolloutOp) -> Vec<Effect> {
    let Some(v) = s.rollout.current() else {
        s.error(
            None,
            "no rollout: start one with `relops rollout start PLAN --release V`",
        );
        return Vec::new();
    };
    if !v.active() {
        let msg = format!("rollout {} is over ({:?})", v.id, v.rollout.state);
        s.error(None, msg.to_lowercase());
        return Vec::new();
    }
    if s.rollout.busy {
        s.info("the previous change is still being saved");
        return Vec::new();
    }
    s.rollout.busy = true;
    vec![Effect::Rollout(op)]
}

/// `space`: the selected item, when the operator ticks it.
pub(super) fn check(s: &mut State) -> Vec<Effect> {
    let Some(item) = s
        .rollout
        .current()
        .and_then(|v| stage_items(v).get(s.rollout.cursor))
        .cloned()
    else {
        return Vec::new();
    };
    if item.kind != ItemKind::Manual {
        s.error(
            None,
            format!("{:?} is evaluated from live signals, not ticked", item.name),
        );
        return Vec::new();
    }
    act(s, RolloutOp::Check(item.name))
}

pub(super) fn done(s: &mut State, result: Result<String, String>) -> Vec<Effect> {
    s.rollout.busy = false;
    match result {
        Ok(text) => s.info(text),
        Err(e) => s.error(Some("rollout"), e),
    }
    vec![request(s)]
}

/// The rollback procedure, when one can run now; else why not (on the status line).
fn rollback_procedure(s: &mut State) -> Option<(String, bool, String)> {
    let why = match s.rollout.current() {
        _ if s.rollout.running() => Err("a procedure is already running".to_string()),
        None => Err("no rollout in the cache".into()),
        Some(v) => match (v.rollback(), &v.plan.rollback_procedure) {
            (Some(p), _) => Ok((
                p.name.clone(),
                p.tested.is_tested(),
                v.rollout.previous.clone().unwrap_or_default(),
            )),
            (None, Some(name)) => Err(format!("the plan's procedure {name:?} is not configured")),
            (None, None) => Err(format!("plan {} names no rollback_procedure", v.plan.name)),
        },
    };
    why.map_err(|e| s.error(None, e)).ok()
}

/// `t`: rehearse the rollback procedure (dry-run forms and verify checks only).
pub(super) fn rehearse(s: &mut State) -> Vec<Effect> {
    let Some((name, _, _)) = rollback_procedure(s) else {
        return Vec::new();
    };
    start_run(s, &name, false);
    vec![Effect::RunProcedure {
        name,
        rollback: false,
        allow_untested: false,
    }]
}

/// `R`: type the target version to roll back; an untested procedure asks first for a
/// second, different confirmation.
pub(super) fn ask_rollback(s: &mut State) -> Vec<Effect> {
    let Some((name, tested, target)) = rollback_procedure(s) else {
        return Vec::new();
    };
    if !s.rollout.current().is_some_and(RolloutView::active) {
        s.error(None, "the rollout is over: nothing to roll back");
        return Vec::new();
    }
    if target.is_empty() {
        s.error(
            None,
            "the rollout names no previous version to roll back to",
        );
        return Vec::new();
    }
    s.overlay = if tested {
        rollback_confirm(&name, &target, false)
    } else {
        Overlay::Confirm(Confirm {
            purpose: Purpose::Untested,
            question: format!(
                "{name} is NOT TESTED (no fresh rehearsal of this content). Type RUN UNTESTED to go on"
            ),
            expect: "RUN UNTESTED".into(),
            prompt: Prompt::default(),
        })
    };
    Vec::new()
}

fn rollback_confirm(name: &str, target: &str, allow_untested: bool) -> Overlay {
    Overlay::Confirm(Confirm {
        purpose: Purpose::Rollback { allow_untested },
        question: format!("{name} moves production to {target}. Type {target} to proceed"),
        expect: target.into(),
        prompt: Prompt::default(),
    })
}

/// `x` / `ctrl-c` while a procedure runs.
pub(super) fn ask_kill(s: &mut State) -> Vec<Effect> {
    let Some(run) = s.rollout.run.as_ref().filter(|_| s.rollout.running()) else {
        s.info("nothing is running");
        return Vec::new();
    };
    let step = run
        .steps
        .last()
        .map_or("the run".to_string(), |l| l.name.clone());
    s.overlay = Overlay::Confirm(Confirm {
        purpose: Purpose::Kill,
        question: format!("Kill {step:?} and halt {}? Type y", run.procedure),
        expect: "y".into(),
        prompt: Prompt::default(),
    });
    Vec::new()
}

/// Keys while a confirmation is open: text, Enter, Esc.
pub(super) fn confirm_key(s: &mut State, action: super::super::Action) -> Vec<Effect> {
    use super::super::Action;
    let Overlay::Confirm(c) = &mut s.overlay else {
        return Vec::new();
    };
    match action {
        Action::Insert(ch) => c.prompt.text.push(ch),
        Action::DeleteChar => {
            c.prompt.text.pop();
        }
        Action::Cancel => return answered(s, false),
        Action::Submit => {
            let yes = c.prompt.text.trim() == c.expect;
            return answered(s, yes);
        }
        _ => {}
    }
    Vec::new()
}

/// The confirmation closed: confirmed or not.
fn answered(s: &mut State, yes: bool) -> Vec<Effect> {
    let Overlay::Confirm(c) = std::mem::take(&mut s.overlay) else {
        return Vec::new();
    };
    match (c.purpose, yes) {
        (Purpose::Question, yes) => vec![Effect::Answer(yes)],
        (Purpose::Kill, true) => {
            s.info("killing the running step…");
            vec![Effect::Kill]
        }
        (Purpose::Untested, true) => {
            if let Some((name, _, target)) = rollback_procedure(s) {
                s.overlay = rollback_confirm(&name, &target, true);
            }
            Vec::new()
        }
        (Purpose::Rollback { allow_untested }, true) => {
            let Some((name, _, _)) = rollback_procedure(s) else {
                return Vec::new();
            };
            start_run(s, &name, true);
            vec![Effect::RunProcedure {
                name,
                rollback: true,
                allow_untested,
            }]
        }
        (Purpose::Kill, false) => {
            s.info("not killed; the step goes on");
            Vec::new()
        }
        (_, false) => {
            s.error(None, format!("not confirmed ({}): nothing ran", c.expect));
            Vec::new()
        }
    }
}

fn start_run(s: &mut State, name: &str, rollback: bool) {
    s.pane = Pane::Rollout;
    s.rollout.run = Some(RunView {
        procedure: name.into(),
        rollback,
        started_ns: s.now_ns,
        steps: Vec::new(),
        lines: Default::default(),
        failure: None,
        rolled_back_after: None,
        recovery: None,
        done: None,
    });
}

/// The running procedure reported.
pub(super) fn event(s: &mut State, ev: ProcEvent) -> Vec<Effect> {
    let Some(run) = s.rollout.run.as_mut() else {
        return Vec::new();
    };
    match ev {
        ProcEvent::Started { name, .. } => run.steps.push(StepLine {
            name,
            outcome: None,
            millis: 0,
        }),
        ProcEvent::Line(line) => {
            run.lines.push_back(line);
            while run.lines.len() > LINES {
                run.lines.pop_front();
            }
        }
        ProcEvent::Finished(step) => {
            if let Some(l) = run.steps.iter_mut().rev().find(|l| l.name == step.name) {
                l.outcome = Some(step.outcome.clone());
                l.millis = step.millis;
            }
            if !step.ok() {
                run.failure = Some(*step);
            }
        }
        ProcEvent::Ask(question) => {
            s.overlay = Overlay::Confirm(Confirm {
                purpose: Purpose::Question,
                question: format!("{question} Type yes"),
                expect: "yes".into(),
                prompt: Prompt::default(),
            });
        }
        ProcEvent::RolledBack(after) => {
            run.rolled_back_after = after;
            return vec![request(s)];
        }
        ProcEvent::Recovery { text, recovered } => run.recovery = Some((text, recovered)),
        ProcEvent::Done(result) => {
            match &result {
                Ok(text) => s.info(text.clone()),
                Err(e) => s.error(None, e.clone()),
            }
            if let Some(run) = s.rollout.run.as_mut() {
                run.done = Some(result);
            }
            return vec![request(s)];
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::super::super::Action;
    use super::*;
    use crate::rollout::machine::{Evidence, Reading, Rollout};
    use crate::rollout::plan::tests::plan;
    use crate::runbook::record::Tested;
    use crate::tui::data::Loaded;
    use crate::tui::data::rollout::ProcedureRow;
    use crate::tui::state::RolloutState;
    use crate::tui::update::update;

    const SEC: i64 = 1_000_000_000;

    fn state() -> State {
        let ws = crate::workspace::Workspace {
            config_path: "relops.toml".into(),
            config: Default::default(),
            db_path: "/nonexistent.db".into(),
            readonly: false,
        };
        let keymap = std::sync::Arc::new(crate::tui::keymap::Keymap::default_map());
        State::new(&ws, keymap, 0, ratatui::layout::Rect::new(0, 0, 120, 40))
    }

    /// A console showing a rollout of v3 over v2 whose rollback is `tested` or not.
    fn with_rollout(tested: bool, triggered: bool) -> State {
        let mut s = state();
        let p = plan();
        let mut r = Rollout::start(&p, "v3", Some("v2"), 0);
        if triggered {
            let mut e = Evidence::default();
            let fail = Reading {
                verdict: crate::drift::Verdict::Fail,
                value: Some(0.09),
                n: 300,
            };
            e.signals.insert("refusal_rate".into(), fail);
            r.tick(&p, &e);
            r.tick(&p, &e);
        }
        let view = RolloutView {
            id: 1,
            rollout: r,
            plan: p,
            procedures: vec![ProcedureRow {
                name: "rollback".into(),
                role: "rollback",
                steps: 1,
                tested: if tested {
                    Tested::Tested { rehearsed_ns: 0 }
                } else {
                    Tested::Untested
                },
            }],
            events: Vec::new(),
            guard: None,
            rollback_lease: None,
        };
        let _ = update(
            &mut s,
            Action::Loaded(Loaded::Rollout(Some(Box::new(view)))),
        );
        s.pane = Pane::Rollout;
        s
    }

    fn typed(s: &mut State, text: &str) -> Vec<Effect> {
        for c in text.chars() {
            let _ = update(s, Action::Insert(c));
        }
        update(s, Action::Submit)
    }

    #[test]
    fn a_firing_rings_the_bell_once_and_titles_the_window_until_it_clears() {
        let mut s = with_rollout(true, true);
        assert!(
            s.rollout.announced.is_some(),
            "the load that saw it fire announced it"
        );
        let view = s.rollout.current().unwrap().clone();
        let again = update(
            &mut s,
            Action::Loaded(Loaded::Rollout(Some(Box::new(view.clone())))),
        );
        assert!(again.is_empty(), "the same firing rings once: {again:?}");

        let mut fresh = with_rollout(true, false);
        let fx = update(
            &mut fresh,
            Action::Loaded(Loaded::Rollout(Some(Box::new(view.clone())))),
        );
        assert_eq!(
            fx,
            [Effect::Attention {
                title: "relops ⚠ TRIGGERED v3 refusal spike".into(),
                bell: true
            }]
        );
        let mut calm = view;
        calm.rollout.state = crate::rollout::State::RolledBack;
        let fx = update(
            &mut fresh,
            Action::Loaded(Loaded::Rollout(Some(Box::new(calm)))),
        );
        assert_eq!(
            fx,
            [Effect::Attention {
                title: "relops".into(),
                bell: false
            }]
        );
    }

    #[test]
    fn the_console_checks_every_check_every_and_not_while_a_check_is_pending() {
        let mut s = with_rollout(true, false);
        let check = |s: &mut State, at: i64| update(s, Action::Tick(at));
        assert_eq!(check(&mut s, 30 * SEC), [Effect::Rollout(RolloutOp::Tick)]);
        assert!(
            check(&mut s, 40 * SEC).is_empty(),
            "the first is not answered"
        );
        let _ = update(&mut s, Action::RolloutDone(Ok("checked".into())));
        assert!(check(&mut s, 50 * SEC).is_empty(), "30 s have not passed");
        assert_eq!(check(&mut s, 60 * SEC), [Effect::Rollout(RolloutOp::Tick)]);
        // A readonly console watches but never checks: a check is recorded.
        let mut ro = with_rollout(true, false);
        ro.readonly = true;
        assert!(check(&mut ro, 30 * SEC).is_empty());
    }

    #[test]
    fn a_rollback_runs_only_after_the_target_is_typed_exactly() {
        let mut s = with_rollout(true, true);
        assert!(s.rollout.triggered());
        let _ = update(&mut s, Action::AskRollback);
        assert!(matches!(&s.overlay, Overlay::Confirm(c) if c.expect == "v2"));
        assert!(typed(&mut s, "v3").is_empty(), "the wrong version");
        assert_eq!(s.overlay, Overlay::None);
        assert!(s.status.as_ref().unwrap().text.contains("not confirmed"));

        let _ = update(&mut s, Action::AskRollback);
        let fx = typed(&mut s, "v2");
        let run = Effect::RunProcedure {
            name: "rollback".into(),
            rollback: true,
            allow_untested: false,
        };
        assert_eq!(fx, [run]);
        assert!(s.rollout.running());
        // One run at a time.
        let _ = update(&mut s, Action::AskRollback);
        assert_eq!(s.overlay, Overlay::None);
    }

    #[test]
    fn an_untested_rollback_needs_a_second_distinct_confirmation() {
        let mut s = with_rollout(false, true);
        let _ = update(&mut s, Action::AskRollback);
        assert!(matches!(&s.overlay, Overlay::Confirm(c) if c.purpose == Purpose::Untested));
        assert!(
            typed(&mut s, "v2").is_empty(),
            "the target is not the answer here"
        );
        let _ = update(&mut s, Action::AskRollback);
        assert!(typed(&mut s, "RUN UNTESTED").is_empty());
        let fx = typed(&mut s, "v2");
        assert!(matches!(
            &fx[..],
            [Effect::RunProcedure {
                allow_untested: true,
                ..
            }]
        ));
    }

    #[test]
    fn a_kill_is_asked_first_and_the_run_is_followed_to_its_end() {
        let mut s = with_rollout(true, true);
        let _ = update(&mut s, Action::AskRollback);
        let _ = typed(&mut s, "v2");
        let started = ProcEvent::Started {
            index: 0,
            name: "switch".into(),
        };
        let _ = update(&mut s, Action::Procedure(started));
        let _ = update(
            &mut s,
            Action::Procedure(ProcEvent::Line("HTTP 200".into())),
        );
        assert_eq!(s.modes()[0], crate::tui::keymap::Mode::Running);
        let _ = update(&mut s, Action::AskKill);
        assert!(typed(&mut s, "n").is_empty(), "not killed");
        let _ = update(&mut s, Action::AskKill);
        assert_eq!(typed(&mut s, "y"), [Effect::Kill]);

        let _ = update(
            &mut s,
            Action::Procedure(ProcEvent::Ask("Traffic moved?".into())),
        );
        assert_eq!(typed(&mut s, "yes"), [Effect::Answer(true)]);
        let done = ProcEvent::Done(Ok("rollback run: ok".into()));
        let fx = update(&mut s, Action::Procedure(done));
        assert!(matches!(fx[..], [Effect::Load(Request::Rollout { .. })]));
        let run = s.rollout.run.as_ref().unwrap();
        assert_eq!(run.lines, ["HTTP 200"]);
        assert!(!s.rollout.running());
    }

    #[test]
    fn readonly_refuses_every_rollout_action() {
        let mut s = with_rollout(true, true);
        s.readonly = true;
        for a in [
            Action::RolloutCheck,
            Action::Approve,
            Action::Promote,
            Action::HoldResume,
            Action::Rehearse,
            Action::AskRollback,
        ] {
            assert!(update(&mut s, a.clone()).is_empty(), "{a:?}");
            assert_eq!(s.overlay, Overlay::None, "{a:?}");
        }
        let _ = RolloutState::default();
    }

    #[test]
    fn only_manual_items_are_ticked() {
        let mut s = with_rollout(true, false);
        assert_eq!(
            update(&mut s, Action::RolloutCheck),
            [Effect::Rollout(RolloutOp::Check(
                "dashboards reviewed".into()
            ))]
        );
        let _ = update(&mut s, Action::RolloutDone(Ok("ticked".into())));
        let _ = update(&mut s, Action::Down);
        assert!(update(&mut s, Action::RolloutCheck).is_empty());
        assert!(
            s.status
                .as_ref()
                .unwrap()
                .text
                .contains("evaluated from live signals")
        );
    }
}
