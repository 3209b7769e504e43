//! The Review pane: a round of sampled traces (drawn on the loader), the selected
//! trace's input and output (the trace detail load), and the rubric. Digits score the
//! selected criterion and move to the next one; `n` writes a note; `N` draws the next
//! round. Scores go to the writer as effects; its answer replaces what the pane shows.

use super::super::action::{Action, Effect, ReviewWrite};
use super::super::data::{DetailBox, Request};
use super::super::layout;
use super::super::palette::Prompt;
use super::super::state::{Overlay, State};
use super::super::views;
use super::{Move, moved};
use crate::review::sample::Sample;
use crate::review::store::{Score, TraceReview};

fn request(s: &mut State) -> Effect {
    s.review.loading = true;
    Effect::Load(Request::ReviewSample {
        rubric: Box::new(s.config.0.rubric.clone()),
        reviewer: s.review.reviewer.clone(),
        round: s.review.round,
        now_ns: s.now_ns,
    })
}

/// Shown: the first round is drawn once; later rounds only on `N`, so scored traces
/// stay in the list with their scores.
pub(super) fn show(s: &mut State) -> Vec<Effect> {
    if s.review.sample.is_none() && !s.review.loading {
        return vec![request(s)];
    }
    detail_if_stale(s)
}

/// `N`: the next round (another seed, and what was scored is left out).
pub(super) fn new_round(s: &mut State) -> Vec<Effect> {
    if s.review.loading {
        return Vec::new();
    }
    s.review.round += 1;
    s.info(format!("drawing round {}…", s.review.round));
    vec![request(s)]
}

pub(super) fn loaded(s: &mut State, sample: Box<Sample>) -> Vec<Effect> {
    s.loaded_ok("review round");
    let r = &mut s.review;
    r.loading = false;
    if sample.round != r.round {
        return Vec::new(); // an older round's answer
    }
    r.selected = 0;
    r.criterion = 0;
    let reserved: usize = sample.strata.iter().map(|x| x.reserved).sum();
    let mut text = format!(
        "round {}: {} trace(s), {reserved} reserved for refusals and errors",
        sample.round,
        sample.items.len()
    );
    if sample.skipped > 0 {
        text.push_str(&format!("; {} scored before, left out", sample.skipped));
    }
    r.sample = Some(sample);
    s.info(text);
    detail_if_stale(s)
}

pub(super) fn failed(s: &mut State) {
    s.review.loading = false;
}

fn detail_if_stale(s: &State) -> Vec<Effect> {
    let Some(item) = s.review.selected_item() else {
        return Vec::new();
    };
    if s.review.current().is_some() {
        return Vec::new();
    }
    vec![Effect::Load(Request::Detail {
        trace_id: item.trace.id.clone(),
    })]
}

pub(super) fn loaded_detail(s: &mut State, d: &DetailBox) {
    let wanted = s
        .review
        .selected_item()
        .is_some_and(|i| i.trace.id == d.0.row.id);
    if wanted {
        s.review.detail = Some(d.0.clone());
    }
}

pub(super) fn navigate(s: &mut State, m: Move) -> Vec<Effect> {
    let n = s.review.sample.as_ref().map_or(0, |x| x.items.len());
    let page = layout::table_rows(views::review::areas(s.size)[0]).max(1);
    s.review.selected = moved(s.review.selected, m, page, n);
    detail_if_stale(s)
}

/// A click on a row selects it.
pub(super) fn click(s: &mut State, col: u16, row: u16) -> Vec<Effect> {
    let n = s.review.sample.as_ref().map_or(0, |x| x.items.len());
    let [list, _] = views::review::areas(s.size);
    let first = layout::first_visible(s.review.selected, layout::table_rows(list));
    match layout::table_hit(list, first, col, row).filter(|i| *i < n) {
        Some(i) => {
            s.review.selected = i;
            detail_if_stale(s)
        }
        None => Vec::new(),
    }
}

/// `←` / `→`: the criterion the digits score.
pub(super) fn criterion(s: &mut State, step: isize) -> Vec<Effect> {
    let n = s.config.0.rubric.criteria.len();
    if n > 0 {
        let at = s.review.criterion as isize + step;
        s.review.criterion = at.clamp(0, n as isize - 1) as usize;
    }
    Vec::new()
}

/// The trace `R` drafts a case from, with its version.
pub(super) fn selected_trace(s: &State) -> Option<(String, String)> {
    let t = &s.review.selected_item()?.trace;
    Some((t.id.clone(), t.version.clone()))
}

/// A digit: scores the selected criterion (with a note written before the first score)
/// and moves to the next criterion.
pub(super) fn score(s: &mut State, n: u8) -> Vec<Effect> {
    let config = s.config.0.clone();
    let Some(item) = s.review.selected_item() else {
        s.error(None, "review: no trace selected");
        return Vec::new();
    };
    let pk = item.trace.pk;
    let Some(c) = config.rubric.criteria.get(s.review.criterion) else {
        s.error(
            None,
            "review: no [[rubric.criterion]] in relops.toml to score",
        );
        return Vec::new();
    };
    if n < 1 || n > c.scale {
        s.error(None, format!("{}: {n} is outside 1..={}", c.name, c.scale));
        return Vec::new();
    }
    let write = ReviewWrite {
        trace_pk: pk,
        reviewer: s.review.reviewer.clone(),
        scores: vec![Score {
            criterion: c.name.clone(),
            score: n,
            scale: c.scale,
        }],
        note: s.review.pending_notes.remove(&pk),
    };
    let last = config.rubric.criteria.len() - 1;
    s.review.criterion = (s.review.criterion + 1).min(last);
    vec![Effect::Review(Box::new(write))]
}

/// The writer answered: the trace's scores as stored, or why they are not.
pub(super) fn reviewed(
    s: &mut State,
    trace_pk: i64,
    result: Result<TraceReview, String>,
) -> Vec<Effect> {
    match result {
        Ok(review) => {
            let total = s.config.0.rubric.criteria.len();
            let done = review.scores.len();
            s.review.reviews.insert(trace_pk, review);
            if done >= total {
                s.info(format!("scored all {total} criteria · j: the next trace"));
            } else {
                s.info(format!("scored {done} of {total} criteria"));
            }
        }
        Err(e) => s.error(Some("review"), format!("review not stored: {e}")),
    }
    Vec::new()
}

/// `n`: the note prompt, holding the trace's note so far.
pub(super) fn edit_note(s: &mut State) -> Vec<Effect> {
    let Some(pk) = s.review.selected_item().map(|i| i.trace.pk) else {
        s.error(None, "review: no trace selected");
        return Vec::new();
    };
    let r = &s.review;
    let text = r
        .pending_notes
        .get(&pk)
        .cloned()
        .or_else(|| r.reviews.get(&pk).and_then(|x| x.note.clone()))
        .unwrap_or_default();
    s.overlay = Overlay::Note {
        trace_pk: pk,
        prompt: Prompt::with_text(text),
    };
    Vec::new()
}

/// Typing, Enter and Esc in the note prompt. A note on a scored trace is stored now;
/// before the first score it waits for it (it is kept beside the scores).
pub(super) fn note_key(s: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::Note { trace_pk, prompt } = &mut s.overlay else {
        return Vec::new();
    };
    match action {
        Action::Insert(c) => prompt.text.push(c),
        Action::DeleteChar => {
            prompt.text.pop();
        }
        Action::Cancel => s.overlay = Overlay::None,
        Action::Submit => {
            let (pk, text) = (*trace_pk, prompt.text.trim().to_string());
            s.overlay = Overlay::None;
            let scored = s
                .review
                .reviews
                .get(&pk)
                .is_some_and(|r| !r.scores.is_empty());
            if scored {
                return vec![Effect::Review(Box::new(ReviewWrite {
                    trace_pk: pk,
                    reviewer: s.review.reviewer.clone(),
                    scores: Vec::new(),
                    note: Some(text),
                }))];
            }
            s.review.pending_notes.insert(pk, text);
            s.info("note kept: it is stored with the trace's first score");
        }
        _ => {}
    }
    Vec::new()
}
