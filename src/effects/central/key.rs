//! A desk's key: an Ed25519 key pair. The desk signs each batch with the secret half (Standard
//! Webhooks' asymmetric signature, `v1a`); central keeps only the public half, so that neither
//! its database nor its backups can forge a desk's deliveries.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// The secret key's prefix: `whsk_` and the base64 of the 32-byte Ed25519 seed.
pub const SECRET_PREFIX: &str = "whsk_";
/// The public key's prefix: `whpk_` and the base64 of the 32-byte Ed25519 public key.
pub const PUBLIC_PREFIX: &str = "whpk_";
/// The header that names the public key a batch is signed with.
pub const KEY_HEADER: &str = "callhook-desk-key";

/// A desk's secret key.
pub struct DeskKey {
    pair: Ed25519KeyPair,
    text: String,
}

impl std::fmt::Debug for DeskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeskKey({})", self.public_text())
    }
}

impl Clone for DeskKey {
    fn clone(&self) -> DeskKey {
        DeskKey::parse(&self.text).expect("a parsed key parses again")
    }
}

impl PartialEq for DeskKey {
    fn eq(&self, other: &DeskKey) -> bool {
        self.text == other.text
    }
}

impl DeskKey {
    /// A new random key.
    pub fn generate() -> anyhow::Result<DeskKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no random numbers: {e}"))?;
        Ok(
            DeskKey::parse(&format!("{SECRET_PREFIX}{}", BASE64.encode(seed)))
                .expect("a generated key parses"),
        )
    }

    /// Reads `whsk_…`.
    pub fn parse(text: &str) -> Result<DeskKey, String> {
        let wrong = || {
            format!(
                "a desk key is `{SECRET_PREFIX}` and the base64 of 32 bytes, as \
                 `callhook central add-desk` prints it"
            )
        };
        let encoded = text.trim().strip_prefix(SECRET_PREFIX).ok_or_else(wrong)?;
        let seed = BASE64.decode(encoded).map_err(|_| wrong())?;
        if seed.len() != 32 {
            return Err(wrong());
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| wrong())?;
        Ok(DeskKey {
            pair,
            text: text.trim().to_string(),
        })
    }

    /// `whsk_…`, for the desk's config.
    pub fn secret_text(&self) -> &str {
        &self.text
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.pair
            .public_key()
            .as_ref()
            .try_into()
            .expect("an Ed25519 public key has 32 bytes")
    }

    /// `whpk_…`: what central keeps, and what the desk names in [`KEY_HEADER`].
    pub fn public_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", BASE64.encode(self.public_key()))
    }

    /// The `webhook-signature` header of a batch: `v1a,` and the base64 Ed25519 signature of
    /// `<webhook-id>.<webhook-timestamp>.<body>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let signed = signed_content(id, timestamp, body);
        format!("v1a,{}", BASE64.encode(self.pair.sign(&signed).as_ref()))
    }
}

/// Reads `whpk_…` (the header's value) into the public key's bytes.
pub fn parse_public(text: &str) -> Option<[u8; 32]> {
    let bytes = BASE64
        .decode(text.trim().strip_prefix(PUBLIC_PREFIX)?)
        .ok()?;
    bytes.try_into().ok()
}

/// Whether one of the signatures in `header` (space-separated, as Standard Webhooks allows)
/// is a `v1a` signature of this content by `public`.
pub fn verify(public: &[u8; 32], id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let signed = signed_content(id, timestamp, body);
    let key = UnparsedPublicKey::new(&ED25519, public);
    header.split_ascii_whitespace().any(|one| {
        one.strip_prefix("v1a,")
            .and_then(|sig| BASE64.decode(sig).ok())
            .is_some_and(|sig| key.verify(&signed, &sig).is_ok())
    })
}

fn signed_content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    signed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_the_public_key_only() {
        let key = DeskKey::generate().unwrap();
        let again = DeskKey::parse(key.secret_text()).unwrap();
        assert_eq!(again.public_text(), key.public_text());
        let public = parse_public(&key.public_text()).unwrap();
        let body = br#"{"calls":[]}"#;
        let signature = key.sign("msg_1", 1_700_000_000, body);
        assert!(signature.starts_with("v1a,"));
        assert!(verify(&public, "msg_1", 1_700_000_000, body, &signature));
        assert!(verify(
            &public,
            "msg_1",
            1_700_000_000,
            body,
            &format!("v1,xyz {signature}")
        ));
        // Any change of id, time or body, or another key, fails.
        assert!(!verify(&public, "msg_2", 1_700_000_000, body, &signature));
        assert!(!verify(&public, "msg_1", 1_700_000_001, body, &signature));
        assert!(!verify(&public, "msg_1", 1_700_000_000, b"{}", &signature));
        let other = DeskKey::generate().unwrap();
        let other_public = parse_public(&other.public_text()).unwrap();
        assert!(!verify(
            &other_public,
            "msg_1",
            1_700_000_000,
            body,
            &signature
        ));
        assert!(!verify(&public, "msg_1", 1_700_000_000, body, "v1a,!!"));
    }

    #[test]
    fn malformed_keys_are_refused() {
        for text in ["", "whsk_", "whsk_!!", "whsec_AAAA", "whsk_AAAA"] {
            assert!(DeskKey::parse(text).is_err(), "{text}");
        }
        assert!(parse_public("whpk_AAAA").is_none());
    }
}
