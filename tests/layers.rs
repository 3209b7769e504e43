//! The layering rule of DESIGN.md, checked: a room imports only from its own floor or
//! below. Reads every source file for `crate::<room>` paths.

use std::collections::BTreeMap;
use std::path::Path;

/// Floors from the ground up. `config` gathers every room's settings types, so it may
/// name them; everything else follows the table.
const FLOORS: &[&[&str]] = &[
    &["model", "clock", "text", "secret", "period", "otlp"],
    &["audit", "http", "config", "workspace"],
    &["store"],
    &[
        "ingest", "sources", "sync", "collect", "drift", "replay", "rollout", "runbook", "cases",
        "review", "incident",
    ],
    &["services"],
    &["gate", "report", "guard"],
    &["cli", "tui"],
    &["demo"],
];

/// Known edges that break the table, each with the reason it stands; the list only
/// shrinks.
const EXCEPTIONS: &[(&str, &str)] = &[
    // The settings structs live beside the code that reads them.
    ("config", "*"),
    ("workspace", "*"),
    // The writer stores ingest's span records (to move to `model`).
    ("store", "ingest"),
    ("audit", "store"),
    // The console's entry point.
    ("cli", "tui"),
    ("cli", "demo"),
];

fn floor(room: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&room))
}

fn rooms_used(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

fn walk(dir: &Path, room: Option<&str>, out: &mut BTreeMap<String, Vec<(String, String)>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let here = room.map_or(name.clone(), str::to_string);
        if path.is_dir() {
            walk(&path, Some(&here), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for used in rooms_used(&text) {
                out.entry(here.clone())
                    .or_default()
                    .push((used, path.display().to_string()));
            }
        }
    }
}

#[test]
fn no_room_imports_from_a_floor_above_it() {
    let mut uses = BTreeMap::new();
    walk(Path::new("src"), None, &mut uses);
    let mut wrong = Vec::new();
    for (room, used) in &uses {
        if matches!(room.as_str(), "main" | "lib") {
            continue;
        }
        let Some(mine) = floor(room) else {
            wrong.push(format!(
                "src/{room}: a room with no floor in tests/layers.rs"
            ));
            continue;
        };
        for (other, file) in used {
            let Some(theirs) = floor(other) else { continue };
            let excused = EXCEPTIONS
                .iter()
                .any(|(a, b)| a == room && (*b == "*" || b == other));
            if theirs > mine && !excused {
                wrong.push(format!(
                    "{file}: {room} imports crate::{other} from a floor above"
                ));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import() {
    assert_eq!(
        rooms_used("use crate::tui::widgets; crate::x"),
        ["tui", "x"]
    );
    assert!(floor("store") < floor("tui"));
}
