//! Inputs for the fuzz targets: committed corpora, byte-level mutations of seeds (with a
//! dictionary of tokens that matter to the format) and structure-aware mutations of JSON
//! and of line-oriented text. Every strategy yields an [`Input`], whose `Debug` is the
//! input itself, so a failure prints what to paste into a corpus file.

use std::fmt;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::Value;

/// The bytes handed to a target.
#[derive(Clone, PartialEq)]
pub struct Input(pub Vec<u8>);

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Input(b\"{}\")", self.0.escape_ascii())
    }
}

impl Input {
    /// The bytes as text, lossily (targets that take `&str`).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

/// The committed corpus of a target: seeds and the crashers found so far, by file name.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target)
}

/// Runs `check` on every corpus file, naming the file that panicked or failed.
pub fn replay(target: &str, check: impl Fn(&Input) -> Result<(), String>) {
    for (path, bytes) in corpus(target) {
        let input = Input(bytes);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("{}: {why}", path.display()),
            Err(_) => panic!("{} panicked (see above)", path.display()),
        }
    }
}

/// One byte-level edit; positions are fractions of the current length.
#[derive(Debug, Clone)]
enum Edit {
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    Token(Index, Index),
    Delete(Index, usize),
    Duplicate(Index, usize),
    Truncate(Index),
    /// A stretch of another seed, pasted in.
    Splice(Index, Index, Index, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Edit::Flip(at, bit)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..6))
            .prop_map(|(at, b)| Edit::Insert(at, b)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(at, t)| Edit::Token(at, t)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), any::<Index>(), any::<Index>(), 1..128usize)
            .prop_map(|(s, from, at, n)| Edit::Splice(s, from, at, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit, dict: &[&[u8]], seeds: &[Vec<u8>]) {
    let pos = |i: &Index, len: usize| i.index(len + 1);
    let len = bytes.len();
    match edit {
        Edit::Flip(at, bit) if len > 0 => bytes[at.index(len)] ^= 1 << bit,
        Edit::Flip(..) => {}
        Edit::Insert(at, b) => drop(bytes.splice(pos(at, len)..pos(at, len), b.iter().copied())),
        Edit::Token(at, t) => {
            let token = dict[t.index(dict.len())];
            let p = pos(at, len);
            bytes.splice(p..p, token.iter().copied());
        }
        Edit::Delete(at, n) => {
            let p = pos(at, len);
            bytes.drain(p..(p + n).min(len));
        }
        Edit::Duplicate(at, n) => {
            let p = pos(at, len);
            let piece = bytes[p..(p + n).min(len)].to_vec();
            bytes.splice(p..p, piece);
        }
        Edit::Truncate(at) => bytes.truncate(pos(at, len)),
        Edit::Splice(s, from, at, n) => {
            let other = &seeds[s.index(seeds.len())];
            let f = pos(from, other.len());
            let piece = &other[f..(f + n).min(other.len())];
            let p = pos(at, len);
            bytes.splice(p..p, piece.iter().copied());
        }
    }
}

/// A seed with up to `max_edits` byte-level edits (none: the seed itself).
pub fn mutated(
    seeds: Vec<Vec<u8>>,
    dict: &'static [&'static [u8]],
    max_edits: usize,
) -> impl Strategy<Value = Input> {
    let n = seeds.len();
    (0..n, prop::collection::vec(edit(), 0..=max_edits)).prop_map(move |(i, edits)| {
        let mut bytes = seeds[i].clone();
        for e in &edits {
            apply(&mut bytes, e, dict, &seeds);
        }
        Input(bytes)
    })
}

/// Arbitrary bytes, mostly short.
pub fn raw_bytes() -> impl Strategy<Value = Input> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..2048),
    ]
    .prop_map(Input)
}

/// Line-level edits of text seeds: a line dropped, doubled, moved, or its value (after
/// `=` or `:`) replaced by a dictionary token.
pub fn line_mutated(
    seeds: Vec<Vec<u8>>,
    dict: &'static [&'static [u8]],
) -> impl Strategy<Value = Input> {
    let n = seeds.len();
    let op = (0..4u8, any::<Index>(), any::<Index>(), any::<Index>());
    (0..n, prop::collection::vec(op, 1..5)).prop_map(move |(i, ops)| {
        let text = String::from_utf8_lossy(&seeds[i]).into_owned();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (kind, a, b, t) in ops {
            if lines.is_empty() {
                break;
            }
            let at = a.index(lines.len());
            match kind {
                0 => drop(lines.remove(at)),
                1 => lines.insert(at, lines[at].clone()),
                2 => {
                    let moved = lines.remove(at);
                    lines.insert(b.index(lines.len() + 1), moved);
                }
                _ => {
                    let token = String::from_utf8_lossy(dict[t.index(dict.len())]);
                    let line = &lines[at];
                    let cut = line.find(['=', ':']).map_or(0, |c| c + 1);
                    lines[at] = format!("{} {token}", &line[..cut]);
                }
            }
        }
        let mut out = lines.join("\n");
        out.push('\n');
        Input(out.into_bytes())
    })
}

/// Strings that break parsers: edges of number types, escapes, control characters,
/// invalid surrogates, long runs.
pub fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            String::new(),
            "-1".into(),
            "0".into(),
            "-9223372036854775808".into(),
            "9223372036854775807".into(),
            "9223372036854775808".into(),
            "18446744073709551615".into(),
            "18446744073709551616".into(),
            "1e999".into(),
            "NaN".into(),
            "STATUS_CODE_ERROR".into(),
            "SPAN_KIND_CLIENT".into(),
            "LLM".into(),
            "TOOL".into(),
            "RETRIEVER".into(),
            "content_filter".into(),
            "\u{1b}]0;owned\u{7}\u{1b}[2J".into(),
            "\u{0}\r\n\t".into(),
            "ÿ\u{feff}é漢字🦀".into(),
            "0af7651916cd43dd8448eb211c80319c".into(),
            "b7ad6b7169203331".into(),
            "CvdlGRbNQ92ESOshHIAxnA==".into(),
            "t61rcWkgMzE=".into(),
            "x".repeat(5000),
        ]),
        "\\PC{0,24}",
        any::<String>(),
    ]
}

/// Any JSON value, with the shapes and keys OTLP and case files use.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        select(vec![i64::MIN, i64::MAX, -1, 0, 1, 2, 7]).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        nasty_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6)
                .prop_map(|kvs| Value::Object(kvs.into_iter().collect())),
        ]
    })
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            "resourceSpans", "scopeSpans", "spans", "resource", "attributes", "key", "value",
            "stringValue", "intValue", "doubleValue", "boolValue", "arrayValue", "kvlistValue",
            "bytesValue", "values", "traceId", "spanId", "parentSpanId", "startTimeUnixNano",
            "endTimeUnixNano", "status", "code", "message", "events", "name", "kind",
            "type", "threshold", "pattern", "tool", "max_ms", "id", "title", "input",
            "assertions", "reference", "must_pass", "tags", "created_at", "source",
        ])
        .prop_map(str::to_string),
        1 => nasty_string(),
    ]
}

/// Every place in a JSON value, as a JSON pointer.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Structure-aware: one or more places of a JSON seed replaced, dropped or doubled,
/// written compact or pretty. `lines` seeds are JSON Lines: one line is edited.
pub fn json_mutated(seeds: Vec<Value>, lines: bool) -> impl Strategy<Value = Input> {
    let n = seeds.len();
    let op = (0..3u8, any::<Index>(), json_value());
    (0..n, prop::collection::vec(op, 1..4), any::<bool>()).prop_map(move |(i, ops, pretty)| {
        let mut doc = seeds[i].clone();
        for (kind, at, value) in ops {
            let mut places = Vec::new();
            pointers(&doc, String::new(), &mut places);
            let place = &places[at.index(places.len())];
            edit_json(&mut doc, place, kind, value);
        }
        let text = match (&doc, lines) {
            (Value::Array(items), true) => items
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            (_, _) if pretty => serde_json::to_string_pretty(&doc).expect("JSON"),
            _ => doc.to_string(),
        };
        Input(text.into_bytes())
    })
}

fn edit_json(doc: &mut Value, place: &str, kind: u8, value: Value) {
    if place.is_empty() {
        if kind == 0 {
            *doc = value;
        }
        return;
    }
    let (parent, last) = place.rsplit_once('/').expect("a pointer below the root");
    let Some(container) = doc.pointer_mut(parent) else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match (container, kind) {
        (Value::Object(map), 1) => drop(map.remove(&key)),
        (Value::Array(items), 1) => {
            if let Ok(i) = key.parse::<usize>() {
                items.remove(i);
            }
        }
        (Value::Array(items), 2) => {
            if let Ok(i) = key.parse::<usize>() {
                items.insert(i, items[i].clone());
            }
        }
        (c, _) => {
            if let Some(slot) = c.pointer_mut(&format!("/{last}")) {
                *slot = value;
            }
        }
    }
}
