//! Domain types shared by the importer, the cache and the views.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What identifies a version of the workflow: everything that can change its behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    pub label: Option<String>,
    pub prompt_hash: Option<String>,
    pub config_hash: Option<String>,
    pub model: Option<String>,
    pub index_version: Option<String>,
    /// Tool name to tool version.
    pub tools: BTreeMap<String, String>,
}

/// The version id of traces that carry no version attributes at all.
pub const UNKNOWN_VERSION: &str = "unknown";

impl Fingerprint {
    /// True when no attribute said anything about the version.
    pub fn is_unknown(&self) -> bool {
        self == &Self::default()
    }

    /// A short stable id: the first 12 hex digits of SHA-256 over the fields. The label is
    /// part of it, so two deployments with different labels stay apart even when their
    /// technical fields agree.
    pub fn id(&self) -> String {
        if self.is_unknown() {
            return UNKNOWN_VERSION.to_string();
        }
        let canonical = serde_json::to_string(self).expect("fingerprint serialises");
        let digest = Sha256::digest(canonical.as_bytes());
        hex::encode(&digest[..6])
    }

    /// The human label, or a stand-in derived from the id.
    pub fn display_label(&self) -> String {
        match &self.label {
            Some(l) => l.clone(),
            None if self.is_unknown() => UNKNOWN_VERSION.to_string(),
            None => format!("unlabelled-{}", &self.id()[..6]),
        }
    }

    /// Fills every field still empty from `other` (first writer wins).
    pub fn fill_from(&mut self, other: &Fingerprint) {
        fn fill(dst: &mut Option<String>, src: &Option<String>) {
            if dst.is_none() {
                dst.clone_from(src);
            }
        }
        fill(&mut self.label, &other.label);
        fill(&mut self.prompt_hash, &other.prompt_hash);
        fill(&mut self.config_hash, &other.config_hash);
        fill(&mut self.index_version, &other.index_version);
        match (&mut self.model, &other.model) {
            (None, m) => self.model.clone_from(m),
            // Several models in one trace (router + answerer) are all part of the version.
            (Some(mine), Some(theirs)) if !mine.split('+').any(|m| m == theirs) => {
                mine.push('+');
                mine.push_str(theirs);
            }
            _ => {}
        }
        for (tool, version) in &other.tools {
            self.tools
                .entry(tool.clone())
                .or_insert_with(|| version.clone());
        }
    }
}

/// What a span did, as far as relops cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    Llm,
    Tool,
    Retriever,
    Embedding,
    Chain,
    Agent,
    Guardrail,
    Span,
}

impl SpanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Llm => "llm",
            Self::Tool => "tool",
            Self::Retriever => "retriever",
            Self::Embedding => "embedding",
            Self::Chain => "chain",
            Self::Agent => "agent",
            Self::Guardrail => "guardrail",
            Self::Span => "span",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "llm" => Self::Llm,
            "tool" => Self::Tool,
            "retriever" => Self::Retriever,
            "embedding" => Self::Embedding,
            "chain" => Self::Chain,
            "agent" => Self::Agent,
            "guardrail" => Self::Guardrail,
            _ => Self::Span,
        }
    }
}

/// The queryable facts extracted from one span; stored as columns so that a trace's
/// rollup can be recomputed from the cache when more of its spans arrive later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanFacts {
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: SpanKind,
    pub start_ns: i64,
    pub end_ns: i64,
    pub error: bool,
    pub status_message: Option<String>,
    pub model: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_usd: f64,
    pub input: Option<String>,
    pub output: Option<String>,
    pub refusal: bool,
    pub safety_events: i64,
    pub tool_name: Option<String>,
    pub tool_args: Option<String>,
    /// Retrieved documents (None when the span is not a retrieval).
    pub retrieval_docs: Option<i64>,
    pub retrieval_top_score: Option<f64>,
    /// Version fields this span carried (resource and span attributes).
    pub version: Fingerprint,
}

impl SpanFacts {
    pub fn duration_ms(&self) -> f64 {
        (self.end_ns - self.start_ns).max(0) as f64 / 1e6
    }

    pub fn is_tool_error(&self) -> bool {
        self.kind == SpanKind::Tool && self.error
    }
}

/// Span attributes in which the importer records why a span counts as a refusal.
pub mod refusal_keys {
    pub const ATTRIBUTE: &str = "relops.refusal.attribute";
    pub const RULE: &str = "relops.refusal.rule";
    pub const PATTERN: &str = "relops.refusal.pattern";
}

/// Why a trace counts as a refusal: the span, the attribute that held its answer and
/// the rule (`phrase`, `pattern`, `finish_reason`) with the pattern that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusalReason {
    pub span_id: String,
    pub span: String,
    pub attribute: String,
    pub rule: String,
    pub pattern: String,
}

impl RefusalReason {
    /// The reason the importer wrote among a span's attributes, if any.
    pub fn from_attributes(span_id: &str, span: &str, attrs: &serde_json::Value) -> Option<Self> {
        let get = |k: &str| attrs.get(k).and_then(|v| v.as_str()).map(str::to_string);
        Some(Self {
            span_id: span_id.to_string(),
            span: span.to_string(),
            attribute: get(refusal_keys::ATTRIBUTE)?,
            rule: get(refusal_keys::RULE)?,
            pattern: get(refusal_keys::PATTERN)?,
        })
    }
}

/// Per-trace summary computed from its spans: what lists, filters and signals read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceRollup {
    pub version: Fingerprint,
    pub name: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub error: bool,
    pub refusal: bool,
    pub safety_events: i64,
    pub tool_calls: i64,
    pub tool_errors: i64,
    pub retrievals: i64,
    pub retrieval_empty: i64,
    pub retrieval_top_score: Option<f64>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_usd: f64,
    pub input: Option<String>,
    pub output: Option<String>,
    pub span_count: i64,
}

impl TraceRollup {
    /// Summarises a trace's spans (any order). The root (a span without a parent in the
    /// set) names the trace and gives its input and output; without one, the first and
    /// last LLM calls do.
    pub fn from_spans<'a>(spans: impl IntoIterator<Item = &'a SpanFacts>) -> Option<Self> {
        let mut ordered: Vec<&SpanFacts> = spans.into_iter().collect();
        ordered.sort_by_key(|s| (s.start_ns, s.end_ns));
        let first = *ordered.first()?;
        let root = find_root(&ordered);
        let llm: Vec<&&SpanFacts> = ordered.iter().filter(|s| s.kind == SpanKind::Llm).collect();
        let costed: Vec<&&SpanFacts> = if llm.is_empty() {
            ordered.iter().collect()
        } else {
            llm.clone()
        };

        let mut version = root.map(|r| r.version.clone()).unwrap_or_default();
        for s in &ordered {
            version.fill_from(&s.version);
        }
        let retrievals: Vec<&&SpanFacts> = ordered
            .iter()
            .filter(|s| s.retrieval_docs.is_some())
            .collect();
        let input = root
            .and_then(|r| r.input.clone())
            .or_else(|| llm.first().and_then(|s| s.input.clone()));
        let output = root
            .and_then(|r| r.output.clone())
            .or_else(|| llm.last().and_then(|s| s.output.clone()));

        Some(Self {
            version,
            name: root.unwrap_or(first).name.clone(),
            start_ns: first.start_ns,
            end_ns: ordered
                .iter()
                .map(|s| s.end_ns)
                .max()
                .unwrap_or(first.end_ns),
            error: root.map_or_else(|| ordered.iter().any(|s| s.error), |r| r.error),
            refusal: ordered.iter().any(|s| s.refusal),
            safety_events: ordered.iter().map(|s| s.safety_events).sum(),
            tool_calls: count(&ordered, |s| s.kind == SpanKind::Tool),
            tool_errors: count(&ordered, SpanFacts::is_tool_error),
            retrievals: retrievals.len() as i64,
            retrieval_empty: count(&ordered, |s| s.retrieval_docs == Some(0)),
            retrieval_top_score: retrievals
                .iter()
                .filter_map(|s| s.retrieval_top_score)
                .reduce(f64::max),
            tokens_in: costed.iter().map(|s| s.tokens_in).sum(),
            tokens_out: costed.iter().map(|s| s.tokens_out).sum(),
            cost_usd: costed.iter().map(|s| s.cost_usd).sum(),
            input,
            output,
            span_count: ordered.len() as i64,
        })
    }

    pub fn duration_ms(&self) -> f64 {
        (self.end_ns - self.start_ns).max(0) as f64 / 1e6
    }
}

fn count(spans: &[&SpanFacts], pred: impl Fn(&SpanFacts) -> bool) -> i64 {
    spans.iter().filter(|s| pred(s)).count() as i64
}

fn find_root<'a>(ordered: &[&'a SpanFacts]) -> Option<&'a SpanFacts> {
    let ids: std::collections::HashSet<&str> = ordered.iter().map(|s| s.span_id.as_str()).collect();
    ordered
        .iter()
        .find(|s| s.parent_span_id.as_deref().is_none_or(|p| !ids.contains(p)))
        .copied()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn span(id: &str, parent: Option<&str>, kind: SpanKind, start: i64, end: i64) -> SpanFacts {
        SpanFacts {
            span_id: id.into(),
            parent_span_id: parent.map(Into::into),
            name: id.into(),
            kind,
            start_ns: start,
            end_ns: end,
            error: false,
            status_message: None,
            model: None,
            tokens_in: 0,
            tokens_out: 0,
            cost_usd: 0.0,
            input: None,
            output: None,
            refusal: false,
            safety_events: 0,
            tool_name: None,
            tool_args: None,
            retrieval_docs: None,
            retrieval_top_score: None,
            version: Fingerprint::default(),
        }
    }

    #[test]
    fn unknown_fingerprint_has_unknown_id() {
        let f = Fingerprint::default();
        assert!(f.is_unknown());
        assert_eq!(f.id(), UNKNOWN_VERSION);
        assert_eq!(f.display_label(), "unknown");
    }

    #[test]
    fn fingerprint_id_is_stable_and_field_sensitive() {
        let a = Fingerprint {
            label: Some("v1".into()),
            model: Some("gpt-4o".into()),
            ..Default::default()
        };
        let mut b = a.clone();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id().len(), 12);
        b.tools.insert("refund".into(), "2.0".into());
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn fill_from_keeps_first_and_joins_models() {
        let mut a = Fingerprint {
            prompt_hash: Some("p1".into()),
            model: Some("small".into()),
            ..Default::default()
        };
        let b = Fingerprint {
            prompt_hash: Some("p2".into()),
            model: Some("large".into()),
            index_version: Some("idx-7".into()),
            ..Default::default()
        };
        a.fill_from(&b);
        a.fill_from(&b);
        assert_eq!(a.prompt_hash.as_deref(), Some("p1"));
        assert_eq!(a.model.as_deref(), Some("small+large"));
        assert_eq!(a.index_version.as_deref(), Some("idx-7"));
    }

    #[test]
    fn rollup_takes_root_io_and_counts_tools() {
        let mut root = span("r", None, SpanKind::Chain, 0, 2_000_000_000);
        root.input = Some("where is my order".into());
        root.output = Some("on its way".into());
        root.version.label = Some("v2".into());
        let mut llm = span("l", Some("r"), SpanKind::Llm, 10, 900_000_000);
        llm.tokens_in = 100;
        llm.tokens_out = 20;
        llm.cost_usd = 0.01;
        llm.version.model = Some("gpt-4o".into());
        let mut tool = span("t", Some("r"), SpanKind::Tool, 1_000_000_000, 1_500_000_000);
        tool.error = true;
        let mut ret = span("x", Some("r"), SpanKind::Retriever, 5, 8);
        ret.retrieval_docs = Some(0);

        let r = TraceRollup::from_spans(&[tool, llm, ret, root]).unwrap();
        assert_eq!(r.name, "r");
        assert_eq!(r.input.as_deref(), Some("where is my order"));
        assert_eq!(r.tool_calls, 1);
        assert_eq!(r.tool_errors, 1);
        assert!(!r.error, "root status decides the trace status");
        assert_eq!(r.retrieval_empty, 1);
        assert_eq!(r.tokens_in, 100);
        assert_eq!(r.version.label.as_deref(), Some("v2"));
        assert_eq!(r.version.model.as_deref(), Some("gpt-4o"));
        assert_eq!(r.duration_ms(), 2000.0);
    }

    #[test]
    fn rollup_without_root_uses_llm_io() {
        let mut a = span("a", Some("missing"), SpanKind::Llm, 0, 10);
        a.input = Some("q".into());
        a.error = true;
        let r = TraceRollup::from_spans(&[a]).unwrap();
        assert_eq!(r.input.as_deref(), Some("q"));
        assert!(r.error);
        assert!(TraceRollup::from_spans(&[]).is_none());
    }
}
