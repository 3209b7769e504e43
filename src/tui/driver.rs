//! The event loop: one `select!` over terminal events, loader replies, a clock tick and
//! the refresh timer. Actions go through `update`; effects go to the loader; frames are
//! coalesced: pending replies are drained first, then at most one draw per frame interval.

use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::Result;
use crossterm::event::EventStream;
use futures::StreamExt;
use ratatui::layout::Rect;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, interval, interval_at, sleep_until};

use super::action::{Action, Effect};
use super::cases::Cases;
use super::gate::Gates;
use super::keymap::Keymap;
use super::loader::Loader;
use super::replays::Replays;
use super::review::Reviews;
use super::rollouts::Rollouts;
use super::state::State;
use super::sync::BackgroundSync;
use super::terminal::{self, Term};
use super::{input, update, views};
use crate::clock;
use crate::workspace::Workspace;

/// About 30 frames per second at most.
const FRAME: Duration = Duration::from_millis(33);
const TICK: Duration = Duration::from_secs(1);
/// How often the live feed is polled.
const REFRESH: Duration = Duration::from_secs(2);

pub fn run(ws: Workspace) -> Result<()> {
    // Already installed by an embedding caller is fine.
    let _ = color_eyre::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (mut term, guard) = terminal::enter()?;
    let result = runtime.block_on(event_loop(&ws, &mut term));
    drop(guard);
    // Loader threads may be mid-query; they notice the closed queue and end on their own.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

async fn event_loop(ws: &Workspace, term: &mut Term) -> Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let loader = Loader::spawn(&ws.db_path, tx.clone());
    let cases = Cases::new(ws, tx.clone());
    let replays = Replays::new(ws, tx.clone());
    let gates = Gates::new(ws, tx.clone());
    let rollouts = Rollouts::new(ws, tx.clone());
    let reviews = Reviews::new(ws, tx.clone());
    let _sync = BackgroundSync::start(ws, tx);
    let fx = Fx {
        loader: &loader,
        replays: &replays,
        cases: &cases,
        gates: &gates,
        rollouts: &rollouts,
        reviews: &reviews,
    };
    let size = term.size()?;
    let keymap = Arc::new(Keymap::default_map());
    let area = Rect::new(0, 0, size.width, size.height);
    let mut state = State::new(ws, keymap, clock::now_ns(), area);
    run_effects(&fx, update::start(&mut state));

    let mut events = EventStream::new();
    let mut tick = interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut refresh = interval_at(Instant::now() + REFRESH, REFRESH);
    refresh.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut next_frame = Instant::now();

    while !state.quit {
        if dirty && Instant::now() >= next_frame {
            term.draw(|f| views::draw(&state, f))?;
            dirty = false;
            next_frame = Instant::now() + FRAME;
        }
        let action = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => input::action_for(&state, &ev),
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            Some(a) = rx.recv() => Some(a),
            _ = tick.tick() => Some(Action::Tick(clock::now_ns())),
            _ = refresh.tick() => Some(Action::AutoRefresh),
            () = sleep_until(next_frame), if dirty => None,
        };
        if let Some(a) = action {
            dirty |= apply(&mut state, &fx, a);
        }
        // Drain loader replies already queued so a burst costs one frame. Terminal events
        // are not polled here: crossterm's stream would keep a no-op waker and stall; they
        // coalesce anyway, since a frame is drawn at most once per FRAME.
        while let Ok(a) = rx.try_recv() {
            dirty |= apply(&mut state, &fx, a);
        }
    }
    Ok(())
}

/// Applies an action; true when the screen may have changed.
fn apply(state: &mut State, fx: &Fx, action: Action) -> bool {
    let redraw = !matches!(action, Action::AutoRefresh);
    run_effects(fx, update::update(state, action));
    redraw
}

/// Who carries out which effects.
struct Fx<'a> {
    loader: &'a Loader,
    replays: &'a Replays,
    cases: &'a Cases,
    gates: &'a Gates,
    rollouts: &'a Rollouts,
    reviews: &'a Reviews,
}

fn run_effects(fx: &Fx, effects: Vec<Effect>) {
    for e in effects {
        match e {
            Effect::Load(req) => fx.loader.submit(req),
            Effect::Replay { trace_id, versions } => fx.replays.spawn(trace_id, versions),
            Effect::SuggestCase {
                trace_id,
                now_ns,
                incident,
            } => fx.cases.suggest(trace_id, now_ns, incident),
            Effect::RunGate {
                candidate,
                baseline,
            } => fx.gates.spawn(candidate, baseline),
            Effect::SaveCase(case) => fx.cases.save(case),
            Effect::Rollout(op) => fx.rollouts.apply(op),
            Effect::RunProcedure {
                name,
                rollback,
                allow_untested,
            } => fx.rollouts.run(name, rollback, allow_untested),
            Effect::Answer(yes) => fx.rollouts.answer(yes),
            Effect::Kill => fx.rollouts.kill(),
            Effect::Review(w) => fx.reviews.spawn(w),
            Effect::Attention { title, bell } => terminal::attention(&title, bell),
            Effect::Quit => {} // `state.quit` ends the loop
        }
    }
}
