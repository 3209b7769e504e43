//! Where a workspace's config and cache live.
//!
//! Config: `--config`, else `$RELOPS_CONFIG`, else `./relops.toml` (a missing default
//! file means built-in defaults). Cache: `--db`, else `$RELOPS_DB`, else the file the
//! config names (relative to the config's directory), else one database per workspace
//! in the platform data directory.

use std::path::{Path, PathBuf};

use directories::ProjectDirs;
use sha2::{Digest, Sha256};

use crate::config::{Config, ConfigError};

pub const DEFAULT_CONFIG: &str = "relops.toml";

/// A resolved workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub config_path: PathBuf,
    pub config: Config,
    pub db_path: PathBuf,
    pub readonly: bool,
}

impl Workspace {
    /// Resolves paths and loads the config. `config` is `None` when neither the flag nor
    /// the environment named one.
    pub fn open(
        config: Option<&Path>,
        db: Option<&Path>,
        readonly: bool,
    ) -> Result<Self, ConfigError> {
        let explicit = config.is_some();
        let config_path = config.map_or_else(|| PathBuf::from(DEFAULT_CONFIG), Path::to_path_buf);
        let config = if !explicit && !config_path.exists() {
            Config::default()
        } else {
            Config::load(&config_path)?
        };
        let db_path = match db {
            Some(p) => p.to_path_buf(),
            None => default_db(&config_path, &config),
        };
        install_identity(&config_path, &config);
        Ok(Self {
            config_path,
            config,
            db_path,
            readonly,
        })
    }

    /// The suite directory (`suite.dir`, relative to the config's directory).
    pub fn suite_dir(&self) -> PathBuf {
        config_dir(&self.config_path).join(&self.config.suite.dir)
    }

    /// The workspace's display name.
    pub fn name(&self) -> String {
        self.config.workspace.name.clone().unwrap_or_else(|| {
            config_dir(&self.config_path)
                .file_name()
                .map_or_else(|| "relops".into(), |n| n.to_string_lossy().into_owned())
        })
    }
}

/// Makes the config's operator, signing keys and audit key the process's, so every
/// audit row it writes is named, sealed and signed alike.
fn install_identity(config_path: &Path, config: &Config) {
    let dir = config_dir(config_path);
    let mut identity = config.identity.clone();
    identity.signing_key = identity.signing_key.map(|p| dir.join(p));
    identity.allowed_signers = identity.allowed_signers.map(|p| dir.join(p));
    crate::audit::identity::install(identity);
    // Config::parse has checked that the variable is set.
    if let Some(seal) = config
        .audit
        .key_env
        .as_deref()
        .and_then(|v| crate::audit::seal::Seal::from_env(v).ok())
    {
        crate::audit::seal::install(seal);
    }
}

fn config_dir(config_path: &Path) -> PathBuf {
    let dir = config_path.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

fn default_db(config_path: &Path, config: &Config) -> PathBuf {
    let dir = config_dir(config_path);
    if let Some(cache) = &config.workspace.cache {
        return dir.join(cache);
    }
    let digest = Sha256::digest(dir.to_string_lossy().as_bytes());
    let name = dir
        .file_name()
        .map_or_else(|| "root".into(), |n| n.to_string_lossy().into_owned());
    data_dir()
        .join("workspaces")
        .join(format!("{name}-{}.sqlite", hex::encode(&digest[..4])))
}

/// The platform data directory for relops (e.g. `~/.local/share/relops`).
pub fn data_dir() -> PathBuf {
    ProjectDirs::from("dev", "relops", "relops")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".relops"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_named_in_config_is_relative_to_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("relops.toml");
        std::fs::write(&cfg, "[workspace]\ncache = \"cache/relops.db\"\n").unwrap();
        let ws = Workspace::open(Some(&cfg), None, false).unwrap();
        let expected = std::fs::canonicalize(dir.path())
            .unwrap()
            .join("cache/relops.db");
        assert_eq!(ws.db_path, expected);
    }

    #[test]
    fn explicit_db_wins() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("relops.toml");
        std::fs::write(&cfg, "[workspace]\ncache = \"x.db\"\n").unwrap();
        let ws = Workspace::open(Some(&cfg), Some(Path::new("/tmp/y.db")), false).unwrap();
        assert_eq!(ws.db_path, PathBuf::from("/tmp/y.db"));
    }

    #[test]
    fn without_cache_key_each_workspace_gets_its_own_data_file() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let db = |d: &Path| {
            let cfg = d.join("relops.toml");
            std::fs::write(&cfg, "").unwrap();
            Workspace::open(Some(&cfg), None, false).unwrap().db_path
        };
        assert_ne!(db(a.path()), db(b.path()));
        assert!(db(a.path()).starts_with(data_dir()));
    }

    #[test]
    fn missing_explicit_config_is_an_error() {
        let err = Workspace::open(Some(Path::new("/nonexistent/relops.toml")), None, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/relops.toml"), "{err}");
    }
}
