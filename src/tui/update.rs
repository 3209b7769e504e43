//! The state machine: `update(&mut State, Action) -> Vec<Effect>`. Pure: no I/O, no
//! clock, no terminal; everything it needs arrives in the action.

use super::action::{Action, Effect, Pane, RolloutOp};
use super::data::{Loaded, Request};
use super::filter::FilterSpec;
use super::layout;
use super::palette::{self, Prompt};
use super::state::{DetailState, Overlay, State};
use super::views;
use crate::store::query::TraceFilter;

/// A cursor movement, whatever is being moved.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Move {
    By(isize),
    Pages(isize),
    Top,
    Bottom,
}

/// The requests a fresh console starts with.
pub fn start(s: &mut State) -> Vec<Effect> {
    let mut fx = vec![overview_request(s), drift::request(s), rollout::request(s)];
    fx.push(Effect::Load(
        s.list.rebase(FilterSpec::default(), TraceFilter::default()),
    ));
    fx
}

pub fn update(s: &mut State, action: Action) -> Vec<Effect> {
    if s.readonly && action.is_mutating() {
        s.error(
            None,
            "readonly: this action changes the world and is disabled",
        );
        return Vec::new();
    }
    match action {
        Action::Quit => {
            s.quit = true;
            vec![Effect::Quit]
        }
        Action::Tick(now) => {
            s.now_ns = now;
            rollout::clock(s)
        }
        Action::Resize { width, height } => {
            s.size = ratatui::layout::Rect::new(0, 0, width, height);
            replay::relayout(s);
            move_list(s, Move::By(0))
        }
        Action::AutoRefresh => auto_refresh(s),
        Action::Synced(event) => synced(s, event),
        Action::Refresh => refresh(s),
        Action::Loaded(l) => loaded(s, l),
        Action::Insert(_)
        | Action::DeleteChar
        | Action::Submit
        | Action::Cancel
        | Action::Complete => prompt(s, action),
        Action::ToggleHelp => toggle_help(s),
        Action::OpenPalette => open(s, Overlay::Palette(Prompt::default())),
        Action::OpenFilter => {
            let text = s.list.spec.to_string();
            open(s, Overlay::Filter(Prompt::with_text(text)))
        }
        Action::SetFilter(text) => apply_filter(s, &text),
        Action::ClearFilter => clear_filter(s),
        Action::NextPane => show(s, s.pane.cycle(1)),
        Action::PrevPane => show(s, s.pane.cycle(-1)),
        Action::ShowPane(p) => show(s, p),
        Action::Up => navigate(s, Move::By(-1)),
        Action::Down => navigate(s, Move::By(1)),
        Action::PageUp => navigate(s, Move::Pages(-1)),
        Action::PageDown => navigate(s, Move::Pages(1)),
        Action::Top => navigate(s, Move::Top),
        Action::Bottom => navigate(s, Move::Bottom),
        Action::Scroll(n) => navigate(s, Move::By(n as isize)),
        Action::Open => open_selection(s),
        Action::Back => back(s),
        Action::Click { col, row } => click(s, col, row),
        Action::DriftWindow => drift::cycle_window(s),
        Action::DriftCandidate => drift::cycle_version(s, false),
        Action::DriftBaseline => drift::cycle_version(s, true),
        Action::PickReplay => replay::pick(s),
        Action::Replay { trace_id, versions } => replay::start(s, trace_id, versions),
        Action::Replayed { trace_id, result } => {
            let mut fx = replay::finished(s, &trace_id, result);
            fx.extend(incidents::reload(s));
            fx
        }
        Action::DiffLatest => replay::diff_latest(s),
        Action::DiffNext => replay::jump(s, true),
        Action::DiffPrev => replay::jump(s, false),
        Action::DiffTab(step) => replay::tab(s, step),
        Action::NewCase => case::new(s),
        Action::CaseSuggested { trace_id, result } => case::suggested(s, &trace_id, result),
        Action::Toggle => case::toggle(s),
        Action::CaseSaved(result) => {
            let mut fx = case::saved(s, result);
            fx.extend(incidents::reload(s));
            fx
        }
        Action::RunGate {
            candidate,
            baseline,
        } => gate::start(s, candidate, baseline),
        Action::GateProgress(p) => gate::progress(s, p),
        Action::GateFinished(result) => gate::finished(s, result),
        Action::RolloutCheck => rollout::check(s),
        Action::Approve => rollout::act(s, RolloutOp::Approve),
        Action::Promote => rollout::act(s, RolloutOp::Promote),
        Action::HoldResume => rollout::act(s, RolloutOp::HoldResume),
        Action::Rehearse => rollout::rehearse(s),
        Action::AskRollback => rollout::ask_rollback(s),
        Action::AskKill => rollout::ask_kill(s),
        Action::RolloutDone(result) => rollout::done(s, result),
        Action::Procedure(ev) => rollout::event(s, ev),
        Action::Criterion(step) => review::criterion(s, step),
        Action::Score(n) => review::score(s, n),
        Action::EditNote => review::edit_note(s),
        Action::NewRound => review::new_round(s),
        Action::Reviewed { trace_pk, result } => review::reviewed(s, trace_pk, result),
    }
}

fn overview_request(s: &State) -> Effect {
    Effect::Load(Request::Overview {
        window_ns: s.window.as_nanos(),
        buckets: s.buckets,
        config: s.config.clone(),
    })
}

fn open(s: &mut State, overlay: Overlay) -> Vec<Effect> {
    s.overlay = overlay;
    Vec::new()
}

fn toggle_help(s: &mut State) -> Vec<Effect> {
    s.overlay = match s.overlay {
        Overlay::Help { .. } => Overlay::None,
        _ => Overlay::Help { scroll: 0 },
    };
    Vec::new()
}

fn show(s: &mut State, pane: Pane) -> Vec<Effect> {
    s.pane = pane;
    s.overlay = Overlay::None;
    let mut fx = move_list(s, Move::By(0));
    fx.extend(pane_request(s));
    if pane == Pane::Review {
        fx.extend(review::show(s));
    }
    fx
}

/// What the Incidents, Gate and Rollout panes reload when shown or refreshed.
fn pane_request(s: &State) -> Option<Effect> {
    match s.pane {
        Pane::Incidents => Some(incidents::request(s)),
        Pane::Gate => Some(gate::request(s)),
        Pane::Rollout => Some(rollout::request(s)),
        _ => None,
    }
}

/// Every 2 s: new overview numbers, and whether traces arrived after the list snapshot.
fn auto_refresh(s: &mut State) -> Vec<Effect> {
    let mut fx = vec![overview_request(s)];
    if drift::due(s, s.pane == Pane::Drift) {
        fx.push(drift::request(s));
    }
    if let Some(max_pk) = s.list.max_pk {
        fx.push(Effect::Load(Request::Head {
            generation: s.list.generation,
            filter: s.list.filter.clone(),
            max_pk,
        }));
    }
    fx.extend(pane_request(s));
    // The trigger banner shows on every pane, so the rollout is read everywhere.
    if s.pane != Pane::Rollout {
        fx.push(rollout::request(s));
    }
    fx
}

/// Lines of the sync log the Sources pane keeps.
const SYNC_LOG: usize = 200;

/// The sync engine committed or failed: log it, and after a page, reload the
/// overview so the Sources rows and the numbers follow.
fn synced(s: &mut State, event: crate::sync::Event) -> Vec<Effect> {
    let page = matches!(event, crate::sync::Event::Page { .. });
    s.sync_log.push_back(event.to_string());
    while s.sync_log.len() > SYNC_LOG {
        s.sync_log.pop_front();
    }
    if page {
        vec![overview_request(s)]
    } else {
        Vec::new()
    }
}

fn refresh(s: &mut State) -> Vec<Effect> {
    let mut fx = vec![overview_request(s), drift::request(s)];
    fx.push(Effect::Load(
        s.list.rebase(s.list.spec.clone(), s.list.filter.clone()),
    ));
    let open = match s.pane {
        Pane::Incidents => s.incidents.detail.as_ref(),
        _ => s.detail.as_ref(),
    };
    if let Some(d) = open {
        fx.push(Effect::Load(Request::Detail {
            trace_id: d.trace_id.clone(),
        }));
    }
    fx.extend(pane_request(s));
    s.info("reloading");
    fx
}

fn loaded(s: &mut State, l: Loaded) -> Vec<Effect> {
    let generation = s.list.generation;
    match l {
        Loaded::Overview(data) => {
            s.loaded_ok("overview");
            let active = data.active().len();
            s.overview.selected = s.overview.selected.min(active.saturating_sub(1));
            s.overview.data = Some(*data);
            Vec::new()
        }
        Loaded::Rebased {
            generation: g,
            max_pk,
            rows,
        } if g == generation => {
            s.loaded_ok("traces");
            s.list.max_pk = Some(max_pk);
            s.list.store(0, rows);
            let mut fx = vec![Effect::Load(Request::Count {
                generation,
                filter: s.list.filter.clone(),
                max_pk,
            })];
            fx.extend(move_list(s, Move::By(0)));
            fx
        }
        Loaded::Page {
            generation: g,
            page,
            rows,
        } if g == generation => {
            s.loaded_ok("traces");
            s.list.store(page, rows);
            move_list(s, Move::By(0))
        }
        Loaded::Count {
            generation: g,
            count,
        } if g == generation => {
            s.list.count = Some(count);
            if std::mem::take(&mut s.list.bottom_pending) {
                return move_list(s, Move::Bottom);
            }
            move_list(s, Move::By(0))
        }
        Loaded::Head {
            generation: g,
            new_rows,
        } if g == generation => head(s, new_rows),
        Loaded::Detail(d) => {
            incidents::loaded_detail(s, &d);
            review::loaded_detail(s, &d);
            if let Some(open) = s.detail.as_mut().filter(|o| o.trace_id == d.0.row.id) {
                open.data = Some(d.0);
            }
            Vec::new()
        }
        Loaded::Drift(report) => drift::loaded(s, report),
        Loaded::Diff(d) => replay::loaded_diff(s, d),
        Loaded::Incidents(rows) => incidents::loaded(s, rows),
        Loaded::Timeline(t) => incidents::loaded_timeline(s, t),
        Loaded::GateRuns(rows) => gate::loaded(s, rows),
        Loaded::GateRun(r) => gate::loaded_run(s, r),
        Loaded::Rollout(view) => rollout::loaded(s, view),
        Loaded::ReviewSample(x) => review::loaded(s, x),
        Loaded::Failed { what, error } => {
            if what == "traces" {
                s.list.pending = None;
            }
            if what == "review round" {
                review::failed(s);
            }
            if what == "diff" {
                s.diff.loading = false;
                // Nothing to compare (no replay yet): stay where the trace is.
                if s.diff.data.is_none() {
                    s.pane = s.diff.from.unwrap_or(Pane::Traces);
                }
            }
            s.error(Some(what), format!("{what}: {error}"));
            Vec::new()
        }
        // A reply for a list snapshot that has been replaced.
        Loaded::Rebased { .. }
        | Loaded::Page { .. }
        | Loaded::Count { .. }
        | Loaded::Head { .. } => Vec::new(),
    }
}

/// New traces arrived: follow them when the operator sits at the top, else say so.
fn head(s: &mut State, new_rows: usize) -> Vec<Effect> {
    s.list.new_rows = new_rows;
    let following = s.list.selected == 0 && s.detail.is_none();
    if new_rows > 0 && following {
        let req = s.list.rebase(s.list.spec.clone(), s.list.filter.clone());
        return vec![Effect::Load(req)];
    }
    Vec::new()
}

fn navigate(s: &mut State, m: Move) -> Vec<Effect> {
    match (&mut s.overlay, s.pane) {
        (Overlay::Help { scroll }, _) => {
            let max = views::help::line_count(&s.keymap, s.readonly);
            *scroll = moved(*scroll, m, 10, max);
            Vec::new()
        }
        (Overlay::Palette(p), _) => {
            let n = palette::matches(p.split().0, s.readonly).len();
            p.choice = moved(p.choice, m, 5, n);
            Vec::new()
        }
        (Overlay::Filter(_) | Overlay::Note { .. }, _) => Vec::new(),
        (Overlay::Versions(p), _) => {
            p.choice = moved(p.choice, m, 5, p.choices.len());
            Vec::new()
        }
        (Overlay::CaseForm(form), _) => {
            form.focus = moved(form.focus, m, 5, form.rows());
            Vec::new()
        }
        (Overlay::None, Pane::Diff) => {
            let rows = s.diff.layout.rows.len();
            s.diff.scroll = moved(s.diff.scroll, m, replay::page(s), rows);
            Vec::new()
        }
        (Overlay::None, Pane::Overview) => {
            let n = s.overview.data.as_ref().map_or(0, |d| d.active().len());
            s.overview.selected = moved(s.overview.selected, m, 5, n);
            Vec::new()
        }
        (Overlay::None, Pane::Drift) => {
            s.drift.selected = moved(s.drift.selected, m, 5, drift::count(s));
            Vec::new()
        }
        (Overlay::None, Pane::Sources) => Vec::new(),
        (Overlay::None, Pane::Incidents) => incidents::navigate(s, m),
        (Overlay::None, Pane::Gate) => gate::navigate(s, m),
        (Overlay::None, Pane::Rollout) => rollout::navigate(s, m),
        (Overlay::Confirm(_), _) => Vec::new(),
        (Overlay::None, Pane::Review) => review::navigate(s, m),
        (Overlay::None, Pane::Traces) => match &mut s.detail {
            Some(d) => {
                let width = layout::inner(layout::areas(s.size).body).width as usize;
                let max = d
                    .data
                    .as_deref()
                    .map_or(0, |t| views::detail::line_count(t, width));
                d.scroll = moved(d.scroll, m, 20, max);
                Vec::new()
            }
            None => move_list(s, m),
        },
    }
}

/// `at` moved by `m` within `0..len`; `page` is the page size.
fn moved(at: usize, m: Move, page: usize, len: usize) -> usize {
    let last = len.saturating_sub(1);
    let target = match m {
        Move::By(n) => at.saturating_add_signed(n),
        Move::Pages(n) => at.saturating_add_signed(n * page as isize),
        Move::Top => 0,
        Move::Bottom => last,
    };
    target.min(last)
}

/// Moves the list selection and asks for any page the viewport now lacks.
fn move_list(s: &mut State, m: Move) -> Vec<Effect> {
    let height = s.list_height();
    let list = &mut s.list;
    match m {
        Move::Top if list.new_rows > 0 => {
            let req = list.rebase(list.spec.clone(), list.filter.clone());
            return vec![Effect::Load(req)];
        }
        Move::Bottom if list.count.or(list.end).is_none() => {
            list.bottom_pending = true;
            s.info("counting traces…");
            return Vec::new();
        }
        _ => {}
    }
    let target = match m {
        Move::By(n) => list.selected.saturating_add_signed(n),
        Move::Pages(n) => list.selected.saturating_add_signed(n * height as isize),
        Move::Top => 0,
        Move::Bottom => list.len().saturating_sub(1),
    };
    list.select(target, height);
    list.next_request(height)
        .map(Effect::Load)
        .into_iter()
        .collect()
}

fn open_selection(s: &mut State) -> Vec<Effect> {
    match s.pane {
        Pane::Overview => traces_of_selected_version(s),
        Pane::Drift => match drift::drill(s) {
            Some(filter) => apply_filter(s, &filter),
            None => Vec::new(),
        },
        Pane::Diff | Pane::Sources | Pane::Rollout | Pane::Review => Vec::new(),
        Pane::Incidents => incidents::open(s),
        Pane::Gate => gate::open(s),
        Pane::Traces => {
            let Some(row) = s.list.selected_row() else {
                return Vec::new();
            };
            let trace_id = row.id.clone();
            s.detail = Some(DetailState {
                trace_id: trace_id.clone(),
                data: None,
                scroll: 0,
            });
            vec![Effect::Load(Request::Detail { trace_id })]
        }
    }
}

/// From the Overview, `Enter` lists the selected version's traces.
fn traces_of_selected_version(s: &mut State) -> Vec<Effect> {
    let Some(data) = &s.overview.data else {
        return Vec::new();
    };
    let active = data.active();
    let Some(v) = active.get(s.overview.selected) else {
        return Vec::new();
    };
    let unique = data.versions.iter().filter(|o| o.label == v.label).count() == 1;
    let spec = if unique {
        v.label.clone()
    } else {
        v.id.clone()
    };
    apply_filter(s, &format!("v:{spec}"))
}

fn back(s: &mut State) -> Vec<Effect> {
    if s.overlay != Overlay::None {
        s.overlay = Overlay::None;
        return Vec::new();
    }
    match s.pane {
        Pane::Incidents => incidents::back(s),
        Pane::Gate => gate::back(s),
        Pane::Diff => return show(s, s.diff.from.unwrap_or(Pane::Traces)),
        _ => s.detail = None,
    }
    Vec::new()
}

fn clear_filter(s: &mut State) -> Vec<Effect> {
    if s.list.spec.is_empty() {
        return Vec::new();
    }
    s.info("filter cleared");
    vec![Effect::Load(
        s.list.rebase(FilterSpec::default(), TraceFilter::default()),
    )]
}

/// Parses, resolves and applies a filter; errors go to the status line.
fn apply_filter(s: &mut State, text: &str) -> Vec<Effect> {
    let resolved =
        FilterSpec::parse(text).and_then(|spec| Ok((spec.resolve(s.versions(), s.now_ns)?, spec)));
    let (filter, spec) = match resolved {
        Ok(ok) => ok,
        Err(e) => {
            s.error(None, format!("filter: {e}"));
            return Vec::new();
        }
    };
    s.pane = Pane::Traces;
    s.detail = None;
    s.overlay = Overlay::None;
    if spec.is_empty() {
        s.info("showing all traces");
    } else {
        s.info(format!("filter: {spec}"));
    }
    vec![Effect::Load(s.list.rebase(spec, filter))]
}

/// Keys typed into the `/` and `:` prompts.
fn prompt(s: &mut State, action: Action) -> Vec<Effect> {
    if let Overlay::Versions(_) = s.overlay {
        return replay::picker(s, action);
    }
    if let Overlay::CaseForm(_) = s.overlay {
        return case::form_key(s, action);
    }
    if let Overlay::Confirm(_) = s.overlay {
        return rollout::confirm_key(s, action);
    }
    if let Overlay::Note { .. } = s.overlay {
        return review::note_key(s, action);
    }
    let (Overlay::Filter(p) | Overlay::Palette(p)) = &mut s.overlay else {
        return Vec::new();
    };
    match action {
        Action::Insert(c) => {
            p.text.push(c);
            p.choice = 0;
        }
        Action::DeleteChar => {
            p.text.pop();
            p.choice = 0;
        }
        Action::Cancel => s.overlay = Overlay::None,
        Action::Complete => complete(s),
        Action::Submit => return submit(s),
        _ => {}
    }
    Vec::new()
}

fn complete(s: &mut State) {
    let readonly = s.readonly;
    if let Overlay::Palette(p) = &mut s.overlay
        && let Some((cmd, args)) = palette::chosen(p, readonly)
    {
        *p = Prompt::with_text(format!("{} {args}", cmd.name));
    }
}

fn submit(s: &mut State) -> Vec<Effect> {
    match std::mem::take(&mut s.overlay) {
        Overlay::Filter(p) => {
            let fx = apply_filter(s, &p.text);
            if s.status.as_ref().is_some_and(|st| st.error) {
                s.overlay = Overlay::Filter(p); // keep the text to fix it
            }
            fx
        }
        Overlay::Palette(p) => match palette::chosen(&p, s.readonly) {
            Some((cmd, args)) => match Action::named(cmd.name, &args) {
                Some(action) => update(s, action),
                None => Vec::new(),
            },
            None => {
                s.error(None, format!("no command matches {:?}", p.split().0));
                Vec::new()
            }
        },
        other => {
            s.overlay = other;
            Vec::new()
        }
    }
}

/// Mouse clicks: tabs switch panes, list rows select, a click on the selection opens it.
fn click(s: &mut State, col: u16, row: u16) -> Vec<Effect> {
    let areas = layout::areas(s.size);
    if row == areas.header.y {
        let hit = layout::tabs(s.size.width, s.pane)
            .into_iter()
            .find(|(_, r, _)| r.contains(&col));
        return hit.map_or_else(Vec::new, |(pane, _, _)| show(s, pane));
    }
    if s.overlay == Overlay::None {
        match s.pane {
            Pane::Incidents => return incidents::click(s, areas.body, col, row),
            Pane::Gate => return gate::click(s, areas.body, col, row),
            Pane::Review => return review::click(s, col, row),
            _ => {}
        }
    }
    if s.overlay != Overlay::None || s.pane != Pane::Traces || s.detail.is_some() {
        return Vec::new();
    }
    let rows = layout::list_rows(areas.body);
    if !layout::contains(rows, col, row) {
        return Vec::new();
    }
    let index = s.list.offset + usize::from(row - rows.y);
    if index >= s.list.len() {
        return Vec::new();
    }
    if index == s.list.selected {
        return open_selection(s);
    }
    let delta = index as isize - s.list.selected as isize;
    move_list(s, Move::By(delta))
}

mod case;
mod drift;
mod gate;
mod incidents;
mod replay;
mod review;
mod rollout;
#[cfg(test)]
mod tests;
