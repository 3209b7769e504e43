//! Refusals in a span's answer, with the reason kept: which attribute held the answer
//! and which phrase, pattern or finish reason matched it.
//!
//! The answer is wherever the conventions put it: OpenInference `output.value` and
//! `llm.output_messages.<i>.message.content` (flat, or as one array when Phoenix hands
//! it back), GenAI `gen_ai.output.messages` (JSON text or an array), the older
//! `gen_ai.completion` forms (text, JSON text, `gen_ai.completion.<i>.content`) and the
//! older `gen_ai.choice` / `gen_ai.content.completion` events.

use regex::Regex;
use serde_json::Value;

use crate::config::Detection;
use crate::otlp::Attributes;

/// Why a span counts as a refusal (stored with the span, see [`Reason::write`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The attribute that held it, with a JSON pointer when it sat inside JSON
    /// (`gen_ai.output.messages#/0/parts/0/content`).
    pub attribute: String,
    /// `phrase`, `pattern` or `finish_reason`.
    pub rule: &'static str,
    /// The phrase or pattern as configured, or the finish reason as sent.
    pub pattern: String,
}

impl Reason {
    /// Records the reason among the span's attributes, where `trace show` finds it.
    pub fn write(&self, attrs: &mut Attributes) {
        use crate::model::refusal_keys as k;
        attrs.insert(k::ATTRIBUTE.into(), self.attribute.clone().into());
        attrs.insert(k::RULE.into(), self.rule.into());
        attrs.insert(k::PATTERN.into(), self.pattern.clone().into());
    }
}

/// Finish reasons outside the answer attributes.
const FINISH_KEYS: &[&str] = &["gen_ai.response.finish_reasons", "llm.finish_reason"];

/// Events of the older GenAI conventions that carry the answer.
pub(super) const ANSWER_EVENTS: &[&str] = &["gen_ai.choice", "gen_ai.content.completion"];

/// JSON members that never hold answer text.
const NOT_TEXT: &[&str] = &["role", "type", "id", "index", "tool_call_id"];

/// The `[detect]` refusal rules, ready to match.
pub struct Rules {
    /// (normalised for matching, as configured)
    phrases: Vec<(String, String)>,
    patterns: Vec<Regex>,
    finish_reasons: Vec<String>,
    attributes: Vec<String>,
}

impl Rules {
    pub fn new(detect: &Detection) -> Self {
        Self {
            phrases: detect
                .refusal_phrases
                .iter()
                .map(|p| (normalise(p), p.clone()))
                .collect(),
            patterns: detect
                .refusal_patterns
                .iter()
                .map(|p| p.0.clone())
                .collect(),
            finish_reasons: detect
                .refusal_finish_reasons
                .iter()
                .map(|r| r.to_lowercase())
                .collect(),
            attributes: detect.refusal_attributes.clone(),
        }
    }

    /// A refusing finish reason in the span's finish-reason attributes, flat ones under
    /// the answer attributes included (`llm.output_messages.0.message.finish_reason`).
    pub fn finish(&self, attrs: &Attributes) -> Option<Reason> {
        attrs
            .iter()
            .filter(|(k, _)| FINISH_KEYS.contains(&k.as_str()) || self.flat_finish_key(k))
            .find_map(|(k, v)| self.finish_value(k, v))
    }

    /// A refusal in the span's answer: its attributes, then its answer events.
    pub fn answer(&self, attrs: &Attributes, events: &[(String, Attributes)]) -> Option<Reason> {
        let found = attrs
            .iter()
            .filter(|(k, _)| self.is_answer_key(k))
            .find_map(|(k, v)| self.value(k, v));
        found.or_else(|| {
            events
                .iter()
                .filter(|(name, _)| ANSWER_EVENTS.contains(&name.as_str()))
                .flat_map(|(name, attrs)| attrs.iter().map(move |(k, v)| (name, k, v)))
                .find_map(|(name, k, v)| {
                    let mut r = if is_finish_key(k) {
                        self.finish_value(k, v)
                    } else {
                        self.value(k, v)
                    }?;
                    r.attribute = format!("event {name}: {}", r.attribute);
                    Some(r)
                })
        })
    }

    /// The phrase or pattern a text matches, as (rule, pattern).
    pub fn text(&self, text: &str) -> Option<(&'static str, String)> {
        let norm = normalise(text);
        if let Some((_, p)) = self.phrases.iter().find(|(n, _)| norm.contains(n.as_str())) {
            return Some(("phrase", p.clone()));
        }
        self.patterns
            .iter()
            .find(|re| re.is_match(text) || re.is_match(&norm))
            .map(|re| ("pattern", re.as_str().to_string()))
    }

    fn is_answer_key(&self, key: &str) -> bool {
        self.attributes.iter().any(|a| {
            key.strip_prefix(a.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
    }

    fn flat_finish_key(&self, key: &str) -> bool {
        is_finish_key(key) && self.is_answer_key(key)
    }

    /// One answer attribute: text, JSON text, or structured JSON.
    fn value(&self, key: &str, v: &Value) -> Option<Reason> {
        if is_finish_key(key) {
            return self.finish_value(key, v);
        }
        match v {
            Value::String(s) => match parse_json_text(s) {
                Some(json) => self.json(key, String::new(), &json, false),
                None => self.text_reason(key.to_string(), s),
            },
            Value::Array(_) | Value::Object(_) => self.json(key, String::new(), v, false),
            _ => None,
        }
    }

    /// Walks JSON for answer text and finish reasons; `pointer` locates `v` in `key`.
    fn json(&self, key: &str, pointer: String, v: &Value, finish: bool) -> Option<Reason> {
        let place = |p: &str| match p.is_empty() {
            true => key.to_string(),
            false => format!("{key}#{p}"),
        };
        match v {
            Value::String(s) if finish => self.finish_text(place(&pointer), s),
            Value::String(s) => self.text_reason(place(&pointer), s),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| self.json(key, format!("{pointer}/{i}"), item, finish)),
            Value::Object(map) => map
                .iter()
                .filter(|(k, _)| !NOT_TEXT.contains(&k.as_str()))
                .find_map(|(k, child)| {
                    let here = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                    self.json(key, here, child, finish || is_finish_key(k))
                }),
            _ => None,
        }
    }

    fn text_reason(&self, attribute: String, text: &str) -> Option<Reason> {
        let (rule, pattern) = self.text(text)?;
        Some(Reason {
            attribute,
            rule,
            pattern,
        })
    }

    fn finish_value(&self, key: &str, v: &Value) -> Option<Reason> {
        match v {
            Value::String(s) => match parse_json_text(s) {
                Some(json) => self.json(key, String::new(), &json, true),
                None => self.finish_text(key.to_string(), s),
            },
            other => self.json(key, String::new(), other, true),
        }
    }

    fn finish_text(&self, attribute: String, reason: &str) -> Option<Reason> {
        self.finish_reasons
            .contains(&reason.to_lowercase())
            .then(|| Reason {
                attribute,
                rule: "finish_reason",
                pattern: reason.to_string(),
            })
    }
}

/// `finish_reason` or `finish_reasons` as a key's last segment.
fn is_finish_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    last == "finish_reason" || last == "finish_reasons"
}

/// JSON text (an object or an array), parsed; anything else is plain text.
fn parse_json_text(s: &str) -> Option<Value> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<Value>(s)
        .ok()
        .filter(|v| v.is_object() || v.is_array())
}

/// Lower case, with typographic apostrophes as the ASCII one the phrases are written
/// with: models write "I’m sorry" as often as "I'm sorry".
fn normalise(text: &str) -> String {
    text.to_lowercase().replace(['\u{2019}', '\u{2018}'], "'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RefusalPattern;
    use serde_json::json;

    fn rules() -> Rules {
        Rules::new(&Detection::default())
    }

    fn attrs(v: Value) -> Attributes {
        v.as_object().unwrap().clone()
    }

    fn answer(v: Value) -> Option<Reason> {
        rules().answer(&attrs(v), &[])
    }

    fn reason(attribute: &str, rule: &'static str, pattern: &str) -> Option<Reason> {
        Some(Reason {
            attribute: attribute.into(),
            rule,
            pattern: pattern.into(),
        })
    }

    #[test]
    fn output_value_text_matches_a_phrase_with_any_apostrophe_and_case() {
        assert_eq!(
            answer(json!({"output.value": "I’M SORRY, BUT I CAN’T do that"})),
            reason("output.value", "phrase", "I'm sorry, but I can't")
        );
        assert_eq!(answer(json!({"output.value": "Refund issued."})), None);
        assert_eq!(answer(json!({"input.value": "I can't help with"})), None);
    }

    #[test]
    fn openinference_output_messages_flat_and_as_phoenix_returns_them() {
        let flat = json!({
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "I cannot help with that request.",
        });
        assert_eq!(
            answer(flat),
            reason(
                "llm.output_messages.0.message.content",
                "phrase",
                "I cannot help with"
            )
        );
        let contents = json!({
            "llm.output_messages.0.message.contents.0.message_content.type": "text",
            "llm.output_messages.0.message.contents.0.message_content.text": "I am unable to assist.",
        });
        assert!(answer(contents).is_some());
        let nested = json!({"llm.output_messages": [
            {"message": {"role": "assistant", "content": "I can't help with refunds."}}
        ]});
        assert_eq!(
            answer(nested),
            reason(
                "llm.output_messages#/0/message/content",
                "phrase",
                "I can't help with"
            )
        );
        let dotted = json!({"llm.output_messages": [{"message.content": "I can't help with it"}]});
        assert_eq!(
            answer(dotted).unwrap().attribute,
            "llm.output_messages#/0/message.content"
        );
    }

    #[test]
    fn genai_output_messages_as_json_text_with_parts_and_finish_reason() {
        let text = json!([{"role": "assistant", "parts": [{"type": "text",
            "content": "I'm not able to help with that."}], "finish_reason": "stop"}])
        .to_string();
        assert_eq!(
            answer(json!({"gen_ai.output.messages": text})),
            reason(
                "gen_ai.output.messages#/0/parts/0/content",
                "phrase",
                "I'm not able to help"
            )
        );
        let filtered =
            json!([{"role": "assistant", "parts": [], "finish_reason": "content_filter"}]);
        assert_eq!(
            answer(json!({"gen_ai.output.messages": filtered})),
            reason(
                "gen_ai.output.messages#/0/finish_reason",
                "finish_reason",
                "content_filter"
            )
        );
        // A role is never answer text, even when a pattern would match it.
        let r = Rules::new(&Detection {
            refusal_patterns: vec![RefusalPattern(Regex::new("(?i)assistant").unwrap())],
            ..Detection::default()
        });
        let roles = json!({"gen_ai.output.messages": [{"role": "assistant", "parts": []}]});
        assert_eq!(r.answer(&attrs(roles), &[]), None);
    }

    #[test]
    fn older_genai_completion_forms() {
        assert_eq!(
            answer(json!({"gen_ai.completion": "I can't help with that."}))
                .unwrap()
                .attribute,
            "gen_ai.completion"
        );
        let json_text = json!([{"role": "assistant", "content": "I cannot help with that."}]);
        assert_eq!(
            answer(json!({"gen_ai.completion": json_text.to_string()}))
                .unwrap()
                .attribute,
            "gen_ai.completion#/0/content"
        );
        let indexed = json!({"gen_ai.completion.0.role": "assistant",
                             "gen_ai.completion.0.content": "I'm sorry, but I cannot do that."});
        assert_eq!(
            answer(indexed).unwrap().attribute,
            "gen_ai.completion.0.content"
        );
        let finish = attrs(json!({"gen_ai.completion.0.finish_reason": "content_filter"}));
        assert_eq!(
            rules().finish(&finish),
            reason(
                "gen_ai.completion.0.finish_reason",
                "finish_reason",
                "content_filter"
            )
        );
    }

    #[test]
    fn older_genai_events_carry_the_answer() {
        let choice = (
            "gen_ai.choice".to_string(),
            attrs(json!({"index": 0, "finish_reason": "content_filter"})),
        );
        assert_eq!(
            rules().answer(&Attributes::new(), &[choice]),
            reason(
                "event gen_ai.choice: finish_reason",
                "finish_reason",
                "content_filter"
            )
        );
        let completion = (
            "gen_ai.content.completion".to_string(),
            attrs(json!({"gen_ai.completion": "I can't help with this."})),
        );
        let other = (
            "log".to_string(),
            attrs(json!({"gen_ai.completion": "I can't help with this."})),
        );
        assert_eq!(
            rules()
                .answer(&Attributes::new(), &[other.clone(), completion])
                .unwrap()
                .attribute,
            "event gen_ai.content.completion: gen_ai.completion"
        );
        assert_eq!(rules().answer(&Attributes::new(), &[other]), None);
    }

    #[test]
    fn finish_reasons_in_their_own_attributes() {
        let r = rules();
        let genai = attrs(json!({"gen_ai.response.finish_reasons": ["stop", "CONTENT_FILTER"]}));
        assert_eq!(
            r.finish(&genai),
            reason(
                "gen_ai.response.finish_reasons#/1",
                "finish_reason",
                "CONTENT_FILTER"
            )
        );
        let oi = attrs(json!({"llm.output_messages.1.message.finish_reason": "content_filter"}));
        assert!(r.finish(&oi).is_some());
        assert_eq!(r.finish(&attrs(json!({"llm.finish_reason": "stop"}))), None);
        // A finish reason elsewhere is not one.
        assert_eq!(
            r.finish(&attrs(json!({"x.finish_reason": "content_filter"}))),
            None
        );
    }

    #[test]
    fn configured_patterns_and_attributes() {
        let detect = Detection {
            refusal_patterns: vec![RefusalPattern(
                Regex::new(r"(?i)\bwon't (?:be able to )?share\b").unwrap(),
            )],
            refusal_attributes: vec!["answer.text".into()],
            ..Detection::default()
        };
        let r = Rules::new(&detect);
        let a = attrs(json!({"answer.text": "Sorry, I won't share that.",
                             "output.value": "I can't help with that."}));
        assert_eq!(
            r.answer(&a, &[]),
            reason(
                "answer.text",
                "pattern",
                r"(?i)\bwon't (?:be able to )?share\b"
            )
        );
        assert_eq!(r.text("fine"), None);
        // Only the configured attributes are read, and a key only under its dot.
        assert_eq!(
            r.answer(&attrs(json!({"answer.textual": "I can't help with"})), &[]),
            None
        );
    }
}
