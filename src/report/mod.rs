//! The operating cadence reports (issue 8): the weekly stability memo ([`weekly`]) and
//! the monthly drift report with its threshold ratchet plan ([`monthly`], backtests in
//! [`ratchet`]). Both read the cache only; they render Markdown for people, small SVG
//! charts of the main signals per version ([`chart`]) written next to the Markdown, and
//! JSON for CI. Every recommendation carries the evidence it rests on.

pub mod chart;
pub mod monthly;
pub mod ratchet;
pub mod sections;
pub mod weekly;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::config::Config;

pub const DAY_NS: i64 = 86_400 * 1_000_000_000;
pub const HOUR_NS: i64 = 3_600 * 1_000_000_000;

/// The period a report covers: `days` ending at `until` (inclusive: something stamped
/// exactly at `until` is in it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    pub from: String,
    pub until: String,
    pub days: i64,
    #[serde(skip)]
    pub from_ns: i64,
    /// Exclusive end: `until` + 1 ns.
    #[serde(skip)]
    pub to_ns: i64,
}

impl Span {
    pub fn ending(until_ns: i64, days: i64) -> Self {
        let to_ns = until_ns + 1;
        let from_ns = to_ns - days * DAY_NS;
        Self {
            from: minute(from_ns),
            until: minute(until_ns),
            days,
            from_ns,
            to_ns,
        }
    }

    pub fn contains(&self, ns: i64) -> bool {
        (self.from_ns..self.to_ns).contains(&ns)
    }
}

/// `2026-11-20 12:00 UTC` from Unix nanoseconds.
pub fn minute(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}

/// `11-20 12:00`: short enough for a table cell or an axis.
pub fn short(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns)
        .format("%m-%d %H:%M")
        .to_string()
}

/// `--until`: RFC 3339, or a date (`2026-11-20`: the end of that day, UTC).
pub fn parse_until(s: &str) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t
            .timestamp_nanos_opt()
            .ok_or_else(|| format!("{s}: out of range"));
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        format!("invalid --until {s:?}: expected RFC 3339 (2026-11-20T12:00:00Z) or a date")
    })?;
    let next = date
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| format!("{s}: out of range"))?;
    Ok(DateTime::<Utc>::from_naive_utc_and_offset(next, Utc)
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX)
        - 1)
}

/// What a report reads.
pub struct Ctx<'a> {
    pub conn: &'a Connection,
    pub config: &'a Config,
    /// The workspace's display name.
    pub name: String,
    pub suite_dir: PathBuf,
    pub span: Span,
}

/// A recommendation with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// `rollout`, `gate`, `prompt`, `tools`, `retrieval`, `test set`, `threshold`.
    pub area: &'static str,
    pub action: String,
    pub evidence: String,
    /// Trace, case, incident and gate run ids, and commands to look closer.
    pub refs: Vec<String>,
}

/// A chart to write beside the Markdown.
#[derive(Debug, Clone)]
pub struct ChartFile {
    /// `refusal_rate`: the file is `<stem>-refusal_rate.svg`.
    pub signal: &'static str,
    pub alt: String,
    pub svg: String,
}

/// A rendered report: Markdown with chart placeholders, and the charts.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub markdown: String,
    pub charts: Vec<ChartFile>,
}

const CHARTS_MARK: &str = "<!-- charts -->\n";

impl Rendered {
    /// The Markdown with the charts embedded as files `<stem>-<signal>.svg`, or (no
    /// stem: printed to stdout) a comment saying none were written.
    pub fn markdown_with(&self, stem: Option<&str>) -> String {
        let block = match stem {
            Some(stem) => self
                .charts
                .iter()
                .map(|c| format!("![{}]({stem}-{}.svg)\n", c.alt, c.signal))
                .collect::<Vec<_>>()
                .join("\n"),
            None => "<!-- charts are written only with --out FILE.md (SVG files next to it) -->\n"
                .to_string(),
        };
        // Labels and trace text are data: no raw HTML of theirs reaches the renderer.
        let safe = crate::text::markdown(&self.markdown);
        safe.replacen(&crate::text::markdown(CHARTS_MARK), &block, 1)
    }

    /// Writes the Markdown to `out` and each chart next to it; the paths written.
    pub fn write(&self, out: &Path) -> std::io::Result<Vec<PathBuf>> {
        let stem = out
            .file_stem()
            .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
        let dir = out.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(d) = dir {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(
            out,
            crate::secret::scrub_owned(self.markdown_with(Some(&stem))),
        )?;
        let mut written = vec![out.to_path_buf()];
        for c in &self.charts {
            let name = format!("{stem}-{}.svg", c.signal);
            let path = dir.map_or_else(|| PathBuf::from(&name), |d| d.join(&name));
            std::fs::write(&path, &c.svg)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// `1 fire`, `3 fires`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Escapes a Markdown table cell.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Recommendations as a numbered Markdown list, evidence under each.
pub fn recommendations_md(md: &mut String, recs: &[Recommendation]) {
    use std::fmt::Write;
    if recs.is_empty() {
        md.push_str("None: nothing in the data calls for a change.\n");
    }
    for (i, r) in recs.iter().enumerate() {
        let _ = writeln!(md, "{}. **{}** ({})", i + 1, r.action, r.area);
        let _ = writeln!(md, "   - evidence: {}", r.evidence);
        if !r.refs.is_empty() {
            let refs: Vec<String> = r.refs.iter().map(|x| crate::text::code_span(x)).collect();
            let _ = writeln!(md, "   - see: {}", refs.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_reads_rfc3339_and_dates() {
        let t = parse_until("2026-11-20T12:00:00Z").unwrap();
        assert_eq!(minute(t), "2026-11-20 12:00 UTC");
        let d = parse_until("2026-11-20").unwrap();
        assert_eq!(crate::clock::rfc3339(d + 1), "2026-11-21T00:00:00.000Z");
        assert!(parse_until("next tuesday").is_err());
        let s = Span::ending(t, 7);
        assert_eq!(s.from, "2026-11-13 12:00 UTC");
        assert!(s.contains(t) && !s.contains(t + 1) && s.contains(s.from_ns));
    }

    #[test]
    fn charts_are_embedded_by_stem_or_announced_as_missing() {
        let r = Rendered {
            markdown: format!("# x\n\n{CHARTS_MARK}\nend\n"),
            charts: vec![ChartFile {
                signal: "refusal_rate",
                alt: "refusal rate per version".into(),
                svg: "<svg/>".into(),
            }],
        };
        assert!(
            r.markdown_with(Some("weekly"))
                .contains("![refusal rate per version](weekly-refusal_rate.svg)")
        );
        assert!(
            r.markdown_with(None)
                .contains("<!-- charts are written only")
        );
        let dir = tempfile::tempdir().unwrap();
        let paths = r.write(&dir.path().join("w/weekly.md")).unwrap();
        assert_eq!(paths.len(), 2);
        assert!(dir.path().join("w/weekly-refusal_rate.svg").exists());
    }
}
