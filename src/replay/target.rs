//! A configured replay target, ready to use: what to send for a (version, input) and
//! how to read the answer. No I/O here except reading system prompt files when the
//! target is resolved.

use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::{ChatVersion, Config, ReplayTarget, TargetKind};
use crate::model::Fingerprint;

/// A target with its secret and prompts loaded.
pub struct Target {
    pub name: String,
    pub config: ReplayTarget,
    /// The bearer token read from `api_key_env`. Never printed: `Debug` is redacted.
    api_key: Option<String>,
    /// openai-chat: each version's system prompt text.
    prompts: std::collections::BTreeMap<String, Option<String>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("kind", &self.config.kind)
            .field("url", &self.config.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One HTTP call to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub url: String,
    /// Extra headers, not counting the bearer token (added by the client).
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// What a target answered, mapped to the fields relops stores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub output: Option<String>,
    /// OTLP/JSON text.
    pub spans: Option<String>,
    pub latency_ms: Option<f64>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub cost_usd: Option<f64>,
}

impl Target {
    /// The target named (or the default one) with its key and prompts loaded. Errors
    /// name the config key at fault.
    pub fn resolve(config: &Config, config_dir: &Path, name: Option<&str>) -> Result<Self, String> {
        let targets = &config.replay.targets;
        let name = match name.or(config.replay.default_target.as_deref()) {
            Some(n) => n.to_string(),
            None if targets.len() == 1 => targets.keys().next().cloned().unwrap_or_default(),
            None if targets.is_empty() => {
                return Err("no replay target configured: add a [replay.targets.NAME] \
                            section to relops.toml"
                    .into());
            }
            None => {
                return Err(format!(
                    "several replay targets ({}): choose one with --target or set \
                     replay.default_target",
                    names(config)
                ));
            }
        };
        let cfg = targets
            .get(&name)
            .ok_or_else(|| format!("no replay target {name:?}; configured: {}", names(config)))?;
        let key = |field: &str| format!("replay.targets.{name}.{field}");
        let api_key = match &cfg.api_key_env {
            Some(var) => Some(
                crate::secret::Secret::from_env(var)
                    .map_err(|e| format!("{}: {e}", key("api_key_env")))?
                    .expose()
                    .to_string(),
            ),
            None => None,
        };
        if cfg.kind == TargetKind::OpenaiChat && cfg.versions.is_empty() {
            return Err(format!(
                "{}: an openai-chat target defines its versions",
                key("versions")
            ));
        }
        if cfg.concurrency == 0 {
            return Err(format!("{}: must be at least 1", key("concurrency")));
        }
        let mut prompts = std::collections::BTreeMap::new();
        for (label, v) in &cfg.versions {
            let text = match &v.system_prompt_file {
                Some(file) => {
                    Some(std::fs::read_to_string(config_dir.join(file)).map_err(|e| {
                        format!(
                            "{}: {}: {e}",
                            key(&format!("versions.{label}.system_prompt_file")),
                            file.display()
                        )
                    })?)
                }
                None => None,
            };
            prompts.insert(label.clone(), text);
        }
        Ok(Self {
            name,
            config: cfg.clone(),
            api_key,
            prompts,
        })
    }

    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// The version an openai-chat target defines for `label`.
    fn chat_version(&self, label: &str) -> Result<&ChatVersion, String> {
        self.config.versions.get(label).ok_or_else(|| {
            let known: Vec<&str> = self.config.versions.keys().map(String::as_str).collect();
            format!(
                "target {} defines no version {label:?}; it defines: {}",
                self.name,
                known.join(", ")
            )
        })
    }

    /// The fingerprint of an openai-chat version: what the config says it runs. (An http
    /// target's versions are the cached ones; `None`.)
    pub fn fingerprint(&self, label: &str) -> Result<Option<Fingerprint>, String> {
        if self.config.kind == TargetKind::Http {
            return Ok(None);
        }
        let v = self.chat_version(label)?;
        let prompt = self.prompts.get(label).cloned().flatten();
        Ok(Some(Fingerprint {
            label: Some(label.to_string()),
            prompt_hash: prompt.map(|p| short_hash(p.as_bytes())),
            config_hash: Some(short_hash(
                Value::Object(v.parameters.clone()).to_string().as_bytes(),
            )),
            model: Some(v.model.clone()),
            index_version: None,
            tools: Default::default(),
        }))
    }

    /// The request that replays `input` on the version labelled `label`.
    pub fn call(&self, label: &str, input: &str) -> Result<Call, String> {
        match self.config.kind {
            TargetKind::Http => {
                let mut body = Value::Null;
                set_pointer(&mut body, &self.config.input_pointer, json!(input))?;
                let headers = self
                    .config
                    .version_header
                    .iter()
                    .map(|h| (h.clone(), label.to_string()))
                    .collect();
                if self.config.url.contains("{version}") && (label == "." || label == "..") {
                    return Err(format!(
                        "the version label {label:?} would climb out of the target's URL path; refused"
                    ));
                }
                Ok(Call {
                    // Percent-encoded: a label from traffic never leaves its segment.
                    url: self
                        .config
                        .url
                        .replace("{version}", &crate::text::url_component(label)),
                    headers,
                    body,
                })
            }
            TargetKind::OpenaiChat => {
                let v = self.chat_version(label)?;
                let mut messages = Vec::new();
                if let Some(Some(system)) = self.prompts.get(label) {
                    messages.push(json!({"role": "system", "content": system}));
                }
                messages.push(json!({"role": "user", "content": input}));
                let mut body = v.parameters.clone();
                body.insert("model".into(), json!(v.model));
                body.insert("messages".into(), Value::Array(messages));
                Ok(Call {
                    url: self.config.url.clone(),
                    headers: Vec::new(),
                    body: Value::Object(body),
                })
            }
        }
    }

    /// Maps a response body to an answer; the error says what is missing or malformed.
    pub fn answer(&self, label: &str, body: &[u8]) -> Result<Answer, String> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            format!(
                "response is not JSON ({e}): {}",
                crate::text::clip(&String::from_utf8_lossy(body), 120)
            )
        })?;
        match self.config.kind {
            TargetKind::Http => self.http_answer(&v),
            TargetKind::OpenaiChat => self.chat_answer(label, &v),
        }
    }

    fn http_answer(&self, v: &Value) -> Result<Answer, String> {
        let m = &self.config.response;
        let output = match v.pointer(&m.output) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) => None,
            Some(other) => Some(other.to_string()),
            None => return Err(format!("response has no output at {:?}", m.output)),
        };
        let spans = match &m.spans {
            Some(p) => match v.pointer(p) {
                Some(s @ Value::Object(_)) => Some(s.to_string()),
                Some(Value::Null) | None => None,
                Some(_) => return Err(format!("response spans at {p:?} are not an object")),
            },
            None => None,
        };
        Ok(Answer {
            output,
            spans,
            latency_ms: number(v, m.latency_ms.as_deref())?,
            tokens_in: number(v, m.tokens_in.as_deref())?.map(|n| n as i64),
            tokens_out: number(v, m.tokens_out.as_deref())?.map(|n| n as i64),
            cost_usd: number(v, m.cost_usd.as_deref())?,
        })
    }

    fn chat_answer(&self, label: &str, v: &Value) -> Result<Answer, String> {
        let version = self.chat_version(label)?;
        let choice = v
            .pointer("/choices/0")
            .ok_or("response has no choices[0]")?;
        let output = choice
            .pointer("/message/content")
            .and_then(Value::as_str)
            .map(str::to_string);
        let finish = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .unwrap_or("");
        let tokens_in = v.pointer("/usage/prompt_tokens").and_then(Value::as_i64);
        let tokens_out = v
            .pointer("/usage/completion_tokens")
            .and_then(Value::as_i64);
        let cost = (tokens_in.unwrap_or(0) as f64 * version.price_in
            + tokens_out.unwrap_or(0) as f64 * version.price_out)
            / 1e6;
        let spans = chat_span(
            &version.model,
            output.as_deref(),
            finish,
            tokens_in,
            tokens_out,
        );
        Ok(Answer {
            output,
            spans: Some(spans.to_string()),
            latency_ms: None,
            tokens_in,
            tokens_out,
            cost_usd: Some(cost),
        })
    }
}

fn names(config: &Config) -> String {
    let n: Vec<&str> = config.replay.targets.keys().map(String::as_str).collect();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

/// `sha256:` and 12 hex digits.
fn short_hash(bytes: &[u8]) -> String {
    format!("sha256:{}", &hex::encode(Sha256::digest(bytes))[..12])
}

/// A number at an optional pointer; absent is `None`, a non-number is an error.
fn number(v: &Value, pointer: Option<&str>) -> Result<Option<f64>, String> {
    let Some(p) = pointer else { return Ok(None) };
    match v.pointer(p) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("response value at {p:?} is not a number: {n}")),
    }
}

/// Writes `value` at a JSON pointer, creating objects on the way.
fn set_pointer(root: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    if pointer.is_empty() {
        *root = value;
        return Ok(());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("input_pointer {pointer:?} must start with '/'"))?;
    let mut at = root;
    for part in rest.split('/') {
        let key = part.replace("~1", "/").replace("~0", "~");
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        at = at
            .as_object_mut()
            .expect("made an object")
            .entry(key)
            .or_insert(Value::Null);
    }
    *at = value;
    Ok(())
}

/// One OTLP span describing a chat completion, so that the diff reads model, tokens,
/// finish reason (a `content_filter` refusal) and output the same way as for traces.
fn chat_span(
    model: &str,
    output: Option<&str>,
    finish: &str,
    tokens_in: Option<i64>,
    tokens_out: Option<i64>,
) -> Value {
    let attr = |k: &str, v: Value| json!({"key": k, "value": v});
    let attributes = vec![
        attr("openinference.span.kind", json!({"stringValue": "LLM"})),
        attr("gen_ai.request.model", json!({"stringValue": model})),
        attr("output.value", json!({"stringValue": output.unwrap_or("")})),
        attr(
            "gen_ai.response.finish_reasons",
            json!({"arrayValue": {"values": [{"stringValue": finish}]}}),
        ),
        attr(
            "gen_ai.usage.input_tokens",
            json!({"intValue": tokens_in.unwrap_or(0).to_string()}),
        ),
        attr(
            "gen_ai.usage.output_tokens",
            json!({"intValue": tokens_out.unwrap_or(0).to_string()}),
        ),
    ];
    json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "00000000000000000000000000000001",
        "spanId": "0000000000000001",
        "name": format!("chat {model}"),
        "startTimeUnixNano": "0",
        "endTimeUnixNano": "0",
        "attributes": attributes,
    }]}]}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("relops.toml")).unwrap()
    }

    #[test]
    fn http_call_puts_input_at_the_pointer_and_version_in_url_and_header() {
        let c = config(
            "[replay.targets.w]\nkind = \"http\"\nurl = \"http://h/v1/{version}/respond\"\n\
             version_header = \"X-Version\"\ninput_pointer = \"/request/text\"\n",
        );
        let t = Target::resolve(&c, Path::new("."), None).unwrap();
        let call = t.call("v3", "hello").unwrap();
        assert_eq!(call.url, "http://h/v1/v3/respond");
        assert_eq!(call.body, json!({"request": {"text": "hello"}}));
        assert_eq!(call.headers, vec![("X-Version".into(), "v3".into())]);
        assert_eq!(t.fingerprint("v3").unwrap(), None);
        // A hostile label stays inside its segment, or is refused.
        let call = t.call("../../admin?x=1#", "hello").unwrap();
        assert_eq!(call.url, "http://h/v1/..%2F..%2Fadmin%3Fx%3D1%23/respond");
        assert!(t.call("..", "hello").unwrap_err().contains("refused"));
    }

    #[test]
    fn http_answer_follows_pointers_and_rejects_bad_shapes() {
        let c = config(
            "[replay.targets.w]\nkind = \"http\"\nurl = \"http://h\"\n\
             [replay.targets.w.response]\noutput = \"/out/text\"\ntokens_in = \"/u/in\"\n",
        );
        let t = Target::resolve(&c, Path::new("."), Some("w")).unwrap();
        let a = t
            .answer("v", br#"{"out": {"text": "hi"}, "u": {"in": 12}}"#)
            .unwrap();
        assert_eq!((a.output.as_deref(), a.tokens_in), (Some("hi"), Some(12)));
        let missing = t.answer("v", br#"{"other": 1}"#).unwrap_err();
        assert!(missing.contains("no output at \"/out/text\""), "{missing}");
        let bad = t.answer("v", br#"{"out": {"text": "x"}, "u": {"in": "many"}}"#);
        assert!(bad.unwrap_err().contains("not a number"));
        assert!(t.answer("v", b"<html>").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn chat_version_fingerprint_hashes_the_prompt_file_and_the_key_stays_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("v3.txt"), "Be brief.").unwrap();
        // SAFETY: no other test reads this variable.
        unsafe { std::env::set_var("RELOPS_TEST_TARGET_KEY", "sk-secret-123") };
        let c = config(
            "[replay.targets.chat]\nkind = \"openai-chat\"\nurl = \"http://h/v1/chat/completions\"\n\
             api_key_env = \"RELOPS_TEST_TARGET_KEY\"\n\
             [replay.targets.chat.versions.v3]\nmodel = \"m-1\"\nsystem_prompt_file = \"v3.txt\"\n\
             [replay.targets.chat.versions.v3.parameters]\ntemperature = 0.0\n",
        );
        let t = Target::resolve(&c, dir.path(), None).unwrap();
        assert!(!format!("{t:?}").contains("sk-secret"));
        let f = t.fingerprint("v3").unwrap().unwrap();
        assert_eq!(f.model.as_deref(), Some("m-1"));
        assert_eq!(f.prompt_hash, Some(short_hash(b"Be brief.")));
        let call = t.call("v3", "hi").unwrap();
        assert_eq!(call.body["messages"][0]["content"], "Be brief.");
        assert_eq!(call.body["temperature"], 0.0);
        assert!(t.call("v9", "hi").unwrap_err().contains("defines: v3"));
        let a = t
            .answer(
                "v3",
                br#"{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}],
                    "usage":{"prompt_tokens":10,"completion_tokens":2}}"#,
            )
            .unwrap();
        assert_eq!((a.output.as_deref(), a.tokens_out), (Some("ok"), Some(2)));
        assert!(a.spans.unwrap().contains("gen_ai.response.finish_reasons"));
    }

    #[test]
    fn missing_key_variable_is_named_without_a_value() {
        let c = config(
            "[replay.targets.c]\nkind = \"openai-chat\"\nurl = \"http://h\"\n\
             api_key_env = \"RELOPS_TEST_UNSET_KEY\"\n[replay.targets.c.versions.v1]\nmodel = \"m\"\n",
        );
        let err = Target::resolve(&c, Path::new("."), None).unwrap_err();
        assert!(err.contains("RELOPS_TEST_UNSET_KEY is not set"), "{err}");
    }
}
