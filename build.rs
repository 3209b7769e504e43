//! The peer tests need real programs: Arize Phoenix, Prometheus, Alertmanager,
//! PostgreSQL, promptfoo and tmux. A missing one fails its test, unless the run says
//! `RELOPS_ALLOW_SKIP=1`: then each such test is compiled as ignored, with the reason,
//! so the skip shows in `cargo test`'s summary (`N ignored`), not only on stderr.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for var in ["RELOPS_ALLOW_SKIP", "RELOPS_PEERS_DIR", "PATH"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let peers_dir = std::env::var_os("RELOPS_PEERS_DIR")
        .map_or_else(|| PathBuf::from("/opt/relops-peers"), PathBuf::from);
    let allow = std::env::var("RELOPS_ALLOW_SKIP").as_deref() == Ok("1");
    let peers = [
        (
            "phoenix",
            peers_dir.join("phoenix-venv/bin/phoenix").is_file(),
        ),
        (
            "promptfoo",
            peers_dir
                .join("promptfoo/node_modules/.bin/promptfoo")
                .exists(),
        ),
        ("prometheus", on_path("prometheus")),
        (
            "alertmanager",
            Path::new("/usr/bin/prometheus-alertmanager").is_file() || on_path("alertmanager"),
        ),
        ("postgres", on_path("postgres") || on_path("pg_ctl")),
        ("tmux", on_path("tmux")),
    ];
    for (peer, present) in peers {
        println!("cargo::rustc-check-cfg=cfg(skip_{peer})");
        if allow && !present {
            println!("cargo::rustc-cfg=skip_{peer}");
            println!(
                "cargo::warning={peer} is not installed: its tests are marked ignored (RELOPS_ALLOW_SKIP=1)"
            );
        }
    }
    if allow {
        // Installing a peer later must bring its tests back.
        let venv_missing = !peers[0].1 || !peers[1].1;
        let peers_watch = venv_missing.then_some(peers_dir.as_path());
        let bins = [Path::new("/usr/bin"), Path::new("/usr/local/bin")];
        for dir in peers_watch.into_iter().chain(bins) {
            if dir.is_dir() {
                println!("cargo::rerun-if-changed={}", dir.display());
            }
        }
    }
}

fn on_path(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .any(|d| d.join(name).is_file())
}
