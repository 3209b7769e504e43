//! The gate's reports. Markdown for humans: the verdict and why first, then the summary
//! and deltas, regressions, fixes, flaky cases, risks, the two versions' fingerprints
//! side by side, and every case. JUnit XML for CI: one test case per regression case.

use std::fmt::Write;

use super::verdict::{CaseRun, Decision, Delta, Outcome, Verdict};

/// Which versions were compared, with their fingerprints when known.
#[derive(Debug, Clone, Default)]
pub struct Versions {
    pub candidate: String,
    pub candidate_fingerprint: Option<String>,
    pub baseline: Option<String>,
    pub baseline_fingerprint: Option<String>,
    /// What each fingerprint is made of (prompt hash, model, tool versions...), in
    /// display order.
    pub fields: Vec<FingerprintField>,
    /// The audit chain's head when the report was written: a postmortem proves the
    /// ledger still holds what the gate saw (`relops audit verify --checkpoint HASH`).
    pub audit_head: Option<crate::audit::Head>,
}

/// One fingerprint field on both versions.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerprintField {
    pub name: String,
    pub candidate: Option<String>,
    pub baseline: Option<String>,
}

impl FingerprintField {
    pub fn changed(&self) -> bool {
        self.candidate != self.baseline
    }
}

fn decision_word(d: Decision) -> &'static str {
    match d {
        Decision::Ship => "SHIP",
        Decision::Hold => "HOLD",
    }
}

/// The headline's verdict: a hold that says nothing of the candidate says so.
fn headline(v: &Verdict) -> String {
    if v.could_not_run {
        format!("{} (the cases could not run)", decision_word(v.decision))
    } else {
        decision_word(v.decision).to_string()
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(v: &Verdict, runs: &[CaseRun], versions: &Versions) -> String {
    let mut md = String::new();
    let decision = headline(v);
    let fp = |f: &Option<String>| f.as_deref().map_or(String::new(), |f| format!(" ({f})"));
    let _ = writeln!(
        md,
        "# Gate: {decision}: candidate {}{} vs baseline {}\n",
        versions.candidate,
        fp(&versions.candidate_fingerprint),
        versions
            .baseline
            .as_deref()
            .map_or("none".to_string(), |b| format!(
                "{b}{}",
                fp(&versions.baseline_fingerprint)
            )),
    );
    if v.reasons.is_empty() {
        let _ = writeln!(md, "Every rule passed.\n");
    } else {
        let _ = writeln!(md, "## Why\n");
        if v.could_not_run {
            let _ = writeln!(
                md,
                "Nothing here says the candidate is bad: no answer came back for some \
                 cases, so the gate cannot judge it (exit 2). Bring the target back and \
                 run the gate again.\n"
            );
        }
        for r in &v.reasons {
            let _ = writeln!(md, "- {r}");
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(
        md,
        "- {} cases ({} must-pass)\n- candidate: {} pass, {} fail, {} error ({:.1}%)",
        v.cases,
        v.must_pass,
        v.candidate.pass,
        v.candidate.fail,
        v.candidate.error,
        v.candidate.pass_rate * 100.0
    );
    if let Some(b) = &v.baseline {
        let _ = writeln!(
            md,
            "- baseline: {} pass, {} fail, {} error ({:.1}%)",
            b.pass,
            b.fail,
            b.error,
            b.pass_rate * 100.0
        );
    }
    md.push('\n');
    let _ = writeln!(md, "## Deltas (baseline → candidate)\n");
    if let Some(b) = &v.baseline {
        let _ = writeln!(
            md,
            "- pass rate: {:.1}% → {:.1}% ({:+.1} points)",
            b.pass_rate * 100.0,
            v.candidate.pass_rate * 100.0,
            (v.candidate.pass_rate - b.pass_rate) * 100.0
        );
    }
    let _ = writeln!(md, "- median latency: {}", delta(&v.latency_ms, "ms", 0));
    let _ = writeln!(md, "- mean cost: {}\n", delta(&v.cost_usd, "USD", 6));
    let attempts = runs
        .iter()
        .map(|r| r.candidate.len().max(r.baseline.len()))
        .max()
        .unwrap_or(0);
    let no_flakes = if attempts > 1 {
        format!("None in {attempts} attempts per case and version.")
    } else {
        "None seen: one attempt per case and version (`--repeat K` looks for them).".into()
    };
    let sections: [(&str, &Vec<String>, String); 3] = [
        (
            "Regressions (pass on baseline, not on candidate)",
            &v.regressions,
            if v.baseline.is_some() {
                "None.".into()
            } else {
                "None measured: no baseline.".into()
            },
        ),
        (
            "Fixes (fail on baseline, pass on candidate)",
            &v.fixes,
            "None.".into(),
        ),
        ("Flaky across repeats", &v.flaky, no_flakes),
    ];
    for (title, ids, none) in sections {
        let _ = writeln!(md, "## {title}\n");
        if ids.is_empty() {
            let _ = writeln!(md, "{none}");
        }
        for id in ids {
            let run = runs.iter().find(|r| &r.id == id);
            let _ = writeln!(
                md,
                "- {id} {}{}",
                run.map_or(String::new(), |r| format!("\"{}\"", r.title)),
                if run.is_some_and(|r| r.must_pass) {
                    " (must-pass)"
                } else {
                    ""
                }
            );
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Risks\n");
    if v.risks.is_empty() {
        let _ = writeln!(md, "None: every case ran on every version.");
    }
    for r in &v.risks {
        let _ = writeln!(md, "- {r}");
    }
    md.push('\n');
    if !versions.fields.is_empty() {
        let _ = writeln!(md, "## Fingerprints\n");
        let changed: Vec<&str> = versions
            .fields
            .iter()
            .filter(|f| f.changed())
            .map(|f| f.name.as_str())
            .collect();
        if versions.baseline.is_some() {
            let _ = writeln!(
                md,
                "{}\n",
                if changed.is_empty() {
                    "Nothing changed between the two fingerprints.".to_string()
                } else {
                    format!("Changed: {}.", changed.join(", "))
                }
            );
        }
        let _ = writeln!(
            md,
            "| field | baseline {} | candidate {} |",
            versions.baseline.as_deref().unwrap_or("(none)"),
            versions.candidate
        );
        let _ = writeln!(md, "|---|---|---|");
        let opt = |x: &Option<String>| x.as_deref().map_or("-".to_string(), md_cell);
        for f in &versions.fields {
            let mark = if versions.baseline.is_some() && f.changed() {
                " **changed**"
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "| {} | {} | {}{mark} |",
                f.name,
                opt(&f.baseline),
                opt(&f.candidate)
            );
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Cases\n");
    let _ = writeln!(md, "| case | must-pass | candidate | baseline |");
    let _ = writeln!(md, "|---|---|---|---|");
    for r in runs {
        let _ = writeln!(
            md,
            "| {} {} | {} | {} | {} |",
            r.id,
            md_cell(&r.title),
            if r.must_pass { "yes" } else { "" },
            cell(&r.candidate),
            cell(&r.baseline)
        );
    }
    if let Some(head) = &versions.audit_head {
        let _ = writeln!(md, "\n{}", head.cite());
    }
    // Case titles, labels and answers are data: no raw HTML reaches the renderer.
    crate::text::markdown(&md)
}

fn cell(attempts: &[super::verdict::Attempt]) -> String {
    if attempts.is_empty() {
        return "-".into();
    }
    attempts
        .iter()
        .map(|a| match &a.outcome {
            Outcome::Pass => "pass".to_string(),
            Outcome::Fail { reasons } => format!(
                "FAIL: {}",
                reasons
                    .first()
                    .map_or("", String::as_str)
                    .replace('|', "\\|")
            ),
            Outcome::Error { error, .. } => format!("ERROR: {}", error.replace('|', "\\|")),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn delta(d: &Delta, unit: &str, places: usize) -> String {
    let n = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.places$}"));
    match d.ratio {
        Some(r) => format!("{} → {} {unit} (×{r:.2})", n(d.baseline), n(d.candidate)),
        None => format!("{} → {} {unit}", n(d.baseline), n(d.candidate)),
    }
}

/// JUnit XML: one test suite per gate, one test case per regression case (its candidate
/// attempts); a failing case is a `<failure>`, one that could not run an `<error>`.
pub fn junit(v: &Verdict, runs: &[CaseRun], versions: &Versions) -> String {
    let failures = v.candidate.fail;
    let errors = v.candidate.error;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"relops gate\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
        runs.len()
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
        xml(&format!(
            "gate {} vs {}: {}",
            versions.candidate,
            versions.baseline.as_deref().unwrap_or("none"),
            match (v.decision, v.could_not_run) {
                (Decision::Ship, _) => "ship",
                (Decision::Hold, false) => "hold",
                (Decision::Hold, true) => "hold (the cases could not run)",
            }
        )),
        runs.len()
    );
    // The verdict and both fingerprints, for a CI page that shows suite properties.
    let mut props = vec![
        ("decision", decision_word(v.decision).to_lowercase()),
        (
            "candidate",
            format!(
                "{} {}",
                versions.candidate,
                versions.candidate_fingerprint.as_deref().unwrap_or("")
            )
            .trim_end()
            .to_string(),
        ),
    ];
    if let Some(b) = &versions.baseline {
        props.push((
            "baseline",
            format!(
                "{b} {}",
                versions.baseline_fingerprint.as_deref().unwrap_or("")
            )
            .trim_end()
            .to_string(),
        ));
    }
    if v.could_not_run {
        props.push(("could_not_run", "true".into()));
    }
    props.extend(v.reasons.iter().map(|r| ("reason", r.clone())));
    x.push_str("    <properties>\n");
    for (name, value) in props {
        let _ = writeln!(
            x,
            "      <property name=\"{name}\" value=\"{}\"/>",
            xml(&value)
        );
    }
    x.push_str("    </properties>\n");
    for r in runs {
        let secs: f64 = r.candidate.iter().filter_map(|a| a.latency_ms).sum::<f64>() / 1000.0;
        let _ = write!(
            x,
            "    <testcase classname=\"relops.cases{}\" name=\"{} {}\" time=\"{secs:.3}\"",
            if r.must_pass { ".must_pass" } else { "" },
            xml(&r.id),
            xml(&r.title)
        );
        let error = r.candidate.iter().find_map(|a| match &a.outcome {
            Outcome::Error { error, .. } => Some(error.clone()),
            _ => None,
        });
        let failed: Vec<String> = r
            .candidate
            .iter()
            .filter_map(|a| match &a.outcome {
                Outcome::Fail { reasons } => Some(reasons.join("; ")),
                _ => None,
            })
            .collect();
        if let Some(e) = error {
            let _ = writeln!(
                x,
                ">\n      <error message=\"{}\"/>\n    </testcase>",
                xml(&e)
            );
        } else if let Some(f) = failed.first() {
            let _ = writeln!(
                x,
                ">\n      <failure message=\"{}\"/>\n    </testcase>",
                xml(f)
            );
        } else {
            x.push_str("/>\n");
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            '\n' => "&#10;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::verdict::{Attempt, decide};

    fn attempt(outcome: Outcome, latency: f64) -> Attempt {
        Attempt {
            outcome,
            latency_ms: Some(latency),
            cost_usd: Some(0.0002),
            replay_id: None,
        }
    }

    fn fail(why: &str) -> Outcome {
        Outcome::Fail {
            reasons: vec![why.into()],
        }
    }

    /// Every section with something in it: a must-pass case that could not run, a
    /// regression, a fix, a flaky case, risks, and a changed fingerprint field. The
    /// golden files are tests/golden/gate_synthetic.{md,xml}
    /// (`RELOPS_UPDATE_GOLDEN=1` rewrites them).
    #[test]
    fn every_section_matches_its_golden_file() {
        let down = Outcome::Error {
            error: "HTTP 503: upstream down (after 3 attempts)".into(),
            cause: crate::gate::Cause::Unreached,
        };
        let runs = vec![
            CaseRun {
                id: "aaaa0001".into(),
                title: "Refund | for order A1 is handled".into(),
                must_pass: true,
                candidate: vec![attempt(down.clone(), 0.0), attempt(down, 0.0)],
                baseline: vec![attempt(Outcome::Pass, 900.0), attempt(Outcome::Pass, 950.0)],
            },
            CaseRun {
                id: "bbbb0002".into(),
                title: "Order lookup within budget".into(),
                must_pass: false,
                candidate: vec![
                    attempt(Outcome::Pass, 800.0),
                    attempt(
                        fail("max_latency_ms 1000: latency 1200 ms > 1000 ms"),
                        1200.0,
                    ),
                ],
                baseline: vec![attempt(Outcome::Pass, 700.0), attempt(Outcome::Pass, 720.0)],
            },
            CaseRun {
                id: "cccc0003".into(),
                title: "Warranty <question> answered".into(),
                must_pass: false,
                candidate: vec![attempt(Outcome::Pass, 600.0), attempt(Outcome::Pass, 610.0)],
                baseline: vec![
                    attempt(
                        fail("icontains \"warranty\": output lacks \"warranty\""),
                        640.0,
                    ),
                    attempt(
                        fail("icontains \"warranty\": output lacks \"warranty\""),
                        650.0,
                    ),
                ],
            },
        ];
        let v = decide(&runs, true, &crate::config::Gate::default());
        let field = |name: &str, c: &str, b: &str| FingerprintField {
            name: name.into(),
            candidate: Some(c.into()),
            baseline: Some(b.into()),
        };
        let versions = Versions {
            candidate: "v3".into(),
            candidate_fingerprint: Some("88ae32d21178".into()),
            baseline: Some("v2".into()),
            baseline_fingerprint: Some("cee871fa1177".into()),
            fields: vec![
                field("prompt_hash", "p-c41e07d2", "p-7f3a9c1e"),
                field("model", "gpt-4.1-mini", "gpt-4.1-mini"),
            ],
            audit_head: None,
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        for (name, text) in [
            ("gate_synthetic.md", markdown(&v, &runs, &versions)),
            ("gate_synthetic.xml", junit(&v, &runs, &versions)),
        ] {
            let path = dir.join(name);
            if std::env::var_os("RELOPS_UPDATE_GOLDEN").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                text,
                want,
                "{} (RELOPS_UPDATE_GOLDEN=1 rewrites it)",
                path.display()
            );
        }
    }
}
