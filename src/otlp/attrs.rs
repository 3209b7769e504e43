//! OTLP attributes flattened to dotted keys, the form Phoenix and OpenInference use.

use serde_json::{Map, Value};

use super::{AnyValue, KeyValue};

/// Flattened attributes: `kvlist` values become `parent.child` keys; arrays stay arrays.
pub type Attributes = Map<String, Value>;

/// Flattens OTLP key-values into `out`, taking them apart rather than copying;
/// later keys overwrite earlier ones.
pub fn flatten(kvs: Vec<KeyValue>, out: &mut Attributes) {
    for kv in kvs {
        flatten_into(kv.key, kv.value, out);
    }
}

fn flatten_into(key: String, value: Option<AnyValue>, out: &mut Attributes) {
    match value {
        Some(AnyValue {
            kvlist_value: Some(list),
            ..
        }) => {
            for kv in list.values {
                flatten_into(format!("{key}.{}", kv.key), kv.value, out);
            }
        }
        Some(v) => {
            out.insert(key, into_json(v));
        }
        None => {
            out.insert(key, Value::Null);
        }
    }
}

/// Nested JSON objects become dotted keys under `prefix` (`{"llm": {"model_name": x}}`
/// → `llm.model_name`), as OTLP attributes are; arrays and scalars stay as they are,
/// nulls are dropped.
pub fn flatten_json(prefix: &str, value: &Value, out: &mut Attributes) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_json(&key, v, out);
            }
        }
        Value::Null => {}
        v => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

/// Expands an attribute holding a JSON object as text (OpenInference's `metadata`) into
/// dotted keys under its name, as Phoenix does, so every path stores the same keys. Keys
/// already present win; text that is not a JSON object is left as it is.
pub fn expand_json_text(attrs: &mut Attributes, key: &str) {
    let Some(Value::String(text)) = attrs.get(key) else {
        return;
    };
    if !text.trim_start().starts_with('{') {
        return;
    }
    let Ok(object @ Value::Object(_)) = serde_json::from_str::<Value>(text) else {
        return;
    };
    attrs.remove(key);
    let mut expanded = Attributes::new();
    flatten_json(key, &object, &mut expanded);
    for (k, v) in expanded {
        attrs.entry(k).or_insert(v);
    }
}

/// Converts one `AnyValue` to JSON, nested lists included.
pub fn into_json(v: AnyValue) -> Value {
    if let Some(s) = v.string_value {
        Value::String(s)
    } else if let Some(b) = v.bool_value {
        Value::Bool(b)
    } else if let Some(i) = v.int_value {
        Value::from(i)
    } else if let Some(d) = v.double_value {
        serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number)
    } else if let Some(arr) = v.array_value {
        Value::Array(arr.values.into_iter().map(into_json).collect())
    } else if let Some(list) = v.kvlist_value {
        let mut m = Map::new();
        for kv in list.values {
            m.insert(kv.key, kv.value.map_or(Value::Null, into_json));
        }
        Value::Object(m)
    } else if let Some(b) = v.bytes_value {
        Value::String(b)
    } else {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_kvlists_and_keeps_scalars() {
        let kvs: Vec<KeyValue> = serde_json::from_str(
            r#"[
              {"key":"a","value":{"stringValue":"x"}},
              {"key":"n","value":{"intValue":"42"}},
              {"key":"f","value":{"doubleValue":0.5}},
              {"key":"m","value":{"kvlistValue":{"values":[{"key":"b","value":{"boolValue":true}}]}}},
              {"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"s"},{"intValue":3}]}}}
            ]"#,
        )
        .unwrap();
        let mut out = Attributes::new();
        flatten(kvs, &mut out);
        assert_eq!(out["a"], "x");
        assert_eq!(out["n"], 42);
        assert_eq!(out["f"], 0.5);
        assert_eq!(out["m.b"], true);
        assert_eq!(out["arr"], serde_json::json!(["s", 3]));
    }

    #[test]
    fn metadata_text_expands_like_phoenix_and_present_keys_win() {
        let mut attrs = Attributes::new();
        attrs.insert(
            "metadata".into(),
            Value::String(r#"{"version": "v3", "n": 2, "deep": {"a": true}, "gone": null}"#.into()),
        );
        attrs.insert("metadata.n".into(), Value::from(7));
        expand_json_text(&mut attrs, "metadata");
        assert!(!attrs.contains_key("metadata"));
        assert_eq!(attrs["metadata.version"], "v3");
        assert_eq!(attrs["metadata.n"], 7);
        assert_eq!(attrs["metadata.deep.a"], true);
        assert!(!attrs.contains_key("metadata.gone"));

        for text in ["not json", "[1, 2]", "{broken"] {
            let mut attrs = Attributes::new();
            attrs.insert("metadata".into(), Value::String(text.into()));
            expand_json_text(&mut attrs, "metadata");
            assert_eq!(attrs["metadata"], text, "left as it is");
        }
    }
}
