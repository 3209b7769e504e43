//! `relops.toml`: the workspace configuration.
//!
//! Every section is optional so a minimal file works; unknown keys are rejected so typos
//! surface. Errors name the file, line, column and the dotted key (see [`ConfigError`]).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::period::Period;

pub mod guard;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub workspace: Workspace,
    /// How span and resource attributes become a version fingerprint.
    pub versions: VersionMapping,
    /// How refusals, safety events and tool errors are recognised.
    pub detect: Detection,
    /// The Overview pane's window and resolution.
    pub overview: Overview,
    /// How drift verdicts are reached.
    pub drift: Drift,
    /// Written by `relops demo`: the embedded workflow server.
    pub demo: Option<Demo>,
    /// Where `relops replay` sends a trace's input (see [`crate::replay`]).
    pub replay: Replay,
    /// The regression suite: case files (see [`crate::cases`]).
    pub suite: Suite,
    /// The release gate's budgets (see [`crate::gate`]).
    pub gate: Gate,
    /// Where traces and signals are pulled from (`[[source]]`, see [`crate::sources`]).
    #[serde(rename = "source")]
    pub sources: Vec<crate::sources::SourceConfig>,
    /// How fresh a rehearsal must be (see [`crate::runbook`]).
    pub runbook: crate::runbook::Settings,
    /// Rollback and promotion procedures (`[[procedure]]`).
    #[serde(rename = "procedure")]
    pub procedures: Vec<crate::runbook::Procedure>,
    /// Rollout plans (`[[rollout]]`, see [`crate::rollout`]).
    #[serde(rename = "rollout")]
    pub rollouts: Vec<crate::rollout::Plan>,
    /// Quality sampling: the review rounds and the rubric (see [`crate::review`]).
    pub rubric: crate::review::Rubric,
    /// `relops collect`: the OTLP/HTTP receiver in the foreground.
    pub collect: Collect,
    /// `relops guard`: the always-on service's cycle and drift watch.
    pub guard: guard::Guard,
    /// Where the guard sends what fired (`[[notify]]`).
    #[serde(rename = "notify")]
    pub notify: Vec<guard::Notify>,
    /// The operator's name and signing keys (see [`crate::audit::identity`]).
    pub identity: crate::audit::identity::Settings,
    /// The audit key's variable (see [`crate::audit::seal`]).
    pub audit: crate::audit::seal::Settings,
}

/// The foreground receiver's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Collect {
    /// The environment variable holding the bearer token senders must present;
    /// required when listening beyond loopback.
    pub token_env: Option<String>,
}

/// What the release gate tolerates before it holds a candidate.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gate {
    /// The largest allowed drop of the pass rate, absolute (0.05 = five points).
    pub pass_rate_margin: f64,
    /// The largest allowed candidate / baseline ratio of the median latency.
    pub latency_ratio: f64,
    /// The largest allowed candidate / baseline ratio of the mean cost.
    pub cost_ratio: f64,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            pass_rate_margin: 0.05,
            latency_ratio: 1.2,
            cost_ratio: 1.2,
        }
    }
}

/// The regression suite: one JSON file per case, reviewed like code.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Suite {
    /// The directory holding the case files, relative to the config's directory.
    pub dir: PathBuf,
}

impl Default for Suite {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("evals/cases"),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workspace {
    /// Shown in the title bar; defaults to the config directory's name.
    pub name: Option<String>,
    /// SQLite cache file, relative to the config's directory. When absent the cache lives
    /// in the platform data directory, one database per workspace.
    pub cache: Option<PathBuf>,
}

/// Attribute keys consulted, in order, for each fingerprint field. The first key present
/// on the trace wins; resource attributes and span attributes are both searched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VersionMapping {
    pub label: Vec<String>,
    pub prompt_hash: Vec<String>,
    pub config_hash: Vec<String>,
    pub model: Vec<String>,
    pub index_version: Vec<String>,
    /// Tool versions come from keys `<prefix><tool name><suffix>`.
    pub tool_prefix: String,
    pub tool_suffix: String,
}

impl Default for VersionMapping {
    fn default() -> Self {
        let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect();
        Self {
            // `metadata.version` last: the OpenInference metadata of a span, the one place
            // a version survives Phoenix (its span API returns no resource attributes).
            label: keys(&["relops.version", "service.version", "metadata.version"]),
            prompt_hash: keys(&[
                "relops.prompt.hash",
                "llm.prompt_template.version",
                "metadata.prompt_hash",
            ]),
            config_hash: keys(&["relops.config.hash", "metadata.config_hash"]),
            model: keys(&[
                "gen_ai.request.model",
                "llm.model_name",
                "gen_ai.response.model",
            ]),
            index_version: keys(&["relops.index.version", "metadata.index_version"]),
            tool_prefix: "relops.tool.".into(),
            tool_suffix: ".version".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detection {
    /// Case-insensitive phrases that mark an answer as a refusal.
    pub refusal_phrases: Vec<String>,
    /// Case-insensitive regular expressions that mark an answer as a refusal.
    pub refusal_patterns: Vec<RefusalPattern>,
    /// Finish reasons that mark a refusal (OpenAI and GenAI conventions).
    pub refusal_finish_reasons: Vec<String>,
    /// The attributes holding an answer, read on LLM spans and on the root span: each
    /// key, and the indexed keys under it (`llm.output_messages.0.message.content`);
    /// JSON text is read as JSON (`gen_ai.output.messages`).
    pub refusal_attributes: Vec<String>,
    /// Attributes whose truthy value marks a safety event on a span.
    pub safety_attributes: Vec<String>,
}

impl Default for Detection {
    fn default() -> Self {
        let strs = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect();
        Self {
            refusal_phrases: strs(&[
                "I can't help with",
                "I cannot help with",
                "I'm sorry, but I can't",
                "I'm sorry, but I cannot",
                "I am unable to assist",
                "I'm not able to help",
            ]),
            refusal_patterns: Vec::new(),
            refusal_finish_reasons: strs(&["content_filter"]),
            refusal_attributes: strs(&[
                "output.value",
                "llm.output_messages",
                "gen_ai.output.messages",
                "gen_ai.completion",
            ]),
            safety_attributes: strs(&[
                "relops.safety.flagged",
                "guardrail.triggered",
                "gen_ai.safety.flagged",
            ]),
        }
    }
}

/// A case-insensitive regular expression, compiled (and so checked) when the config is
/// read: a bad one is reported with its file, line and key.
#[derive(Debug, Clone)]
pub struct RefusalPattern(pub regex::Regex);

impl<'de> Deserialize<'de> for RefusalPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        regex::RegexBuilder::new(&text)
            .case_insensitive(true)
            .build()
            .map(Self)
            .map_err(|e| serde::de::Error::custom(format!("not a regular expression: {e}")))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Overview {
    /// How far back the Overview looks, from the newest trace ("24h", "7d", "90m").
    pub window: Period,
    /// Sparkline resolution: buckets across the window.
    pub buckets: u32,
}

impl Default for Overview {
    fn default() -> Self {
        Self {
            window: Period::hours(24),
            buckets: 24,
        }
    }
}

/// Drift detection: the window, the test levels and per-signal thresholds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Drift {
    /// The window compared, ending at the newest trace.
    pub window: Period,
    /// Significance level of each verdict, after Holm's correction across signals.
    pub alpha: f64,
    /// Power the minimum-sample guard plans for.
    pub power: f64,
    /// Bootstrap resamples for ratio intervals.
    pub resamples: usize,
    /// Seed of the bootstrap and of subsamples: the same data, the same verdict.
    pub seed: u64,
    /// Buckets across the window for charts and onset detection.
    pub buckets: u32,
    /// Latencies: the absolute difference (ms) below which no ratio is a finding (a
    /// 0.05 ms change on sub-millisecond spans is not a regression).
    pub min_delta_ms: f64,
    /// Per-signal settings, by signal name (see `relops drift --list`).
    pub signal: std::collections::BTreeMap<String, SignalSettings>,
}

impl Default for Drift {
    fn default() -> Self {
        Self {
            window: Period::hours(24),
            alpha: 0.05,
            power: 0.8,
            resamples: 1000,
            seed: 7,
            buckets: 48,
            min_delta_ms: crate::drift::judge::DEFAULT_MIN_DELTA_MS,
            signal: Default::default(),
        }
    }
}

/// Overrides for one signal; unset fields keep the signal's defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalSettings {
    /// Leave the signal out of verdicts.
    pub enabled: Option<bool>,
    /// Rates: the rise (absolute, 0.01 = one percentage point) that counts as drift.
    pub margin: Option<f64>,
    /// Samples: the allowed candidate / baseline ratio of the statistic (e.g. 1.2).
    pub ratio: Option<f64>,
    /// Distributions: PSI at which to warn and to fail.
    pub psi_warn: Option<f64>,
    pub psi_fail: Option<f64>,
    /// What the candidate is compared with: another version over the same window
    /// (`version`, the default), or itself over the window before (`before`).
    pub compare: Option<Compare>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compare {
    Version,
    Before,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    /// Loopback address of the embedded demo workflow server (`relops demo --serve`).
    pub server: String,
    /// Seed the demo traffic was generated with.
    pub seed: u64,
    /// Traces in the generated week.
    pub traces: u64,
    /// The instant the generated week ends (RFC 3339); the live feed continues from now.
    pub anchor: String,
}

/// Replay targets: endpoints that run a trace's input on a chosen version.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Replay {
    /// The target used when `--target` is not given (else the only one configured).
    pub default_target: Option<String>,
    pub targets: std::collections::BTreeMap<String, ReplayTarget>,
}

/// The protocol a replay target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// The workflow's own HTTP endpoint.
    Http,
    /// An OpenAI-compatible `/v1/chat/completions` endpoint.
    OpenaiChat,
}

/// One replay target. Fields that do not apply to its kind are rejected when it is used.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayTarget {
    pub kind: TargetKind,
    /// The endpoint; `{version}` is replaced by the version's label (http).
    pub url: String,
    /// http: also send the version's label in this header.
    #[serde(default)]
    pub version_header: Option<String>,
    /// http: JSON pointer where the trace's input goes in the request body.
    #[serde(default = "default_input_pointer")]
    pub input_pointer: String,
    /// http: JSON pointers into the response.
    #[serde(default)]
    pub response: ResponseMap,
    /// Name of the environment variable holding the API key (sent as a bearer token).
    /// The key itself never appears in the config, the cache or any message.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// openai-chat: what each version runs, by version label.
    #[serde(default)]
    pub versions: std::collections::BTreeMap<String, ChatVersion>,
    /// Per attempt, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Extra attempts after a timeout, a connection error, a 5xx or a 429.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First retry delay in milliseconds, doubled per attempt; a `Retry-After` wins.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// Requests in flight at once against this target.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_input_pointer() -> String {
    "/input".into()
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_retries() -> u32 {
    2
}
fn default_backoff_ms() -> u64 {
    500
}
fn default_concurrency() -> usize {
    4
}

/// JSON pointers (RFC 6901) locating the parts of an http target's response.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseMap {
    pub output: String,
    /// OTLP/JSON spans (`{"resourceSpans": [...]}`) of the run, if the workflow returns them.
    pub spans: Option<String>,
    /// The workflow's own latency; without it the round trip is measured.
    pub latency_ms: Option<String>,
    pub tokens_in: Option<String>,
    pub tokens_out: Option<String>,
    pub cost_usd: Option<String>,
}

impl Default for ResponseMap {
    fn default() -> Self {
        Self {
            output: "/output".into(),
            spans: None,
            latency_ms: None,
            tokens_in: None,
            tokens_out: None,
            cost_usd: None,
        }
    }
}

/// What one version means on an openai-chat target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatVersion {
    pub model: String,
    /// System prompt file, relative to the config's directory; its hash is part of the
    /// version's fingerprint.
    #[serde(default)]
    pub system_prompt_file: Option<PathBuf>,
    /// Extra request fields (temperature, max_tokens, ...), sent as they are.
    #[serde(default)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// USD per million input and output tokens, to price the replay.
    #[serde(default)]
    pub price_in: f64,
    #[serde(default)]
    pub price_out: f64,
}

/// A configuration that failed to load, with enough context to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses config text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |span: Option<std::ops::Range<usize>>, key: String, message: String| {
            let (line, column) = line_col(text, span.map_or(0, |s| s.start));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                key,
                message,
            }
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| invalid(e.span(), "(syntax)".into(), e.message().to_string()))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            invalid(inner.span(), key, inner.message().to_string())
        })?;
        config.validate(text, path)?;
        Ok(config)
    }

    /// Checks what serde cannot: names that must refer to something.
    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        for name in self.drift.signal.keys() {
            if crate::drift::catalogue::is_known(name) || name.starts_with("series.") {
                continue;
            }
            // Point at the first mention of the name (its table header or dotted key).
            let offset = text.find(name.as_str()).unwrap_or(0);
            let (line, column) = line_col(text, offset);
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                key: format!("drift.signal.{name}"),
                message: "unknown signal; `relops drift --list` names them".into(),
            });
        }
        crate::drift::validate_config(&self.drift, text, path)?;
        self.validate_sources(text, path)?;
        self.validate_targets(text, path)?;
        self.validate_procedures(text, path)?;
        self.validate_rollouts(text, path)?;
        self.validate_notify(text, path)?;
        self.validate_audit(text, path)?;
        self.validate_rubric(text, path)
    }

    /// The audit key's variable is set: a process that cannot seal would write rows
    /// every later `verify` refuses, so it stops here instead.
    fn validate_audit(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let Some(var) = &self.audit.key_env else {
            return Ok(());
        };
        match crate::audit::seal::Seal::from_env(var) {
            Ok(_) => Ok(()),
            Err(why) => {
                let (line, column) = table_key_place(text, "[audit]", 0, "key_env");
                Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    key: "audit.key_env".into(),
                    message: format!(
                        "{why}: every relops on this ledger seals its audit rows with that key"
                    ),
                })
            }
        }
    }

    /// Replay targets: a URL that parses, and limits that let a call happen.
    fn validate_targets(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        for (name, t) in &self.replay.targets {
            let problem = http_url(&t.url.replace("{version}", "v"))
                .map_err(|m| ("url", m))
                .and_then(|()| match (t.timeout_ms, t.concurrency) {
                    (0, _) => Err(("timeout_ms", "must be at least 1".into())),
                    (_, 0) => Err(("concurrency", "must be at least 1".into())),
                    _ => Ok(()),
                });
            if let Err((key, message)) = problem {
                let header = format!("[replay.targets.{name}]");
                let offset = text.find(&header).unwrap_or(0);
                let (line, column) = line_col(text, offset);
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    key: format!("replay.targets.{name}.{key}"),
                    message,
                });
            }
        }
        Ok(())
    }

    /// The signal names a rollout plan reads: a drift signal, or `series.NAME` of a
    /// Prometheus source's `signals`. An unknown one would wait forever for a reading.
    fn unknown_plan_signal(&self, plan: &crate::rollout::Plan) -> Option<String> {
        let series: Vec<&str> = self
            .sources
            .iter()
            .flat_map(|s| s.signals.keys())
            .map(String::as_str)
            .collect();
        let known = |name: &str| match name.strip_prefix("series.") {
            Some(s) => series.contains(&s),
            None => crate::drift::catalogue::is_known(name),
        };
        let items = plan.stages.iter().flat_map(|st| {
            st.items
                .iter()
                .filter_map(move |i| Some((&st.name, &i.name, i.signal.as_ref()?)))
        });
        let triggers = plan.stages.iter().flat_map(|st| {
            st.triggers
                .iter()
                .map(move |t| (&st.name, &t.name, &t.signal))
        });
        let verify = plan
            .verify
            .iter()
            .flat_map(|v| v.signals.iter().map(|s| (&plan.name, &plan.name, s)));
        items.chain(triggers).chain(verify).find_map(|(stage, what, signal)| {
            (!known(signal)).then(|| {
                format!(
                    "stage {stage:?}, {what:?}: unknown signal {signal:?}; `relops drift --list` names the drift signals, `series.NAME` a Prometheus source's signals"
                )
            })
        })
    }

    /// Scales fit single digit keys, the share is a share, criterion names are unique.
    fn validate_rubric(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        use crate::review::Place;
        let Err((place, message)) = self.rubric.check() else {
            return Ok(());
        };
        let (offset, key) = match place {
            Place::Rubric(key) => (text.find("[rubric]").unwrap_or(0), format!("rubric.{key}")),
            Place::Criterion(i, key) => (
                nth_table_offset(text, "[[rubric.criterion]]", i),
                format!("rubric.criterion[{i}].{key}"),
            ),
        };
        // Point at the key itself when it is written in its table.
        let offset = text[offset..]
            .find(&format!("\n{}", key.rsplit('.').next().unwrap_or_default()))
            .map_or(offset, |at| offset + at + 1);
        let (line, column) = line_col(text, offset);
        Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            key,
            message,
        })
    }

    /// Each plan has stages whose items say what they read; its procedures exist.
    fn validate_rollouts(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        for (i, plan) in self.rollouts.iter().enumerate() {
            let named = [&plan.rollback_procedure, &plan.promote_procedure];
            let missing = named
                .into_iter()
                .flatten()
                .find(|n| !self.procedures.iter().any(|p| &&p.name == n));
            let problem = plan
                .check()
                .err()
                .or_else(|| missing.map(|n| format!("no [[procedure]] named {n:?}")))
                .or_else(|| self.unknown_plan_signal(plan));
            if let Some(message) = problem {
                let offset = text.find(&format!("\"{}\"", plan.name)).unwrap_or(0);
                let (line, column) = line_col(text, offset);
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    key: format!("rollout[{i}]"),
                    message,
                });
            }
        }
        Ok(())
    }

    /// Each procedure has steps with commands, and names are unique.
    fn validate_procedures(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in self.procedures.iter().enumerate() {
            let problem = if !seen.insert(p.name.as_str()) {
                Some(format!("a second procedure named {:?}", p.name))
            } else {
                p.check().err()
            };
            if let Some(message) = problem {
                let offset = text.find(&format!("\"{}\"", p.name)).unwrap_or(0);
                let (line, column) = line_col(text, offset);
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    key: format!("procedure[{i}]"),
                    message,
                });
            }
        }
        Ok(())
    }

    /// Each notifier has what its kind needs, names are unique, and the guard's drift
    /// watch names drift signals.
    fn validate_notify(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, n) in self.notify.iter().enumerate() {
            let problem = if !seen.insert(n.name.as_str()) {
                Err(("name", format!("a second notifier named {:?}", n.name)))
            } else {
                n.check()
            };
            if let Err((key, message)) = problem {
                let (line, column) = table_key_place(text, "[[notify]]", i, key);
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    key: format!("notify[{i}].{key}"),
                    message,
                });
            }
        }
        let unknown = self
            .guard
            .drift_signals
            .iter()
            .find(|s| !crate::drift::catalogue::is_known(s) && !s.starts_with("series."));
        if let Some(signal) = unknown {
            let (line, column) = line_col(text, text.find("drift_signals").unwrap_or(0));
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                key: "guard.drift_signals".into(),
                message: format!("unknown signal {signal:?}; `relops drift --list` names them"),
            });
        }
        Ok(())
    }

    /// Each source suits its kind, and names are unique.
    fn validate_sources(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            let problem = if !seen.insert(source.name.as_str()) {
                Some(("name", format!("a second source named {:?}", source.name)))
            } else {
                source.check().err()
            };
            if let Some((key, message)) = problem {
                let (line, column) = line_col(text, nth_table_offset(text, "[[source]]", i));
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    key: format!("source[{i}].{key}"),
                    message,
                });
            }
        }
        Ok(())
    }
}

/// An absolute http(s) URL with a host, or what is wrong with it.
pub fn http_url(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: use an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} names no host"));
    }
    Ok(())
}

/// Where the `i`th `header` table (`[[source]]`) starts (0 when it cannot be found).
fn nth_table_offset(text: &str, header: &str, i: usize) -> usize {
    let mut offset = 0;
    let mut seen = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with(header) {
            if seen == i {
                return offset;
            }
            seen += 1;
        }
        offset += line.len();
    }
    0
}

/// Line and column of `key` in the `i`th `header` table, else of the table itself.
pub fn table_key_place(text: &str, header: &str, i: usize, key: &str) -> (usize, usize) {
    let start = nth_table_offset(text, header, i);
    let body = &text[start..];
    let end = body
        .match_indices("\n[")
        .map(|(at, _)| at)
        .find(|&at| at > 0)
        .unwrap_or(body.len());
    let at = body[..end]
        .match_indices(key)
        .find(|(at, _)| {
            body[..*at]
                .rsplit('\n')
                .next()
                .is_some_and(|l| l.trim().is_empty())
        })
        .map_or(0, |(at, _)| at);
    line_col(text, start + at)
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("relops.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.overview.buckets, 24);
        assert!(
            c.versions
                .model
                .contains(&"gen_ai.request.model".to_string())
        );
    }

    #[test]
    fn unknown_key_names_line_column_and_key() {
        let err = parse("[overview]\nbuckets = 12\nwindw = \"1h\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("relops.toml:3:1: overview"), "{err}");
        assert!(err.contains("unknown field `windw`"), "{err}");
    }

    #[test]
    fn bad_value_names_the_key() {
        let err = parse("[overview]\nwindow = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("relops.toml:2:10: overview.window"),
            "{err}"
        );
        assert!(err.contains("duration"), "{err}");
    }

    #[test]
    fn unknown_drift_signal_is_named_with_its_line() {
        let err = parse("[drift]\nalpha = 0.01\n\n[drift.signal.refusal_rat]\nmargin = 0.02\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("relops.toml:4:15: drift.signal.refusal_rat"),
            "{err}"
        );
        let ok = parse(
            "[drift.signal.refusal_rate]\nmargin = 0.02\n[drift.signal.\"tool_error_rate.refund\"]\nenabled = false\n",
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("[overview\n").unwrap_err().to_string();
        assert!(err.starts_with("relops.toml:1:"), "{err}");
    }

    #[test]
    fn shipped_example_parses() {
        let text = include_str!("../assets/relops.example.toml");
        let c = Config::parse(text, Path::new("assets/relops.example.toml")).unwrap();
        assert_eq!(c.overview.window, Period::hours(24));
        assert!(c.demo.is_some());
        assert!(c.replay.targets.contains_key("workflow"));
        assert!(c.replay.targets.contains_key("chat"));
        assert_eq!(c.rubric.criteria.len(), 4);
    }

    #[test]
    fn a_bad_rubric_is_named_with_its_line_and_criterion() {
        let text = "[rubric]\nsample = 8\n\n\
                    [[rubric.criterion]]\nname = \"grounded\"\nscale = 5\ndescription = \"d\"\n\n\
                    [[rubric.criterion]]\nname = \"tone\"\nscale = 12\ndescription = \"d\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.starts_with("relops.toml:11:1: rubric.criterion[1].scale: criterion \"tone\""),
            "{err}"
        );
        let twice = text.replace("tone", "grounded").replace("12", "3");
        let err = parse(&twice).unwrap_err().to_string();
        assert!(
            err.contains("rubric.criterion[1].name: a second criterion named"),
            "{err}"
        );
        let share = parse("[rubric]\nflagged_share = 1.2\n")
            .unwrap_err()
            .to_string();
        assert!(
            share.starts_with("relops.toml:2:1: rubric.flagged_share"),
            "{share}"
        );
        let unknown =
            "[[rubric.criterion]]\nname = \"a\"\nscale = 3\ndescription = \"d\"\nweight = 2\n";
        let err = parse(unknown).unwrap_err().to_string();
        assert!(err.contains("unknown field `weight`"), "{err}");
        assert_eq!(parse("").unwrap().rubric.sample, 12);
    }

    #[test]
    fn replay_target_kind_is_checked() {
        let err = parse("[replay.targets.x]\nkind = \"grpc\"\nurl = \"http://h\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("replay.targets.x.kind"), "{err}");
        let c =
            parse("[replay.targets.x]\nkind = \"http\"\nurl = \"http://h/{version}\"\n").unwrap();
        let t = &c.replay.targets["x"];
        assert_eq!((t.retries, t.response.output.as_str()), (2, "/output"));
    }

    #[test]
    fn a_bad_source_is_named_with_its_line() {
        let text = "[[source]]\nname = \"a\"\nkind = \"otlp-file\"\npath = \"x\"\n\n\
                    [[source]]\nname = \"px\"\nkind = \"phoenix\"\nendpoint = \"http://h\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("relops.toml:6:1: source[1].project"), "{err}");
    }

    #[test]
    fn source_names_are_unique() {
        let one = "[[source]]\nname = \"a\"\nkind = \"otlp-file\"\npath = \"x\"\n";
        let err = parse(&format!("{one}{one}")).unwrap_err().to_string();
        assert!(err.contains("a second source named \"a\""), "{err}");
    }

    #[test]
    fn a_rollout_names_an_existing_procedure() {
        let text = "[[rollout]]\nname = \"std\"\nrollback_procedure = \"undo\"\n\
                    [[rollout.stage]]\nname = \"canary\"\nweight = 5\nwindow = \"30m\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains("rollout[0]: no [[procedure]] named \"undo\""),
            "{err}"
        );
    }

    #[test]
    fn drift_levels_out_of_range_fail_the_load_at_their_line() {
        for (text, at) in [
            ("[drift]\nalpha = 2\n", "relops.toml:2:1: drift.alpha"),
            ("[drift]\npower = 5\n", "relops.toml:2:1: drift.power"),
            (
                "[drift]\nresamples = 100000000\n",
                "relops.toml:2:1: drift.resamples",
            ),
            (
                "[drift]\nmin_delta_ms = -2.0\n",
                "relops.toml:2:1: drift.min_delta_ms",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(at), "{text}: {err}");
        }
        assert_eq!(
            parse("[drift]\nmin_delta_ms = 0.5\n")
                .unwrap()
                .drift
                .min_delta_ms,
            0.5
        );
    }

    #[test]
    fn a_source_endpoint_must_be_a_url() {
        let text = "[[source]]\nname = \"px\"\nkind = \"phoenix\"\nproject = \"p\"\n\
                    endpoint = \"not a url\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("relops.toml:1:1: source[0].endpoint"), "{err}");
        assert!(err.contains("\"not a url\" is not a URL"), "{err}");
        let ftp = text.replace("not a url", "ftp://h/x");
        let err = parse(&ftp).unwrap_err().to_string();
        assert!(err.contains("use an http:// or https:// URL"), "{err}");
    }

    #[test]
    fn a_replay_target_url_and_limits_are_checked() {
        let target = "\n\n[replay.targets.w]\nkind = \"http\"\nurl = \"http://h/{version}/x\"\n";
        assert!(parse(target).is_ok());
        let err = parse(&target.replace("http://h", "h:80"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("relops.toml:3:1: replay.targets.w.url"),
            "{err}"
        );
        let err = parse(&format!("{target}concurrency = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("replay.targets.w.concurrency: must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn a_rollout_reads_only_known_signals() {
        let plan = "[[rollout]]\nname = \"std\"\n\
                    [[rollout.stage]]\nname = \"canary\"\nweight = 5\nwindow = \"30m\"\n";
        let trigger = format!(
            "{plan}trigger = [{{ name = \"spike\", signal = \"refusal_rat\", above = 0.1 }}]\n"
        );
        let err = parse(&trigger).unwrap_err().to_string();
        assert!(
            err.contains("rollout[0]: stage \"canary\", \"spike\": unknown signal \"refusal_rat\""),
            "{err}"
        );
        assert!(parse(&trigger.replace("refusal_rat", "refusal_rate")).is_ok());
        let item = format!(
            "{plan}item = [{{ name = \"p95\", kind = \"threshold\", signal = \"series.p95\", max = 2 }}]\n"
        );
        let err = parse(&item).unwrap_err().to_string();
        assert!(err.contains("unknown signal \"series.p95\""), "{err}");
        let prometheus = "[[source]]\nname = \"prom\"\nkind = \"prometheus\"\n\
                          endpoint = \"http://h\"\nsignals = { p95 = \"up\" }\n";
        assert!(parse(&format!("{prometheus}{item}")).is_ok());
    }

    #[test]
    fn a_bad_refusal_pattern_is_named_with_its_place() {
        let err = parse("[detect]\nrefusal_patterns = [\"ok\", \"(unclosed\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("relops.toml:2:"), "{err}");
        assert!(err.contains("detect.refusal_patterns"), "{err}");
        assert!(err.contains("not a regular expression"), "{err}");
        let ok = parse("[detect]\nrefusal_patterns = [\"won't share\"]\n").unwrap();
        assert!(
            ok.detect.refusal_patterns[0]
                .0
                .is_match("I WON'T SHARE that")
        );
    }
}
