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
        let mut line = String::new();
        let mut number = 0;
        // Find the first non-blank line to tell the layouts apart.
        loop {
            line.clear();
            match self.input.read_line(&mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => number += 1,
                Err(e) => {
                    on_error(ReadError {
                        line: Some(number + 1),
                        message: e.to_string(),
                    });
                    return Ok(());
                }
            }
            if !line.trim().is_empty() {
                break;
            }
        }
        if is_whole_document(&line) {
            self.read_lines(line, number, &mut on_batch, &mut on_error)
        } else {
            let rest = Cursor::new(line.into_bytes()).chain(self.input);
            read_document(rest, number, &mut on_batch, &mut on_error)
        }
    }

    fn read_lines<E>(
        mut self,
        mut line: String,
        mut number: usize,
        on_batch: &mut impl FnMut(Batch) -> Result<(), E>,
        on_error: &mut impl FnMut(ReadError),
    ) -> Result<(), E> {
        loop {
            if !line.trim().is_empty() {
                let mut de = serde_json::Deserializer::from_str(&line);
                let mut sink = Sink::new(Some(number), on_batch);
                let parsed = RequestSeed { sink: &mut sink }
                    .deserialize(&mut de)
                    .and_then(|()| de.end());
                if let Some(e) = sink.failed.take() {
                    return Err(e);
                }
                if let Err(e) = parsed {
                    on_error(ReadError {
                        line: Some(number),
                        message: format!("not an OTLP/JSON trace export: {e}"),
                    });
                }
            }
            line.clear();
            match self.input.read_line(&mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => number += 1,
                Err(e) => {
                    on_error(ReadError {
                        line: Some(number + 1),
                        message: e.to_string(),
                    });
                    return Ok(());
                }
            }
        }
    }
}

/// Line layout unless the first line visibly opens a pretty-printed document (`{` alone,
/// or a line that ends inside a structure). A truncated first line of a line-layout file
/// still reads as line layout, so only that line is lost.
fn is_whole_document(first_line: &str) -> bool {
    let t = first_line.trim();
    !(t == "{" || t.ends_with(['[', '{', ',', ':']))
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
        .and_then(|()| de.end());
    if let Some(e) = sink.failed.take() {
        return Err(e);
    }
    if let Err(e) = parsed {
        // serde_json counts lines from the start of the stream it was given.
        let line = (e.line() > 0).then(|| e.line() + first_line - 1);
        on_error(ReadError {
            line,
            message: format!("not an OTLP/JSON trace export: {e}"),
        });
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

impl<'de, F: FnMut(Batch) -> Result<(), E>, E> DeserializeSeed<'de> for RequestSeed<'_, '_, F, E> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(Batch) -> Result<(), E>, E> Visitor<'de> for RequestSeed<'_, '_, F, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with resourceSpans")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "resourceSpans" {
                map.next_value_seed(ResourceSpansSeq { sink: self.sink })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
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
