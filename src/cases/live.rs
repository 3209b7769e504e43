//! Running a case's input live on a version through a replay target, and what the
//! assertions then read of the answer. Nothing is stored: the gate will store its runs.

use super::{Case, Observed, Verdict};
use crate::config::Config;
use crate::model::SpanKind;
use crate::replay::execution::Answer;
use crate::store::replays::NewReplay;

/// What the assertions read of a replay record; `Err` when it did not run to an answer
/// (an error is never a pass).
pub fn observed(config: &Config, rec: &NewReplay) -> Result<Observed, String> {
    if let Some(e) = &rec.error {
        return Err(e.clone());
    }
    let answer = Answer::read(config, rec.spans.as_deref(), rec.output.as_deref());
    if let Some(why) = answer.workflow_error {
        return Err(why);
    }
    let facts = answer.facts;
    Ok(Observed {
        output: rec.output.clone(),
        refusal: answer.refusal,
        tool_calls: facts
            .iter()
            .filter(|f| f.kind == SpanKind::Tool)
            .map(|f| super::assertion::ToolCall {
                name: f.tool_name.clone().unwrap_or_else(|| f.name.clone()),
                args: f.tool_args.clone(),
                error: f.error,
            })
            .collect(),
        latency_ms: rec.latency_ms,
        cost_usd: rec.cost_usd,
        tokens_out: rec.tokens_out,
    })
}

/// Every assertion of a case on one observation, described.
pub fn evaluate(case: &Case, o: &Observed) -> Vec<(String, Verdict)> {
    case.assertions
        .iter()
        .map(|a| (a.describe(), a.evaluate(o, case.reference.as_deref())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(output: Option<&str>, error: Option<&str>) -> NewReplay {
        NewReplay {
            trace_pk: None,
            case_id: None,
            input: None,
            version_pk: 0,
            target: "t".into(),
            started_ns: 0,
            latency_ms: Some(120.0),
            output: output.map(str::to_string),
            spans: None,
            tokens_in: Some(10),
            tokens_out: Some(5),
            cost_usd: Some(0.0001),
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn a_replay_that_did_not_answer_is_an_error_not_an_observation() {
        let c = Config::default();
        let err = observed(&c, &record(None, Some("HTTP 503: down"))).unwrap_err();
        assert_eq!(err, "HTTP 503: down");
    }

    #[test]
    fn refusal_without_spans_comes_from_the_configured_phrases() {
        let c = Config::default();
        let o = observed(&c, &record(Some("I'm sorry, but I can't do that."), None)).unwrap();
        assert!(o.refusal);
        assert_eq!((o.latency_ms, o.tokens_out), (Some(120.0), Some(5)));
        let o = observed(&c, &record(Some("Sure: here it is."), None)).unwrap();
        assert!(!o.refusal && o.tool_calls.is_empty());
    }
}
