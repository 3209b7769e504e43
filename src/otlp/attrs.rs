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
}
