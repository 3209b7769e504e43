//! Follows OTLP JSON lines as the Collector's file exporter writes them: a file, or a
//! directory of `*.json` / `*.jsonl` files. The cursor holds each file's byte offset
//! and line; only complete lines are read, so a line being written is read next time.
//! A file that shrank was rotated or truncated and is read again from the start.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BoxFuture, Page, PullContext, PullError, Records, Source, SourceConfig};
use crate::ingest::{Resource, SpanRecord};
use crate::otlp::DocumentReader;

/// Bytes read per page: memory stays flat however far behind the follower is.
const PAGE_BYTES: u64 = 8 << 20;

pub struct OtlpFile {
    config: SourceConfig,
    path: PathBuf,
}

/// Where each followed file has been read to.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Offsets(BTreeMap<String, Position>);

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
struct Position {
    offset: u64,
    line: usize,
}

impl OtlpFile {
    pub fn new(config: &SourceConfig) -> Self {
        Self {
            config: config.clone(),
            path: config.path.clone().unwrap_or_default(),
        }
    }

    /// The files followed, in name order.
    fn files(&self) -> Result<Vec<PathBuf>, PullError> {
        let unreadable =
            |e: std::io::Error| PullError::Unavailable(format!("{}: {e}", self.path.display()));
        if !self.path.is_dir() {
            return match self.path.exists() {
                true => Ok(vec![self.path.clone()]),
                false => Err(PullError::Unavailable(format!(
                    "{}: no such file or directory",
                    self.path.display()
                ))),
            };
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.path)
            .map_err(unreadable)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("json" | "jsonl")
                    )
            })
            .collect();
        files.sort();
        Ok(files)
    }

    fn pull_blocking(&self, cursor: Option<&str>, cx: &PullContext) -> Result<Page, PullError> {
        let mut offsets: Offsets = match cursor {
            Some(c) => serde_json::from_str(c)
                .map_err(|e| PullError::Malformed(format!("saved cursor: {e}")))?,
            None => Offsets::default(),
        };
        let mut spans = Vec::new();
        let mut rejected = Vec::new();
        let mut budget = PAGE_BYTES;
        let mut more = false;
        for file in self.files()? {
            let key = file.display().to_string();
            let mut at = offsets.0.get(&key).copied().unwrap_or_default();
            let len = std::fs::metadata(&file)
                .map_err(|e| PullError::Unavailable(format!("{key}: {e}")))?
                .len();
            if len < at.offset {
                at = Position::default();
            }
            if budget == 0 {
                more |= len > at.offset;
                continue;
            }
            let read = read_lines(&file, at, budget, cx, &mut spans, &mut rejected)?;
            budget = budget.saturating_sub(read.offset - at.offset);
            more |= read.more;
            offsets.0.insert(key, read.position());
        }
        Ok(Page {
            records: Records::Spans(spans),
            rejected,
            cursor: serde_json::to_string(&offsets).expect("offsets serialise"),
            high_water_ns: None,
            more,
        })
    }
}

/// How far a read got.
struct Reached {
    offset: u64,
    line: usize,
    /// Complete lines remain beyond the budget.
    more: bool,
}

impl Reached {
    fn position(&self) -> Position {
        Position {
            offset: self.offset,
            line: self.line,
        }
    }
}

/// Reads the complete lines of `file` after `at`, up to about `budget` bytes.
fn read_lines(
    file: &Path,
    at: Position,
    budget: u64,
    cx: &PullContext,
    spans: &mut Vec<SpanRecord>,
    rejected: &mut Vec<String>,
) -> Result<Reached, PullError> {
    let name = file.display().to_string();
    let io = |e: std::io::Error| PullError::Unavailable(format!("{name}: {e}"));
    let mut f = std::fs::File::open(file).map_err(io)?;
    f.seek(SeekFrom::Start(at.offset)).map_err(io)?;
    let mut reader = BufReader::new(f.take(budget.max(1 << 20) * 2));
    // Bytes, not text: a line that is not UTF-8 is the parser's to reject with its
    // place; as an I/O error it would stop the follower at that offset for good.
    let (mut chunk, mut line) = (Vec::new(), Vec::new());
    let (mut offset, mut lines) = (at.offset, at.line);
    let mut more = false;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io)?;
        if n == 0 || !line.ends_with(b"\n") {
            break; // end of file, or a line still being written
        }
        if offset - at.offset >= budget {
            more = true;
            break;
        }
        chunk.extend_from_slice(&line);
        offset += n as u64;
        lines += 1;
    }
    parse(&chunk, &name, at.line, cx, spans, rejected);
    Ok(Reached {
        offset,
        line: lines,
        more,
    })
}

/// Parses complete OTLP JSON lines; a bad line or span is rejected with its place.
fn parse(
    chunk: &[u8],
    name: &str,
    first_line: usize,
    cx: &PullContext,
    spans: &mut Vec<SpanRecord>,
    rejected: &mut Vec<String>,
) {
    let place = |line: Option<usize>| match line {
        Some(l) => format!("{name}:{}", first_line + l),
        None => name.to_string(),
    };
    let mut errors = Vec::new();
    let _ = DocumentReader::new(chunk).read(
        |batch| {
            let resource = Resource::new(batch.resource);
            for raw in &batch.spans {
                match cx.extractor.record(&resource, raw.get()) {
                    Ok(r) => spans.push(r),
                    Err(e) => rejected.push(format!("{}: span: {e}", place(batch.line))),
                }
            }
            Ok::<(), ()>(())
        },
        |e| errors.push(format!("{}: {}", place(e.line), e.message)),
    );
    rejected.extend(errors);
}

impl Source for OtlpFile {
    fn config(&self) -> &SourceConfig {
        &self.config
    }

    fn pull<'a>(
        &'a self,
        cursor: Option<&'a str>,
        cx: &'a PullContext,
    ) -> BoxFuture<'a, Result<Page, PullError>> {
        // Plain file reads of at most a few MiB: quick enough not to need a thread.
        Box::pin(async move { self.pull_blocking(cursor, cx) })
    }

    fn probe(&self) -> BoxFuture<'_, Result<String, PullError>> {
        Box::pin(async move {
            let files = self.files()?;
            Ok(format!("{} file(s) to follow", files.len()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Detection, VersionMapping};
    use crate::ingest::Extractor;
    use std::io::Write;

    fn line(trace: char, span: char) -> String {
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[]}},"scopeSpans":[{{"spans":[{{"traceId":"{}","spanId":"{}","name":"x","startTimeUnixNano":"1","endTimeUnixNano":"2"}}]}}]}}]}}"#,
            trace.to_string().repeat(32),
            span.to_string().repeat(16)
        ) + "\n"
    }

    fn cx() -> PullContext {
        PullContext {
            extractor: std::sync::Arc::new(Extractor::new(
                &VersionMapping::default(),
                &Detection::default(),
            )),
            now_ns: 0,
        }
    }

    fn follow(path: &Path) -> OtlpFile {
        let text = format!(
            "name = 'f'\nkind = 'otlp-file'\npath = {:?}",
            path.display().to_string()
        );
        OtlpFile::new(&toml::from_str(&text).unwrap())
    }

    fn spans(page: &Page) -> usize {
        page.records.len()
    }

    #[test]
    fn follows_complete_lines_and_resumes_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(line('a', '1').as_bytes()).unwrap();
        let half = line('b', '2');
        f.write_all(&half.as_bytes()[..40]).unwrap();
        let src = follow(&path);
        let first = src.pull_blocking(None, &cx()).unwrap();
        assert_eq!((spans(&first), first.more), (1, false));
        f.write_all(&half.as_bytes()[40..]).unwrap();
        let second = src.pull_blocking(Some(&first.cursor), &cx()).unwrap();
        assert_eq!(spans(&second), 1, "the finished line, once");
        let third = src.pull_blocking(Some(&second.cursor), &cx()).unwrap();
        assert_eq!(spans(&third), 0);
    }

    #[test]
    fn a_bad_line_is_rejected_with_its_number_and_the_rest_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let text = format!("{}{{broken\n{}", line('a', '1'), line('c', '3'));
        std::fs::write(&path, text).unwrap();
        let page = follow(dir.path()).pull_blocking(None, &cx()).unwrap();
        assert_eq!(spans(&page), 2);
        assert_eq!(page.rejected.len(), 1);
        assert!(page.rejected[0].contains("t.json:2"), "{:?}", page.rejected);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_rejected_with_its_place_and_the_follower_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut bytes = line('a', '1').into_bytes();
        bytes.extend_from_slice(b"{\"resourceSpans\":[\xc3\x28]}\n");
        bytes.extend_from_slice(line('c', '3').as_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let src = follow(&path);
        let page = src.pull_blocking(None, &cx()).unwrap();
        assert_eq!(spans(&page), 2, "the lines on both sides of it");
        assert_eq!(page.rejected.len(), 1, "{:?}", page.rejected);
        let place = format!("{}:2: not UTF-8 text", path.display());
        assert!(page.rejected[0].starts_with(&place), "{:?}", page.rejected);
        // Past it for good: the next pull reads what is appended, not the bad line again.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(line('d', '4').as_bytes()).unwrap();
        let next = src.pull_blocking(Some(&page.cursor), &cx()).unwrap();
        assert_eq!((spans(&next), next.rejected.len()), (1, 0));
    }

    #[test]
    fn a_truncated_file_is_read_again_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, line('a', '1').repeat(3)).unwrap();
        let src = follow(&path);
        let first = src.pull_blocking(None, &cx()).unwrap();
        std::fs::write(&path, line('d', '4')).unwrap();
        let again = src.pull_blocking(Some(&first.cursor), &cx()).unwrap();
        assert_eq!(spans(&again), 1);
    }

    #[test]
    fn a_missing_path_is_unavailable() {
        let src = follow(Path::new("/nonexistent/relops/x.jsonl"));
        let err = src.pull_blocking(None, &cx()).unwrap_err();
        assert!(matches!(err, PullError::Unavailable(_)), "{err:?}");
    }
}
