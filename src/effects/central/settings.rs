//! `[central]` in the config: where a desk delivers its calls (`url`, `key`, `desk`), what
//! makes `callhook serve` central itself (`database`), and central's API token for `--central`
//! queries (`token`).

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer};
use url::Url;

use super::key::{DeskKey, SECRET_PREFIX};

#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CentralConfig {
    /// Central's address (http or https).
    #[serde(deserialize_with = "central_url")]
    pub url: Option<Url>,
    /// The desk's name in its batches; default: the computer's name.
    pub desk: Option<String>,
    /// The desk's key (`whsk_…`), which signs its batches.
    pub key: Option<KeySetting>,
    /// Central only: its PostgreSQL database (`postgresql://…`).
    #[serde(deserialize_with = "database_url")]
    pub database: Option<String>,
    /// Central's API token, for `--central` queries.
    pub token: Option<String>,
}

/// Neither the database URL (it may hold a password) nor the token is ever shown.
impl std::fmt::Debug for CentralConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |set: bool| if set { Some("…") } else { None };
        f.debug_struct("CentralConfig")
            .field("url", &self.url.as_ref().map(Url::as_str))
            .field("desk", &self.desk)
            .field("key", &self.key)
            .field("database", &hidden(self.database.is_some()))
            .field("token", &hidden(self.token.is_some()))
            .finish()
    }
}

/// Where a desk delivers, when it does.
#[derive(Clone, Copy, Debug)]
pub struct Delivery<'a> {
    pub url: &'a Url,
    key: &'a KeySetting,
}

impl<'a> Delivery<'a> {
    /// The key that signs the batches (made on first use: see [`KeySetting`]).
    pub fn key(&self) -> &'a DeskKey {
        self.key.key()
    }
}

impl CentralConfig {
    /// Where this desk delivers its calls: both `url` and `key` set.
    pub fn delivery(&self) -> Option<Delivery<'_>> {
        Some(Delivery {
            url: self.url.as_ref()?,
            key: self.key.as_ref()?,
        })
    }

    /// The desk's name in its batches: `desk`, else the computer's name.
    pub fn desk_name(&self) -> String {
        self.desk.clone().unwrap_or_else(crate::platform::host_name)
    }

    /// Checks what the types cannot: the dotted key and the message.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let Some(desk) = &self.desk
            && (desk.trim().is_empty() || desk.chars().any(char::is_control))
        {
            return Err((
                "central.desk".into(),
                "give the desk a name (no control characters), or leave it out for the \
                 computer's name"
                    .into(),
            ));
        }
        if let Some(token) = &self.token
            && (token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err((
                "central.token".into(),
                "the token is the one line of central's serve-token file".into(),
            ));
        }
        Ok(())
    }
}

/// `[central] key`: checked when the config is read, its key pair made when it is first used.
/// Making an Ed25519 key pair takes a fifth of a million instructions, and the hook, which reads
/// the config for every event, never signs anything.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct KeySetting {
    text: String,
    key: OnceLock<DeskKey>,
}

impl KeySetting {
    /// The desk's key.
    pub fn key(&self) -> &DeskKey {
        self.key.get_or_init(|| {
            DeskKey::parse(&self.text).expect("a key that was checked when read parses")
        })
    }
}

impl TryFrom<String> for KeySetting {
    type Error = String;

    /// What [`DeskKey::parse`] checks (its error, which never shows the key), short of making
    /// the key pair, which a seed of 32 bytes always gives.
    fn try_from(text: String) -> Result<KeySetting, String> {
        let seed = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .and_then(|encoded| BASE64.decode(encoded).ok());
        if seed.is_none_or(|seed| seed.len() != 32) {
            return Err(DeskKey::parse(&text)
                .err()
                .unwrap_or_else(|| "not a desk key".to_string()));
        }
        Ok(KeySetting {
            text,
            key: OnceLock::new(),
        })
    }
}

impl PartialEq for KeySetting {
    fn eq(&self, other: &KeySetting) -> bool {
        self.text.trim() == other.text.trim()
    }
}

impl std::fmt::Debug for KeySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySetting(whsk_…)")
    }
}

fn central_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let text = String::deserialize(d)?;
    let url = Url::parse(&text)
        .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a URL: {e}")))?;
    match url.scheme() {
        "http" | "https" => Ok(Some(url)),
        other => Err(serde::de::Error::custom(format!(
            "`{text}`: central is reached over https (or http), not {other}"
        ))),
    }
}

/// Checked by its scheme only, and never shown: it may hold a password.
fn database_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    if text.starts_with("postgresql://") || text.starts_with("postgres://") {
        Ok(Some(text))
    } else {
        Err(serde::de::Error::custom(
            "central's database is a PostgreSQL URL: postgresql://user@host/database",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_setting_takes_what_desk_key_parse_takes() {
        let key = DeskKey::generate().unwrap();
        let good = [
            key.secret_text().to_string(),
            format!("  {}\n", key.secret_text()),
        ];
        let bad = [
            "",
            "whsk_",
            "whsk_!!",
            "whsec_AAAA",
            "whsk_AAAA",
            "whsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ];
        for text in good.iter().map(String::as_str).chain(bad) {
            let setting = KeySetting::try_from(text.to_string());
            assert_eq!(setting.is_ok(), DeskKey::parse(text).is_ok(), "{text:?}");
            if let Ok(setting) = setting {
                assert_eq!(setting.key(), &key);
            }
        }
        let err = KeySetting::try_from("whsk_AAAA".to_string()).unwrap_err();
        assert_eq!(Some(err), DeskKey::parse("whsk_AAAA").err());
    }
}
