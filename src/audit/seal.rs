//! The audit key: with `[audit] key_env` set, every row carries an HMAC-SHA256 of its
//! hash under a key kept outside the ledger, so a row correctly chained by someone who
//! could write the database but not read the key is still told apart.

use std::sync::RwLock;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::secret::Secret;

/// `[audit]`: where the key comes from.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The environment variable holding the audit key (any length; 32 random bytes is
    /// plenty). Every process that writes the ledger needs it.
    pub key_env: Option<String>,
}

/// The key rows are sealed with.
#[derive(Clone)]
pub struct Seal(Secret);

impl Seal {
    /// Reads the key from `var`; the error names the variable, never a value.
    pub fn from_env(var: &str) -> Result<Self, String> {
        Secret::from_env(var).map(Self)
    }

    pub fn new(key: &str) -> Self {
        Self(Secret::new(key.into()))
    }

    /// The seal of a row's hash.
    pub fn mac(&self, hash: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(hash.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

static CURRENT: RwLock<Option<Seal>> = RwLock::new(None);

/// Seals every row this process writes from now on.
pub fn install(seal: Seal) {
    *CURRENT.write().unwrap_or_else(|e| e.into_inner()) = Some(seal);
}

/// The key this process seals with, if any.
pub fn current() -> Option<Seal> {
    CURRENT.read().unwrap_or_else(|e| e.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seal_is_hmac_sha256_of_the_hash() {
        // RFC 4231 test case 2: key "Jefe".
        let seal = Seal::new("Jefe");
        assert_eq!(
            seal.mac("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
