//! `R`: a trace becomes a regression case. The driver drafts the case (assertions
//! suggested from what went wrong, see [`crate::cases::suggest`]); the form lets the
//! operator edit the title, drop suggestions and set must-pass; `Enter` asks the driver
//! to write the file, and the status line shows where it went.

use super::super::action::{Action, Effect, Pane};
use super::super::state::{CaseForm, Overlay, State};
use super::replay::selected;
use crate::cases::suggest::Draft;

fn short(trace_id: &str) -> String {
    format!("{}…", &trace_id[..trace_id.len().min(8)])
}

/// `R` on a trace (list or detail), or in the Diff pane on the trace both sides ran.
pub(super) fn new(s: &mut State) -> Vec<Effect> {
    let in_diff = (s.pane == Pane::Diff)
        .then(|| s.diff.data.as_ref().and_then(|d| d.a.trace_id.clone()))
        .flatten();
    let Some(trace_id) = in_diff.or_else(|| selected(s).map(|(id, _)| id)) else {
        s.error(
            None,
            "case: select a trace in the Traces pane, an incident's timeline (or open a diff) first",
        );
        return Vec::new();
    };
    // From an incident's timeline the case guards against that incident.
    let incident = (s.pane == Pane::Incidents)
        .then(|| super::incidents::selected_trace(s).map(|(_, _, id)| id))
        .flatten();
    s.info(format!(
        "drafting a case from {}{}…",
        short(&trace_id),
        incident.map_or(String::new(), |i| format!(" for incident {i}"))
    ));
    vec![Effect::SuggestCase {
        trace_id,
        now_ns: s.now_ns,
        incident,
    }]
}

/// The draft arrived: open the form. A case from the console starts must-pass (it comes
/// from a trace someone looked at because it went wrong); space turns it off.
pub(super) fn suggested(
    s: &mut State,
    trace_id: &str,
    result: Result<Box<Draft>, String>,
) -> Vec<Effect> {
    match result {
        Ok(mut draft) => {
            draft.case.must_pass = true;
            s.overlay = Overlay::CaseForm(Box::new(CaseForm::new(*draft)));
            s.info("edit the title, space keeps or drops a line, Enter saves, Esc discards");
        }
        Err(e) => s.error(Some("case"), format!("case from {}: {e}", short(trace_id))),
    }
    Vec::new()
}

/// Space: flips the focused assertion or must-pass; in the title it is a space.
pub(super) fn toggle(s: &mut State) -> Vec<Effect> {
    let Overlay::CaseForm(form) = &mut s.overlay else {
        return Vec::new();
    };
    let n = form.keep.len();
    match form.focus {
        0 => form.draft.case.title.push(' '),
        i if i <= n => form.keep[i - 1] = !form.keep[i - 1],
        _ => form.draft.case.must_pass = !form.draft.case.must_pass,
    }
    Vec::new()
}

/// Typing, Enter and Esc in the form.
pub(super) fn form_key(s: &mut State, action: Action) -> Vec<Effect> {
    let Overlay::CaseForm(form) = &mut s.overlay else {
        return Vec::new();
    };
    match action {
        Action::Insert(c) if form.focus == 0 => form.draft.case.title.push(c),
        Action::DeleteChar if form.focus == 0 => {
            form.draft.case.title.pop();
        }
        Action::Cancel => {
            s.overlay = Overlay::None;
            s.info("case discarded");
        }
        Action::Submit => {
            let case = form.case();
            if case.title.trim().is_empty() {
                s.error(None, "case: the title is empty");
            } else if case.assertions.is_empty() {
                s.error(None, "case: keep at least one assertion");
            } else {
                s.overlay = Overlay::None;
                s.info(format!("saving case {}…", case.id));
                return vec![Effect::SaveCase(Box::new(case))];
            }
        }
        _ => {}
    }
    Vec::new()
}

pub(super) fn saved(s: &mut State, result: Result<String, String>) -> Vec<Effect> {
    match result {
        Ok(path) => s.info(format!("case saved: {path}")),
        Err(e) => s.error(Some("case"), format!("case not saved: {e}")),
    }
    Vec::new()
}
