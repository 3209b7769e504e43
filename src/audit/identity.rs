//! Who is acting, and their signature on what they did.
//!
//! The operator is `$RELOPS_OPERATOR`, else `[identity] operator`, else `user@host`.
//! With `$RELOPS_SIGNING_KEY` or `[identity] signing_key` naming an SSH key, approvals, promotions and rollbacks
//! are signed with `ssh-keygen -Y sign` (the namespace [`NAMESPACE`]) and verified
//! against an allowed-signers file, as git signs commits; ssh-keygen does the
//! cryptography, relops only passes it the row's hash.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::RwLock;
use std::time::Duration;

use serde::Deserialize;

/// The signature namespace: a signature made for relops cannot be replayed as a git
/// commit's or a file's, nor one of theirs as relops'.
pub const NAMESPACE: &str = "relops-audit";

/// How long ssh-keygen may take (a hardware key waits for a touch).
const SSH_TIMEOUT: Duration = Duration::from_secs(30);

/// `[identity]`: the operator's name and keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The operator's name in the audit and on approvals (default `user@host`).
    pub operator: Option<String>,
    /// A private SSH key (or its `.pub` when the key lives in ssh-agent) that signs
    /// approvals, promotions and rollbacks.
    pub signing_key: Option<PathBuf>,
    /// The allowed-signers file (`ssh-keygen -Y verify` format: `principal key`) that
    /// signed rows and approvals are checked against.
    pub allowed_signers: Option<PathBuf>,
}

static SETTINGS: RwLock<Option<Settings>> = RwLock::new(None);

/// Makes the workspace's `[identity]` the process's (paths already resolved).
pub fn install(settings: Settings) {
    *SETTINGS.write().unwrap_or_else(|e| e.into_inner()) = Some(settings);
}

fn settings() -> Settings {
    SETTINGS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Who is acting.
pub fn actor() -> String {
    let named = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    named(std::env::var("RELOPS_OPERATOR").ok())
        .or_else(|| named(settings().operator))
        .unwrap_or_else(|| {
            let user = named(std::env::var("USER").ok()).unwrap_or_else(|| "relops".into());
            format!("{user}@{}", host())
        })
}

/// This machine's name (the audit names the guard `guard@HOST`).
pub fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or truncates, and the last byte stays 0.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    let name = if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// The operator's signing key: `$RELOPS_SIGNING_KEY` (each operator's own, when the
/// team shares one relops.toml), else `[identity] signing_key`.
pub fn signing_key() -> Option<PathBuf> {
    std::env::var_os("RELOPS_SIGNING_KEY")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| settings().signing_key)
}

/// The configured allowed-signers file, if any.
pub fn allowed_signers() -> Option<PathBuf> {
    settings().allowed_signers
}

/// Signs `message` with `key`; the armored signature.
pub fn sign(key: &Path, message: &str) -> Result<String, String> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-Y", "sign", "-n", NAMESPACE, "-f"])
        .arg(key);
    run(cmd, message.as_bytes()).map_err(|e| format!("signing with {}: {e}", key.display()))
}

/// Checks that `signature` over `message` is `principal`'s per `allowed`.
pub fn verify(
    allowed: &Path,
    principal: &str,
    message: &str,
    signature: &str,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("verifying: {e}"))?;
    let sig = dir.path().join("message.sig");
    std::fs::write(&sig, signature).map_err(|e| format!("verifying: {e}"))?;
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-Y", "verify", "-n", NAMESPACE, "-f"])
        .arg(allowed)
        .arg("-I")
        .arg(principal)
        .arg("-s")
        .arg(&sig);
    run(cmd, message.as_bytes()).map(drop).map_err(|e| {
        format!(
            "{principal}'s signature does not verify against {}: {e}",
            allowed.display()
        )
    })
}

/// Runs ssh-keygen on `stdin` within [`SSH_TIMEOUT`]; its output, or its first line of
/// complaint. Nothing else reaches its stdin, so a passphrase prompt fails, not hangs.
fn run(mut cmd: Command, stdin: &[u8]) -> Result<String, String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run ssh-keygen (install openssh-client): {e}"))?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin).map_err(|e| e.to_string())?;
    }
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let deadline = std::time::Instant::now() + SSH_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            return Err(format!("ssh-keygen took over {} s", SSH_TIMEOUT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    if status.success() {
        Ok(out)
    } else {
        let why = crate::text::one_line(
            err.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("failed"),
        );
        Err(format!("ssh-keygen: {why}"))
    }
}

/// Reads a child's pipe to its end on a thread of its own, so neither pipe can fill and
/// stall the child while the other is read.
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut p) = pipe {
            p.read_to_string(&mut text).ok();
        }
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh ed25519 key and an allowed-signers file naming it for `principal`.
    pub(crate) fn keypair(dir: &Path, name: &str, principal: &str) -> (PathBuf, PathBuf) {
        let key = dir.join(name);
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", principal, "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen runs (openssh-client)");
        assert!(ok.success());
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let allowed = dir.join(format!("{name}.allowed"));
        std::fs::write(&allowed, format!("{principal} {public}")).unwrap();
        (key, allowed)
    }

    #[test]
    fn a_signature_verifies_for_its_principal_only() {
        let dir = tempfile::tempdir().unwrap();
        let (key, allowed) = keypair(dir.path(), "ana", "ana@example");
        let sig = sign(&key, "abc123").unwrap();
        assert!(sig.contains("BEGIN SSH SIGNATURE"));
        verify(&allowed, "ana@example", "abc123", &sig).unwrap();
        let other = verify(&allowed, "ana@example", "abc124", &sig).unwrap_err();
        assert!(other.contains("does not verify"), "{other}");
        let (_, bobs) = keypair(dir.path(), "bob", "bob@example");
        let stranger = verify(&bobs, "ana@example", "abc123", &sig).unwrap_err();
        assert!(stranger.contains("ana@example's signature"), "{stranger}");
    }

    #[test]
    fn a_missing_key_is_named() {
        let err = sign(Path::new("/nonexistent/key"), "x").unwrap_err();
        assert!(err.contains("/nonexistent/key"), "{err}");
    }
}
