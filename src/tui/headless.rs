//! The console without a terminal: the same state, keymap, update and loader queries,
//! with effects executed synchronously. Tests drive it with key names and render it to
//! a `TestBackend`.

use std::collections::VecDeque;
use std::sync::Arc;

use crossterm::event::{Event, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use rusqlite::Connection;

use super::action::{Action, Effect, ProcEvent};
use super::data;
use super::keymap::{Key, Keymap};
use super::state::State;
use super::{input, update, views};
use crate::store::{self, StoreError};
use crate::workspace::Workspace;

/// Headless runs answer a procedure's questions with no.
struct Declines;

impl crate::runbook::exec::Operator for Declines {
    fn confirm(&self, _: &str) -> bool {
        false
    }
}

pub struct Headless {
    pub state: State,
    conn: Connection,
    ws: Workspace,
}

impl Headless {
    /// Opens the workspace's cache and runs the start-up loads; `now_ns` pins the clock.
    pub fn open(ws: &Workspace, width: u16, height: u16, now_ns: i64) -> Result<Self, StoreError> {
        let conn = store::open_reader(&ws.db_path)?;
        let keymap = Arc::new(Keymap::default_map());
        let state = State::new(ws, keymap, now_ns, Rect::new(0, 0, width, height));
        let mut h = Self {
            state,
            conn,
            ws: ws.clone(),
        };
        let fx = update::start(&mut h.state);
        h.run(fx);
        Ok(h)
    }

    /// Applies an action and everything it leads to.
    pub fn dispatch(&mut self, action: Action) {
        let fx = update::update(&mut self.state, action);
        self.run(fx);
    }

    /// Presses a key by its keymap name (`j`, `enter`, `ctrl-c`, `G`).
    pub fn press(&mut self, key: &str) {
        let k = Key::parse(key).unwrap_or_else(|e| panic!("{e}"));
        let mut modifiers = KeyModifiers::NONE;
        modifiers.set(KeyModifiers::CONTROL, k.ctrl);
        modifiers.set(KeyModifiers::ALT, k.alt);
        let ev = Event::Key(KeyEvent {
            code: k.code,
            modifiers,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        });
        if let Some(a) = input::action_for(&self.state, &ev) {
            self.dispatch(a);
        }
    }

    /// Types text into a prompt, one key per character.
    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let key = if c == ' ' {
                "space".to_string()
            } else {
                c.to_string()
            };
            self.press(&key);
        }
    }

    /// Runs effects to quiescence: each load's reply is fed back through `update`.
    fn run(&mut self, effects: Vec<Effect>) {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            let reply = match effect {
                Effect::Load(req) => Action::Loaded(data::execute(&self.conn, &req)),
                Effect::Replay { trace_id, versions } => self.replay(trace_id, versions),
                Effect::SuggestCase {
                    trace_id,
                    now_ns,
                    incident,
                } => super::cases::suggest(&self.ws, trace_id, now_ns, incident),
                Effect::RunGate {
                    candidate,
                    baseline,
                } => {
                    // Runs to completion here; its progress goes through `update` as
                    // the console's would, in order, before the finish.
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
                    let done =
                        runtime.block_on(super::gate::run(&self.ws, candidate, baseline, &tx));
                    drop(tx);
                    while let Ok(a) = rx.try_recv() {
                        queue.extend(update::update(&mut self.state, a));
                    }
                    done
                }
                Effect::SaveCase(case) => super::cases::save(&self.ws, &case),
                Effect::Rollout(op) => Action::RolloutDone(super::rollouts::apply(&self.ws, &op)),
                Effect::RunProcedure {
                    name,
                    rollback,
                    allow_untested,
                } => {
                    // Runs to its end here; its events go through `update` in order.
                    let events = std::cell::RefCell::new(Vec::new());
                    let run = super::rollouts::Run {
                        name: &name,
                        rollback,
                        allow_untested,
                        now_ns: self.state.now_ns,
                    };
                    let emit = |e| events.borrow_mut().push(e);
                    let result = super::rollouts::run_procedure(
                        &self.ws,
                        &run,
                        &Declines,
                        std::future::pending(),
                        &emit,
                    );
                    for e in events.into_inner() {
                        queue.extend(update::update(&mut self.state, Action::Procedure(e)));
                    }
                    Action::Procedure(ProcEvent::Done(result))
                }
                // Nothing runs in the background here to answer or kill.
                Effect::Answer(_) | Effect::Kill => continue,
                Effect::Review(w) => super::review::write(&self.ws, &w),
                Effect::Attention { .. } | Effect::Quit => continue,
            };
            queue.extend(update::update(&mut self.state, reply));
        }
    }

    /// Runs a replay to completion (real HTTP, real cache) where the console would
    /// spawn it.
    fn replay(&self, trace_id: String, versions: Vec<String>) -> Action {
        let result = crate::replay::Replayer::new(&self.ws, None).and_then(|r| {
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            r.replay_blocking(&runtime, &trace_id, &versions)
        });
        Action::Replayed { trace_id, result }
    }

    /// The screen as text, one quoted line per row (ratatui's `TestBackend` format).
    pub fn render(&self) -> String {
        let Rect { width, height, .. } = self.state.size;
        let mut term = Terminal::new(TestBackend::new(width, height)).expect("test backend");
        term.draw(|f| views::draw(&self.state, f)).expect("draw");
        term.backend().to_string()
    }
}
