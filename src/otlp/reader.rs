//! Streams OTLP/JSON files without holding them in memory.
//!
//! Two layouts exist in the wild: one `ExportTraceServiceRequest` per line (the
//! Collector's file exporter) and one pretty-printed document per file. Lines are parsed
//! one at a time, so a broken line is skipped with its number; a document is parsed
//! incrementally, handing over one `resourceSpans` entry at a time.

use std::fmt;
use std::io::{BufRead, Cursor, Read};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Attributes, KeyValue, flatten};

/// The spans of one `scopeSpans` entry with their resource's attributes.
pub struct Batch {
    /// 1-based line of the source file in line layout.
    pub line: Option<usize>,
    pub resource: Attributes,
    pub scope: Option<String>,
    /// Each span unparsed, so that one bad span cannot spoil its neighbours.
    pub spans: Vec<Box<RawValue>>,
}

/// A part of the input that could not be read; reading goes on after it when it can.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadError {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawResourceSpans {
    #[serde(default)]
    resource: Option<RawResource>,
    #[serde(default)]
    scope_spans: Vec<RawScopeSpans>,
}

#[derive(Deserialize)]
struct RawResource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct RawScopeSpans {
    #[serde(default)]
    scope: Option<RawScope>,
    #[serde(default)]
    spans: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
struct RawScope {
    #[serde(default)]
    name: Option<String>,
}

/// Reads OTLP/JSON from any buffered reader.
pub struct DocumentReader<R> {
    input: R,
}

impl<R: BufRead> DocumentReader<R> {
    pub fn new(input: R) -> Self {
        Self { input }
    }

    /// Hands every batch to `on_batch` and every unreadable part to `on_error`. An error
    /// returned by `on_batch` stops reading and is returned.
    pub fn read<E>(
        mut self,
        mut on_batch: impl FnMut(Batch) -> Result<(), E>,
        mut on_error: impl FnMut(ReadError),
    ) -> Result<(), E> {
        let mut line = Vec::new();
        let mut number = 0;
        // Find the first non-blank line to tell the layouts apart.
        loop {
            match next_line(&mut self.input, &mut line, &mut number) {
                Next::End => return Ok(()),
                Next::Broken(e) => {
                    on_error(e);
                    return Ok(());
                }
                Next::Line => {}
            }
            if !line.trim_ascii().is_empty() {
                break;
            }
        }
        if is_whole_document(&line) {
            self.read_lines(line, number, &mut on_batch, &mut on_error)
        } else {
            let rest = Cursor::new(line).chain(self.input);
            read_document(rest, number, &mut on_batch, &mut on_error)
        }
    }

    fn read_lines<E>(
        mut self,
        mut line: Vec<u8>,
        mut number: usize,
        on_batch: &mut impl FnMut(Batch) -> Result<(), E>,
        on_error: &mut impl FnMut(ReadError),
    ) -> Result<(), E> {
        loop {
            if let Some(e) = read_line(&line, number, on_batch)? {
                on_error(e);
            }
            match next_line(&mut self.input, &mut line, &mut number) {
                Next::End => return Ok(()),
                Next::Broken(e) => {
                    on_error(e);
                    return Ok(());
                }
                Next::Line => {}
            }
        }
    }
}

/// What reading one more line gave.
enum Next {
    Line,
    End,
    /// The input itself failed (not its content): nothing more can be read.
    Broken(ReadError),
}

/// Reads the next line's bytes (any bytes: its content is judged by [`read_line`], so
/// that a bad byte costs that line only).
fn next_line(input: &mut impl BufRead, line: &mut Vec<u8>, number: &mut usize) -> Next {
    line.clear();
    match input.read_until(b'\n', line) {
        Ok(0) => Next::End,
        Ok(_) => {
            *number += 1;
            Next::Line
        }
        Err(e) => Next::Broken(ReadError {
            line: Some(*number + 1),
            message: e.to_string(),
        }),
    }
}

/// Parses one line of the line layout; a blank line is nothing, an unreadable one an
/// error for its number. `Err` only when `on_batch` stops the reading.
fn read_line<E>(
    line: &[u8],
    number: usize,
    on_batch: &mut impl FnMut(Batch) -> Result<(), E>,
) -> Result<Option<ReadError>, E> {
    let rejected = |message: String| {
        Ok(Some(ReadError {
            line: Some(number),
            message,
        }))
    };
    let text = match std::str::from_utf8(line) {
        Ok(t) => t,
        Err(e) => {
            return rejected(format!(
                "not UTF-8 text (a bad byte at column {}): not an OTLP/JSON trace export",
                e.valid_up_to() + 1
            ));
        }
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let mut sink = Sink::new(Some(number), on_batch);
    let parsed = RequestSeed { sink: &mut sink }
        .deserialize(&mut de)
        .and_then(|shape| de.end().map(|()| shape));
    if let Some(e) = sink.failed.take() {
        return Err(e);
    }
    match parsed {
        Err(e) => rejected(format!("not an OTLP/JSON trace export: {e}")),
        Ok(Shape::Foreign(keys)) => rejected(foreign(&keys)),
        Ok(Shape::Otlp) => Ok(None),
    }
}

/// Why a JSON object that is not a trace export was rejected.
fn foreign(keys: &[String]) -> String {
    format!(
        "not an OTLP/JSON trace export: no \"resourceSpans\" (its keys: {})",
        keys.join(", ")
    )
}

/// Line layout unless the first line visibly opens a pretty-printed document (`{` alone,
/// or a line that ends inside a structure). A truncated first line of a line-layout file
/// still reads as line layout, so only that line is lost.
fn is_whole_document(first_line: &[u8]) -> bool {
    let t = first_line.trim_ascii();
    !(t == b"{" || t.ends_with(b"[") || t.ends_with(b"{") || t.ends_with(b",") || t.ends_with(b":"))
}

fn read_document<E>(
    input: impl Read,
    first_line: usize,
    on_batch: &mut impl FnMut(Batch) -> Result<(), E>,
    on_error: &mut impl FnMut(ReadError),
) -> Result<(), E> {
    let mut de = serde_json::Deserializer::from_reader(input);
    let mut sink = Sink::new(None, on_batch);
    let parsed = RequestSeed { sink: &mut sink }
        .deserialize(&mut de)
        .and_then(|shape| de.end().map(|()| shape));
    if let Some(e) = sink.failed.take() {
        return Err(e);
    }
    match parsed {
        Err(e) => {
            // serde_json counts lines from the start of the stream it was given.
            let line = (e.line() > 0).then(|| e.line() + first_line - 1);
            on_error(ReadError {
                line,
                message: format!("not an OTLP/JSON trace export: {e}"),
            });
        }
        Ok(Shape::Foreign(keys)) => on_error(ReadError {
            line: Some(first_line),
            message: foreign(&keys),
        }),
        Ok(Shape::Otlp) => {}
    }
    Ok(())
}

/// Receives batches while the deserializer runs; keeps the first sink error aside
/// because serde can only carry its own error type.
struct Sink<'a, F, E> {
    line: Option<usize>,
    on_batch: &'a mut F,
    failed: Option<E>,
}

impl<'a, F: FnMut(Batch) -> Result<(), E>, E> Sink<'a, F, E> {
    fn new(line: Option<usize>, on_batch: &'a mut F) -> Self {
        Self {
            line,
            on_batch,
            failed: None,
        }
    }

    fn emit(&mut self, rs: RawResourceSpans) -> bool {
        let mut resource = Attributes::new();
        if let Some(r) = rs.resource {
            flatten(r.attributes, &mut resource);
        }
        for ss in rs.scope_spans {
            let batch = Batch {
                line: self.line,
                resource: resource.clone(),
                scope: ss.scope.and_then(|s| s.name),
                spans: ss.spans,
            };
            if let Err(e) = (self.on_batch)(batch) {
                self.failed = Some(e);
                return false;
            }
        }
        true
    }
}

struct RequestSeed<'s, 'a, F, E> {
    sink: &'s mut Sink<'a, F, E>,
}

/// What a JSON object turned out to be: a trace export (with `resourceSpans`, or empty,
/// as protobuf's JSON mapping writes an empty export), or some other document.
enum Shape {
    Otlp,
    /// Its first few keys, quoted.
    Foreign(Vec<String>),
}

/// Keys of a foreign document named in its rejection.
const KEYS_SHOWN: usize = 5;

impl<'de, F: FnMut(Batch) -> Result<(), E>, E> DeserializeSeed<'de> for RequestSeed<'_, '_, F, E> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(Batch) -> Result<(), E>, E> Visitor<'de> for RequestSeed<'_, '_, F, E> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with resourceSpans")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let (mut otlp, mut keys) = (false, Vec::new());
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "resourceSpans" {
                otlp = true;
                map.next_value_seed(ResourceSpansSeq { sink: self.sink })?;
            } else {
                if keys.len() < KEYS_SHOWN {
                    // Debug quoting: a key is trace data, never raw terminal text.
                    keys.push(format!("{key:?}"));
                }
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(if otlp || keys.is_empty() {
            Shape::Otlp
        } else {
            Shape::Foreign(keys)
        })
    }
}

struct ResourceSpansSeq<'s, 'a, F, E> {
    sink: &'s mut Sink<'a, F, E>,
}

impl<'de, F: FnMut(Batch) -> Result<(), E>, E> DeserializeSeed<'de>
    for ResourceSpansSeq<'_, '_, F, E>
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Batch) -> Result<(), E>, E> Visitor<'de> for ResourceSpansSeq<'_, '_, F, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of resourceSpans")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(rs) = seq.next_element::<RawResourceSpans>()? {
            if !self.sink.emit(rs) {
                return Err(de::Error::custom("import aborted"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Vec<(Option<usize>, usize)>, Vec<ReadError>) {
        let mut batches = vec![];
        let mut errors = vec![];
        DocumentReader::new(text.as_bytes())
            .read::<()>(
                |b| {
                    batches.push((b.line, b.spans.len()));
                    Ok(())
                },
                |e| errors.push(e),
            )
            .unwrap();
        (batches, errors)
    }

    const LINE: &str = r#"{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"spans":[{"a":1},{"b":2}]}]}]}"#;

    #[test]
    fn line_layout_skips_only_the_broken_line() {
        let text = format!("{LINE}\n{{\"resourceSpans\": [oops\n\n{LINE}\n");
        let (batches, errors) = read(&text);
        assert_eq!(batches, vec![(Some(1), 2), (Some(4), 2)]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, Some(2));
    }

    #[test]
    fn a_truncated_first_line_loses_only_itself() {
        let text = format!("{{\"resourceSpans\":[{{\"resou\n{LINE}\n");
        let (batches, errors) = read(&text);
        assert_eq!(batches, vec![(Some(2), 2)]);
        assert_eq!(errors[0].line, Some(1));
    }

    #[test]
    fn pretty_document_is_streamed() {
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(LINE).unwrap())
                .unwrap();
        let (batches, errors) = read(&format!("\n{pretty}\n"));
        assert_eq!(batches, vec![(None, 2)]);
        assert!(errors.is_empty());
    }

    #[test]
    fn truncated_document_reports_position_and_keeps_earlier_batches() {
        let text = "{\n \"resourceSpans\": [\n  {\"scopeSpans\":[{\"spans\":[{}]}]},\n  {\"scopeSp";
        let (batches, errors) = read(text);
        assert_eq!(batches.len(), 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, Some(4));
    }

    #[test]
    fn a_bad_byte_costs_its_line_only() {
        let mut text = Vec::new();
        for i in 1..=5 {
            if i == 3 {
                text.extend_from_slice(b"{\"resourceSpans\": [\xff\xfe]}\n");
            } else {
                text.extend_from_slice(format!("{LINE}\n").as_bytes());
            }
        }
        let mut batches = vec![];
        let mut errors = vec![];
        DocumentReader::new(&text[..])
            .read::<()>(
                |b| {
                    batches.push(b.line);
                    Ok(())
                },
                |e| errors.push(e),
            )
            .unwrap();
        assert_eq!(batches, [Some(1), Some(2), Some(4), Some(5)]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, Some(3));
        assert!(
            errors[0]
                .message
                .contains("not UTF-8 text (a bad byte at column 20)"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn json_that_is_no_trace_export_is_rejected_and_an_empty_export_is_not() {
        let (batches, errors) = read("{\"users\": [1, 2], \"next\": null}\n{}\n");
        assert!(batches.is_empty());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, Some(1));
        assert_eq!(
            errors[0].message,
            "not an OTLP/JSON trace export: no \"resourceSpans\" (its keys: \"users\", \"next\")"
        );
        let (_, errors) = read("{\n  \"data\": {\"x\": 1}\n}\n");
        assert_eq!(errors.len(), 1, "a pretty document too: {errors:?}");
        assert!(errors[0].message.contains("no \"resourceSpans\""));
        let (_, errors) = read("[1, 2, 3]\n");
        assert!(errors[0].message.contains("not an OTLP/JSON trace export"));
    }

    #[test]
    fn sink_error_stops_reading() {
        let text = format!("{LINE}\n{LINE}\n");
        let mut seen = 0;
        let out = DocumentReader::new(text.as_bytes()).read(
            |_| {
                seen += 1;
                Err("disk full")
            },
            |_| {},
        );
        assert_eq!(out, Err("disk full"));
        assert_eq!(seen, 1);
    }
}
