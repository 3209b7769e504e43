//! The weekly stability memo: what shipped and what was rolled back, each version's
//! signals with its drift verdict against the version before, what moved within a
//! version, rubric scores, incidents and the cases they produced, gate runs, and
//! recommendations, each with the evidence behind it.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::sections::{
    self, CaseLine, IncidentLine, MAIN, PairVerdict, Rollback, RubricAverage, SignalLine, Traffic,
    VersionLine,
};
use super::{CHARTS_MARK, Ctx, Recommendation, Rendered, Span, cell, plural, short};
use crate::cases::{Assertion, Suite};
use crate::drift::Verdict;
use crate::gate::Decision;
use crate::gate::store::RunSummary;

/// Buckets across the week for the charts: six hours each.
const BUCKETS: usize = 28;

/// A version's main signals over its traffic in the period.
#[derive(Debug, Clone, Serialize)]
pub struct VersionSignals {
    pub version: String,
    pub values: BTreeMap<&'static str, Option<f64>>,
}

/// The memo's data, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Weekly {
    pub report: &'static str,
    pub workspace: String,
    pub period: Span,
    pub requests: u64,
    pub versions: Vec<VersionLine>,
    pub rollbacks: Vec<Rollback>,
    pub signals: Vec<VersionSignals>,
    /// Each version against the one before it.
    pub verdicts: Vec<PairVerdict>,
    /// Each serving version's last day against the day before.
    pub trends: Vec<PairVerdict>,
    pub rubric: Vec<RubricAverage>,
    pub incidents: Vec<IncidentLine>,
    pub cases_added: Vec<CaseLine>,
    pub gate_runs: Vec<RunSummary>,
    pub recommendations: Vec<Recommendation>,
    /// The charts' signals (files `<stem>-<signal>.svg` with `--out`).
    pub charts: Vec<&'static str>,
    /// The audit chain's head when the memo was written (see [`crate::audit::Head`]).
    pub audit_head: Option<crate::audit::Head>,
}

pub fn build(ctx: &Ctx) -> Result<(Weekly, Rendered), String> {
    let err = |e: rusqlite::Error| e.to_string();
    let span = &ctx.span;
    let traffic = Traffic::load(ctx.conn, span, BUCKETS).map_err(err)?;
    let rollbacks = sections::rollbacks(ctx.conn, span).map_err(err)?;
    let versions = sections::versions(ctx.conn, span, &traffic, &rollbacks).map_err(err)?;
    let cases = sections::cases(ctx.conn).map_err(err)?;
    let incidents = sections::incidents(ctx.conn, span, &cases).map_err(err)?;
    let signals = versions
        .iter()
        .map(|v| VersionSignals {
            version: v.label.clone(),
            values: MAIN
                .iter()
                .map(|m| {
                    let value = traffic
                        .by_version
                        .get(&v.row.rowid)
                        .and_then(|b| sections::overall(m, b));
                    (m.name, value)
                })
                .collect(),
        })
        .collect();
    let charts = traffic.charts(span, &versions, "6-hour buckets");
    let mut w = Weekly {
        report: "weekly",
        workspace: ctx.name.clone(),
        period: span.clone(),
        requests: versions.iter().map(|v| v.requests).sum(),
        verdicts: sections::pair_verdicts(ctx, &versions),
        trends: sections::trends(ctx, &versions),
        rubric: sections::rubric_averages(ctx.conn, span.from_ns, span.to_ns).map_err(err)?,
        cases_added: cases
            .iter()
            .filter(|c| span.contains(c.created_ns))
            .cloned()
            .collect(),
        gate_runs: sections::gate_runs(ctx.conn, span).map_err(err)?,
        versions,
        rollbacks,
        signals,
        incidents,
        recommendations: Vec::new(),
        charts: charts.iter().map(|c| c.signal).collect(),
        audit_head: crate::audit::head(ctx.conn).map_err(err)?,
    };
    let suite = Suite::load(&ctx.suite_dir);
    w.recommendations = recommend(ctx, &w, &suite).map_err(err)?;
    let markdown = markdown(&w);
    Ok((w, Rendered { markdown, charts }))
}

/// Signals that moved within a version: failures, and warnings that are significant.
fn moving(t: &PairVerdict) -> impl Iterator<Item = &SignalLine> {
    t.signals.iter().filter(|s| {
        s.verdict == Verdict::Fail
            || (s.verdict == Verdict::Warn && s.report.judgement.p_holm.is_some_and(|p| p < 0.05))
    })
}

/// A must-pass case that checks `tool` runs without errors.
fn covering_case<'a>(suite: &'a Suite, tool: &str) -> Option<&'a crate::cases::Loaded> {
    suite.cases.iter().find(|l| {
        let a = &l.case.assertions;
        l.case.must_pass
            && a.iter().any(|x| matches!(x, Assertion::NoToolErrors))
            && (a
                .iter()
                .any(|x| matches!(x, Assertion::ToolCalled { name, .. } if name == tool))
                || l.case.title.to_lowercase().contains(tool))
    })
}

fn recommend(ctx: &Ctx, w: &Weekly, suite: &Suite) -> rusqlite::Result<Vec<Recommendation>> {
    let mut recs = Vec::new();
    let line = |label: &str| w.versions.iter().find(|v| v.label == label);
    let rolled_back = |label: &str| w.rollbacks.iter().any(|r| r.release == label);
    for pv in &w.verdicts {
        let Some(v) = line(&pv.candidate) else {
            continue;
        };
        // A rolled-back version's failures still need their causes fixed before it
        // comes back; a version that simply stopped serving is old news.
        let rolled = rolled_back(&v.label);
        if !v.serving() && !rolled {
            continue;
        }
        let when = if rolled {
            "before it is released again"
        } else {
            "before it takes more traffic"
        };
        let base = pv.baseline.clone().unwrap_or_default();
        let fails: Vec<&SignalLine> = pv.with(Verdict::Fail).collect();
        let share = v.last_day_share * 100.0;
        if fails.is_empty() && rolled {
            continue;
        }
        if fails.is_empty() {
            let thin: Vec<&SignalLine> = pv
                .with(Verdict::Insufficient)
                .filter(|s| MAIN.iter().any(|m| m.name == s.name))
                .collect();
            if !thin.is_empty() {
                recs.push(Recommendation {
                    area: "rollout",
                    action: format!(
                        "Hold {} at {share:.0}% of traffic until its verdict is in",
                        v.label
                    ),
                    evidence: thin
                        .iter()
                        .map(|s| format!("{}: {}", s.label, s.reason))
                        .collect::<Vec<_>>()
                        .join("; "),
                    refs: vec![pv.command()],
                });
            }
            continue;
        }
        let names: Vec<&str> = fails.iter().map(|s| s.label.as_str()).collect();
        if !rolled {
            recs.push(Recommendation {
                area: "rollout",
                action: format!(
                    "Do not promote {} past {share:.0}% of traffic; roll it back to {base} unless \
                     the failing signals are understood",
                    v.label
                ),
                evidence: format!(
                    "{} of {} signals fail against {base} over the last {} ({} vs {} requests): {}",
                    fails.len(),
                    pv.signals.len(),
                    pv.window,
                    pv.requests_candidate,
                    pv.requests_baseline,
                    names.join(", ")
                ),
                refs: vec![pv.command()],
            });
        }
        let changed = |field: &str| v.changed.iter().any(|c| c == field);
        let field = |row: Option<&crate::store::query::VersionRow>, name: &str| {
            row.and_then(|r| match name {
                "prompt_hash" => r.prompt_hash.clone(),
                "index_version" => r.index_version.clone(),
                tool => r.tools.get(tool.trim_start_matches("tools.")).cloned(),
            })
            .unwrap_or_else(|| "-".into())
        };
        let from_to = |name: &str| {
            format!(
                "{} → {}",
                field(v.previous_row.as_ref(), name),
                field(Some(&v.row), name)
            )
        };
        let per_tool_fails = fails
            .iter()
            .any(|s| s.name.starts_with(crate::drift::catalogue::PER_TOOL_PREFIX));
        for s in &fails {
            let name = s.name.as_str();
            if name == "refusal_rate" || name == "safety_event_rate" {
                let examples =
                    sections::example_traces(ctx.conn, &ctx.span, v.row.rowid, false, 3)?;
                let action = if changed("prompt_hash") {
                    format!(
                        "Review {}'s prompt change (prompt_hash {}) {when}",
                        v.label,
                        from_to("prompt_hash")
                    )
                } else {
                    format!(
                        "Find why {} refuses more than {base} (the prompt did not change: \
                         model, config or tools did)",
                        v.label
                    )
                };
                recs.push(Recommendation {
                    area: "prompt",
                    action,
                    evidence: s.evidence(),
                    refs: examples,
                });
            } else if let Some(tool) = name.strip_prefix(crate::drift::catalogue::PER_TOOL_PREFIX) {
                let examples = sections::example_traces(ctx.conn, &ctx.span, v.row.rowid, true, 3)?;
                let key = format!("tools.{tool}");
                let action = if changed(&key) {
                    format!(
                        "Pin the {tool} tool back to its {base} version or fix it {when} ({key} {})",
                        from_to(&key)
                    )
                } else {
                    format!("Find why the {tool} tool fails more on {}", v.label)
                };
                recs.push(Recommendation {
                    area: "tools",
                    action,
                    evidence: s.evidence(),
                    refs: examples.clone(),
                });
                let incident_traces: usize = w
                    .incidents
                    .iter()
                    .filter(|i| i.versions.contains(&v.label))
                    .map(|i| i.tool_error_traces)
                    .sum();
                match covering_case(suite, tool) {
                    Some(case) => {
                        let ran = w.gate_runs.iter().any(|r| r.candidate == v.label);
                        if !ran {
                            recs.push(Recommendation {
                                area: "gate",
                                action: format!(
                                    "Run the gate on {}: must-pass case {} checks the {tool} tool",
                                    v.label, case.case.id
                                ),
                                evidence: s.evidence(),
                                refs: vec![sections::gate_command(&v.label, &base)],
                            });
                        }
                    }
                    None => recs.push(Recommendation {
                        area: "test set",
                        action: format!("Add a must-pass case for {tool} tool errors"),
                        evidence: format!(
                            "{incident_traces} incident traces on {} with failed tool calls; {}",
                            v.label,
                            s.evidence()
                        ),
                        refs: examples
                            .first()
                            .map(|t| vec![sections::case_command(t, None)])
                            .unwrap_or_default(),
                    }),
                }
            } else if name == "tool_error_rate" && !per_tool_fails {
                recs.push(Recommendation {
                    area: "tools",
                    action: format!("Find which tool fails more on {}", v.label),
                    evidence: s.evidence(),
                    refs: sections::example_traces(ctx.conn, &ctx.span, v.row.rowid, true, 3)?,
                });
            } else if name.starts_with("retrieval") {
                let action = if changed("index_version") {
                    format!(
                        "Check the retrieval index on {} (index_version {})",
                        v.label,
                        from_to("index_version")
                    )
                } else {
                    format!(
                        "Review the retrieval threshold on {}: the index did not change",
                        v.label
                    )
                };
                recs.push(Recommendation {
                    area: "retrieval",
                    action,
                    evidence: s.evidence(),
                    refs: vec![pv.command()],
                });
            } else if name.contains("latency") || name == "cost_per_request" {
                recs.push(Recommendation {
                    area: "gate",
                    action: format!(
                        "Give the suite a {} budget that {} misses",
                        if name == "cost_per_request" {
                            "max_cost_usd"
                        } else {
                            "max_latency_ms"
                        },
                        v.label
                    ),
                    evidence: s.evidence(),
                    refs: vec![pv.command()],
                });
            }
        }
    }
    // Gate runs: releases of the week without one, serving releases a run holds.
    for v in w.versions.iter().filter(|v| v.serving()) {
        if rolled_back(&v.label) {
            continue;
        }
        let runs: Vec<&RunSummary> = w
            .gate_runs
            .iter()
            .filter(|r| r.candidate == v.label)
            .collect();
        match runs.last() {
            None if v.shipped => {
                let prev = v.previous.clone().unwrap_or_default();
                recs.push(Recommendation {
                    area: "gate",
                    action: format!("Gate {} against {prev} before its next stage", v.label),
                    evidence: format!(
                        "{} shipped {} and serves {:.0}% of traffic with no gate run this week",
                        v.label,
                        short(v.row.first_seen_ns.unwrap_or_default()),
                        v.last_day_share * 100.0
                    ),
                    refs: vec![sections::gate_command(&v.label, &prev)],
                });
            }
            Some(run) if run.decision == Some(Decision::Hold) => {
                let reasons: Vec<&str> = run.reasons.iter().take(3).map(String::as_str).collect();
                recs.push(Recommendation {
                    area: "gate",
                    action: format!(
                        "Keep {} from full traffic: gate run #{} holds it",
                        v.label, run.id
                    ),
                    evidence: format!(
                        "{} of {} cases fail on {} ({} must-pass in the suite); {}{}",
                        run.candidate_counts.fail + run.candidate_counts.error,
                        run.cases,
                        v.label,
                        run.must_pass,
                        reasons.join("; "),
                        if run.reasons.len() > 3 {
                            format!("; and {} more", run.reasons.len() - 3)
                        } else {
                            String::new()
                        }
                    ),
                    refs: vec![format!("relops gate --show {}", run.id)],
                });
            }
            _ => {}
        }
    }
    for i in &w.incidents {
        if i.status == "open" && i.cases.is_empty() {
            let Some(first) = i.traces.first() else {
                continue;
            };
            recs.push(Recommendation {
                area: "test set",
                action: format!("Turn incident #{} into a regression case", i.id),
                evidence: format!(
                    "{} traces attached ({} refusals, {} with failed tool calls) on {}; no case \
                     links to it",
                    i.traces.len(),
                    i.refusal_traces,
                    i.tool_error_traces,
                    i.versions.join(", ")
                ),
                refs: vec![sections::case_command(first, Some(i.id))],
            });
        }
    }
    Ok(recs)
}

fn verdict_md(md: &mut String, pv: &PairVerdict) {
    let against = pv
        .baseline
        .as_deref()
        .map_or("its window before".to_string(), str::to_string);
    let _ = writeln!(
        md,
        "### {} vs {against}: {}\n",
        pv.candidate,
        pv.verdict.word()
    );
    let _ = writeln!(
        md,
        "Last {} to {} · {} vs {} requests · {}\n",
        pv.window,
        pv.window_end,
        pv.requests_candidate,
        pv.requests_baseline,
        crate::text::code_span(&pv.command())
    );
    let shown: Vec<&SignalLine> = pv
        .signals
        .iter()
        .filter(|s| {
            matches!(s.verdict, Verdict::Fail | Verdict::Warn)
                || MAIN.iter().any(|m| m.name == s.name)
        })
        .collect();
    let _ = writeln!(
        md,
        "| signal | verdict | {against} | {} | change | 95% CI | n | p (Holm) |",
        pv.candidate
    );
    md.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for s in &shown {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&s.label),
            s.verdict.word(),
            s.baseline,
            s.current,
            s.delta,
            s.interval,
            s.n,
            s.p_holm
        );
    }
    let rest: Vec<&str> = pv
        .with(Verdict::Ok)
        .filter(|s| !shown.iter().any(|x| x.name == s.name))
        .map(|s| s.label.as_str())
        .collect();
    md.push('\n');
    if !rest.is_empty() {
        let _ = writeln!(md, "Also ok: {}.", rest.join(", "));
    }
    let thin: Vec<String> = pv
        .with(Verdict::Insufficient)
        .map(|s| match s.report.judgement.need_more {
            Some(n) => format!("{} (about {n} more per arm)", s.label),
            None => s.label.clone(),
        })
        .collect();
    if !thin.is_empty() {
        let _ = writeln!(md, "Not enough data yet: {}.", thin.join(", "));
    }
    md.push('\n');
}

fn markdown(w: &Weekly) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Weekly stability memo: {}\n", w.workspace);
    let _ = writeln!(
        md,
        "{} → {} · {} requests · {} versions served\n",
        w.period.from,
        w.period.until,
        w.requests,
        w.versions.len()
    );

    let _ = writeln!(md, "## In short\n");
    for v in &w.versions {
        let verdict = w.verdicts.iter().find(|p| p.candidate == v.label);
        let judged = verdict.map_or(String::new(), |p| {
            let fails: Vec<&str> = p.with(Verdict::Fail).map(|s| s.label.as_str()).collect();
            let base = p.baseline.as_deref().unwrap_or("before");
            if fails.is_empty() {
                format!(": **{}** against {base}", p.verdict.word())
            } else {
                format!(
                    ": **{}** against {base} ({})",
                    p.verdict.word(),
                    fails.join(", ")
                )
            }
        });
        let changed = if v.shipped && !v.changed.is_empty() {
            format!(" (changed: {})", v.changed.join(", "))
        } else {
            String::new()
        };
        let _ = writeln!(md, "- **{}** {}{changed}{judged}.", v.label, v.status);
    }
    let open = w.incidents.iter().filter(|i| i.status == "open").count();
    let holds = w
        .gate_runs
        .iter()
        .filter(|r| r.decision == Some(Decision::Hold))
        .count();
    let _ = writeln!(
        md,
        "- {} ({open} open), {} added, {} ({holds} hold).",
        plural(w.incidents.len(), "incident", "incidents"),
        plural(w.cases_added.len(), "case", "cases"),
        plural(w.gate_runs.len(), "gate run", "gate runs")
    );
    let _ = writeln!(
        md,
        "- {}{}.\n",
        plural(w.recommendations.len(), "recommendation", "recommendations"),
        w.recommendations
            .first()
            .map_or(String::new(), |r| format!(", first: {}", r.action))
    );

    let _ = writeln!(md, "## Versions\n");
    md.push_str("| version | fingerprint | first seen | requests | last day | status | changed vs previous |\n");
    md.push_str("| --- | --- | --- | ---: | ---: | --- | --- |\n");
    for v in &w.versions {
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {:.0}% | {} | {} |",
            cell(&v.label),
            v.id,
            short(v.row.first_seen_ns.unwrap_or_default()),
            v.requests,
            v.last_day_share * 100.0,
            cell(&v.status),
            match &v.previous {
                None => "-".to_string(),
                Some(p) if v.changed.is_empty() => format!("nothing (vs {p})"),
                Some(p) => format!("{} (vs {p})", v.changed.join(", ")),
            }
        );
    }
    for r in &w.rollbacks {
        let _ = writeln!(
            md,
            "\nRolled back: {} to {} on {} (plan {}).",
            r.release,
            r.to.as_deref().unwrap_or("-"),
            r.at,
            r.plan
        );
    }
    md.push('\n');

    let _ = writeln!(md, "## Signals per version\n");
    let _ = write!(md, "| signal |");
    for v in &w.signals {
        let _ = write!(md, " {} |", cell(&v.version));
    }
    md.push_str("\n| --- |");
    md.push_str(&" ---: |".repeat(w.signals.len()));
    md.push('\n');
    for m in &MAIN {
        let _ = write!(md, "| {} |", m.label);
        for v in &w.signals {
            let value = v.values.get(m.name).copied().flatten();
            let _ = write!(
                md,
                " {} |",
                value.map_or("-".into(), |x| fmt_main(m.name, x))
            );
        }
        md.push('\n');
    }
    md.push_str("\nEach version over its own traffic this week.\n\n");
    for pv in &w.verdicts {
        verdict_md(&mut md, pv);
    }

    let _ = writeln!(md, "## Charts\n");
    md.push_str(CHARTS_MARK);
    md.push('\n');

    let _ = writeln!(md, "## What is trending\n");
    if w.trends.is_empty() {
        md.push_str(
            "No version served two full days of the week: nothing to compare within a version.\n",
        );
    }
    for t in &w.trends {
        let moved: Vec<&SignalLine> = moving(t).collect();
        if moved.is_empty() {
            let _ = writeln!(
                md,
                "- {}: steady, its last day against the day before ({} vs {} requests).",
                t.candidate, t.requests_candidate, t.requests_baseline
            );
        }
        for s in moved {
            let _ = writeln!(
                md,
                "- {}: **{}** {}, last day against the day before: {}.",
                t.candidate,
                s.label,
                s.verdict.word(),
                s.evidence()
            );
        }
    }
    for pv in &w.verdicts {
        let fails: Vec<&str> = pv.with(Verdict::Fail).map(|s| s.label.as_str()).collect();
        let Some(v) = w.versions.iter().find(|v| v.label == pv.candidate) else {
            continue;
        };
        if !fails.is_empty() && v.serving() {
            let _ = writeln!(
                md,
                "- With {} at {:.0}% of traffic: {} worse than on {}.",
                v.label,
                v.last_day_share * 100.0,
                fails.join(", "),
                pv.baseline.as_deref().unwrap_or("before")
            );
        }
    }
    md.push('\n');

    let _ = writeln!(md, "## Rubric scores\n");
    if w.rubric.is_empty() {
        md.push_str("No rubric scores this week — score a sample in the Review pane.\n");
    } else {
        md.push_str("| version | criterion | mean | n |\n| --- | --- | ---: | ---: |\n");
        for r in &w.rubric {
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} / {} | {} |",
                cell(&r.version),
                cell(&r.criterion),
                r.mean,
                r.scale,
                r.n
            );
        }
    }
    md.push('\n');

    let _ = writeln!(md, "## Incidents\n");
    if w.incidents.is_empty() {
        md.push_str("None this week.\n");
    } else {
        md.push_str("| # | title | severity | status | opened | traces | versions | cases |\n");
        md.push_str("| ---: | --- | --- | --- | --- | ---: | --- | --- |\n");
        for i in &w.incidents {
            let cases: Vec<String> = i
                .cases
                .iter()
                .map(|c| format!("{}{}", c.id, if c.must_pass { " (must-pass)" } else { "" }))
                .collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                i.id,
                cell(&i.title),
                cell(&i.severity),
                i.status,
                i.opened_at,
                i.traces.len(),
                i.versions.join(", "),
                if cases.is_empty() {
                    "none".to_string()
                } else {
                    cases.join(", ")
                }
            );
        }
    }
    md.push('\n');
    let _ = writeln!(md, "## Cases added\n");
    if w.cases_added.is_empty() {
        md.push_str("None this week.\n");
    } else {
        let by_incident = w
            .cases_added
            .iter()
            .filter(|c| c.incident.is_some())
            .count();
        let _ = writeln!(
            md,
            "{}, {by_incident} from incidents, {} must-pass.\n",
            plural(w.cases_added.len(), "case", "cases"),
            w.cases_added.iter().filter(|c| c.must_pass).count()
        );
        let shown = w
            .cases_added
            .iter()
            .filter(|c| c.incident.is_some() || c.must_pass)
            .take(10);
        for c in shown {
            let _ = writeln!(
                md,
                "- `{}` {}{}{}",
                c.id,
                c.title,
                c.incident
                    .map_or(String::new(), |i| format!(" (incident #{i})")),
                if c.must_pass { ", must-pass" } else { "" }
            );
        }
    }
    md.push('\n');

    let _ = writeln!(md, "## Gate runs\n");
    if w.gate_runs.is_empty() {
        md.push_str("None this week.\n");
    } else {
        md.push_str(
            "| run | started | candidate vs baseline | decision | pass / fail / error | why |\n",
        );
        md.push_str("| ---: | --- | --- | --- | --- | --- |\n");
        for r in &w.gate_runs {
            let c = r.candidate_counts;
            let why = match r.reasons.len() {
                0 => "-".to_string(),
                1 => r.reasons[0].clone(),
                n => format!("{} (and {} more)", r.reasons[0], n - 1),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} vs {} | {} | {} / {} / {} | {} |",
                r.id,
                short(r.started_ns),
                r.candidate,
                r.baseline.as_deref().unwrap_or("-"),
                match r.decision {
                    Some(Decision::Ship) => "SHIP",
                    Some(Decision::Hold) => "HOLD",
                    None => "unfinished",
                },
                c.pass,
                c.fail,
                c.error,
                cell(&why)
            );
        }
    }
    md.push('\n');

    let _ = writeln!(md, "## Recommendations\n");
    super::recommendations_md(&mut md, &w.recommendations);
    if let Some(head) = &w.audit_head {
        let _ = writeln!(md, "\n{}", head.cite());
    }
    md
}

/// A main signal's value as the tables print it.
pub fn fmt_main(name: &str, v: f64) -> String {
    match name {
        "latency_p95" => sections::ms(v),
        "cost_per_request" => sections::usd(v),
        _ => sections::pct(v),
    }
}
