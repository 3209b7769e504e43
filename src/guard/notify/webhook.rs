//! A plain webhook: a documented, versioned JSON body (`relops.notification/v1`, see
//! the README) signed with HMAC-SHA256 over the exact body bytes, hex in
//! `X-Relops-Signature: sha256=<hex>`, so the receiver can verify it came from relops.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::super::alert::key_digest;
use super::super::outbox::Queued;
use crate::clock::rfc3339;

pub const SCHEMA: &str = "relops.notification/v1";
pub const SIGNATURE_HEADER: &str = "X-Relops-Signature";

pub fn body(q: &Queued, workspace: &str, now_ns: i64) -> Value {
    json!({
        "schema": SCHEMA,
        "id": q.id,
        "action": q.action,
        "dedup_key": key_digest(workspace, &q.alert.key),
        "workspace": workspace,
        "sent_at": rfc3339(now_ns),
        "alert": q.alert,
    })
}

/// `sha256=<hex>` of HMAC-SHA256(key, body).
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        let sig = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
