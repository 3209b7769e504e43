//! Regression cases: one pretty-printed JSON file per case in the suite directory
//! (`[suite] dir`, default `evals/cases/`), reviewed and versioned like code.
//!
//! A file is named `<slug of the title>-<short id>.json`; the id is 8 hex digits, unique
//! in the suite and stable across edits of the title. Loading a suite reads every
//! `*.json` file: a bad one is reported with its path and the field at fault, and never
//! hides the good ones.
//!
//! ```json
//! {
//!   "id": "3f9c2a1b",
//!   "title": "refund request refused on v3",
//!   "created_at": "2026-11-20T12:00:00.000Z",
//!   "source": { "trace_id": "4bf9…", "version": "v3", "version_id": "a1b2c3d4e5f6" },
//!   "incident": 1,
//!   "input": "I want a refund for order A-1001",
//!   "reference": "Your refund for order A-1001 has been issued.",
//!   "assertions": [
//!     { "type": "not_refusal" },
//!     { "type": "similar_to_reference", "threshold": 0.6 }
//!   ],
//!   "must_pass": true,
//!   "tags": ["incident", "refusal"]
//! }
//! ```

pub mod assertion;
pub mod export;
pub mod index;
pub mod live;
pub mod suggest;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use assertion::{Assertion, Observed, Verdict};

/// One regression case, as its file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// 8 hex digits; the file name ends with it.
    pub id: String,
    pub title: String,
    /// RFC 3339.
    pub created_at: String,
    /// The trace the case came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The incident the case guards against.
    #[serde(default)]
    pub incident: Option<i64>,
    /// What the workflow is given.
    pub input: String,
    /// A known good output, for `similar_to_reference`.
    #[serde(default)]
    pub reference: Option<String>,
    pub assertions: Vec<Assertion>,
    /// A failure of a must-pass case holds the release whatever else passes.
    #[serde(default)]
    pub must_pass: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Where a case came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub trace_id: String,
    /// The version label the trace ran on, and its fingerprint id.
    pub version: String,
    pub version_id: String,
}

/// A case file that could not be used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadFile {
    pub path: PathBuf,
    /// The field at fault (`assertions[1].pattern`), or `(file)` / `(syntax)`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for BadFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.path.display(),
            self.field,
            self.message
        )
    }
}

/// A case and the file it was read from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Loaded {
    pub path: PathBuf,
    #[serde(flatten)]
    pub case: Case,
    /// SHA-256 of the file's bytes (hex): tells an edited file from an unchanged one.
    #[serde(skip)]
    pub content_hash: String,
}

/// A suite directory's contents: the good cases (by file name) and the bad files.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Suite {
    pub dir: PathBuf,
    pub cases: Vec<Loaded>,
    pub errors: Vec<BadFile>,
}

impl Suite {
    /// Reads every `*.json` file of `dir` (not recursive), in file-name order. A missing
    /// directory is an empty suite.
    pub fn load(dir: &Path) -> Suite {
        let mut suite = Suite {
            dir: dir.to_path_buf(),
            ..Default::default()
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return suite,
            Err(e) => {
                suite.errors.push(BadFile {
                    path: dir.to_path_buf(),
                    field: "(directory)".into(),
                    message: e.to_string(),
                });
                return suite;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            match read_hashed(&path) {
                Ok((case, content_hash)) => suite.cases.push(Loaded {
                    path,
                    case,
                    content_hash,
                }),
                Err(bad) => suite.errors.push(bad),
            }
        }
        // Two files claiming one id: both are suspect, the second is reported.
        let mut seen: std::collections::BTreeMap<String, PathBuf> = Default::default();
        let mut dupes = Vec::new();
        for (i, l) in suite.cases.iter().enumerate() {
            if let Some(first) = seen.insert(l.case.id.clone(), l.path.clone()) {
                dupes.push((i, first));
            }
        }
        for (i, first) in dupes.into_iter().rev() {
            let l = suite.cases.remove(i);
            suite.errors.push(BadFile {
                path: l.path,
                field: "id".into(),
                message: format!("id {:?} is already used by {}", l.case.id, first.display()),
            });
        }
        suite.errors.sort_by(|a, b| a.path.cmp(&b.path));
        suite
    }

    pub fn must_pass(&self) -> usize {
        self.cases.iter().filter(|l| l.case.must_pass).count()
    }
}

/// Reads and validates one case file.
pub fn read_case(path: &Path) -> Result<Case, BadFile> {
    read_hashed(path).map(|(case, _)| case)
}

/// Reads and validates one case file; the case and its file's content hash.
fn read_hashed(path: &Path) -> Result<(Case, String), BadFile> {
    let bad = |field: &str, message: String| BadFile {
        path: path.to_path_buf(),
        field: field.to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad("(file)", e.to_string()))?;
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    let mut de = serde_json::Deserializer::from_str(&text);
    let case: Case = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next());
        let field = if inner.is_syntax() || inner.is_eof() {
            "(syntax)".to_string()
        } else if let Some(name) = missing {
            if field == "." {
                name.to_string()
            } else {
                format!("{field}.{name}")
            }
        } else if field == "." || field.is_empty() {
            // An unknown field named "" is its own (empty) path: say the case instead.
            "(case)".to_string()
        } else {
            field
        };
        bad(&field, message)
    })?;
    de.end().map_err(|e| bad("(syntax)", e.to_string()))?;
    validate(&case).map_err(|(field, message)| bad(&field, message))?;
    Ok((case, hash))
}

/// What serde cannot check; the error names the field.
pub fn validate(case: &Case) -> Result<(), (String, String)> {
    if case.id.len() < 4
        || !case
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err((
            "id".into(),
            "an id is at least 4 letters, digits or dashes".into(),
        ));
    }
    if case.title.trim().is_empty() {
        return Err(("title".into(), "a case needs a title".into()));
    }
    if chrono::DateTime::parse_from_rfc3339(&case.created_at).is_err() {
        return Err((
            "created_at".into(),
            "not an RFC 3339 time (e.g. 2026-11-20T12:00:00Z)".into(),
        ));
    }
    if case.assertions.is_empty() {
        return Err((
            "assertions".into(),
            "a case needs at least one assertion".into(),
        ));
    }
    for (i, a) in case.assertions.iter().enumerate() {
        a.validate(case.reference.is_some())
            .map_err(|(field, msg)| (format!("assertions[{i}].{field}"), msg))?;
    }
    Ok(())
}

/// Lower-case words joined by dashes, at most 48 characters: `refund-request-refused-on-v3`.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 48 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "case".into() } else { out }
}

/// A short id from what makes a case unique (its source and the moment it was made).
pub fn short_id(seed: &str) -> String {
    hex::encode(&Sha256::digest(seed.as_bytes())[..4])
}

/// The file name a case is saved under.
pub fn file_name(case: &Case) -> String {
    format!("{}-{}.json", slug(&case.title), case.id)
}

/// Writes a case into `dir` (created if needed) atomically: a temporary file in the same
/// directory, flushed, then renamed over the final name. Refuses to overwrite another
/// case's file. Returns the path.
pub fn save(dir: &Path, case: &Case) -> std::io::Result<PathBuf> {
    validate(case).map_err(|(field, msg)| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{field}: {msg}"))
    })?;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(case));
    if let Ok(existing) = read_case(&path)
        && existing.id != case.id
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} holds another case", path.display()),
        ));
    }
    let mut text = serde_json::to_string_pretty(case).map_err(std::io::Error::other)?;
    text.push('\n');
    let tmp = dir.join(format!(".{}.tmp-{}", file_name(case), std::process::id()));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    if let Err(e) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> Case {
        Case {
            id: "3f9c2a1b".into(),
            title: "Refund request refused on v3!".into(),
            created_at: "2026-11-20T12:00:00.000Z".into(),
            source: None,
            incident: Some(1),
            input: "refund please".into(),
            reference: Some("Your refund is on its way.".into()),
            assertions: vec![
                Assertion::NotRefusal,
                Assertion::SimilarToReference { threshold: 0.6 },
            ],
            must_pass: true,
            tags: vec!["incident".into()],
        }
    }

    #[test]
    fn slugs_and_names() {
        assert_eq!(
            slug("Refund request refused on v3!"),
            "refund-request-refused-on-v3"
        );
        assert_eq!(slug("  ¿¿ "), "case");
        assert_eq!(
            file_name(&case()),
            "refund-request-refused-on-v3-3f9c2a1b.json"
        );
        assert_eq!(short_id("x").len(), 8);
    }

    #[test]
    fn saves_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = save(&dir.path().join("evals/cases"), &case()).unwrap();
        assert_eq!(read_case(&path).unwrap(), case());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n  \"title\""), "pretty-printed: {text}");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // Saving again (an edit) replaces the file.
        let mut edited = case();
        edited.tags.push("edited".into());
        assert_eq!(
            save(&dir.path().join("evals/cases"), &edited).unwrap(),
            path
        );
    }

    #[test]
    fn bad_files_name_file_and_field_and_hide_nothing() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &case()).unwrap();
        let w = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        w("syntax.json", "{\"id\": ");
        w(
            "regex.json",
            r#"{"id": "aaaa1111", "title": "t", "created_at": "2026-11-20T12:00:00Z",
                "input": "i", "assertions": [{"type": "not_refusal"},
                {"type": "regex", "pattern": "("}]}"#,
        );
        w(
            "typo.json",
            r#"{"id": "bbbb2222", "title": "t", "created_at": "2026-11-20T12:00:00Z",
                "input": "i", "assertions": [{"type": "contains", "valeu": "x"}]}"#,
        );
        w(
            "missing.json",
            r#"{"id": "cccc3333", "title": "t", "created_at": "2026-11-20T12:00:00Z",
                "assertions": [{"type": "is_json"}]}"#,
        );
        w("notes.txt", "not a case");
        let suite = Suite::load(dir.path());
        assert_eq!(suite.cases.len(), 1);
        let errs: Vec<(String, String)> = suite
            .errors
            .iter()
            .map(|e| {
                (
                    e.path.file_name().unwrap().to_string_lossy().into_owned(),
                    e.field.clone(),
                )
            })
            .collect();
        assert_eq!(
            errs,
            [
                ("missing.json".into(), "input".into()),
                ("regex.json".into(), "assertions[1].pattern".into()),
                ("syntax.json".into(), "(syntax)".into()),
                ("typo.json".into(), "assertions[0]".into()),
            ]
        );
        let missing = &suite.errors[0].message;
        assert!(missing.contains("missing field `input`"), "{missing}");
        assert!(suite.errors[3].message.contains("valeu"));
    }

    #[test]
    fn missing_dir_is_an_empty_suite() {
        let s = Suite::load(Path::new("/nonexistent/evals/cases"));
        assert!(s.cases.is_empty() && s.errors.is_empty());
    }
}
