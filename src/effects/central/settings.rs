//! `[central]` in the config: where a desk delivers its calls (`url`, `key`, `desk`), what
//! makes `callhook serve` central itself (`database`), and central's API token for `--central`
//! queries (`token`).

use serde::{Deserialize, Deserializer};
use url::Url;

use super::key::DeskKey;

#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CentralConfig {
    /// Central's address (http or https).
    #[serde(deserialize_with = "central_url")]
    pub url: Option<Url>,
    /// The desk's name in its batches; default: the computer's name.
    pub desk: Option<String>,
    /// The desk's key (`whsk_…`), which signs its batches.
    #[serde(deserialize_with = "desk_key")]
    pub key: Option<DeskKey>,
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
    pub key: &'a DeskKey,
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

/// The key's text is never part of an error: only what is wrong with it.
fn desk_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DeskKey>, D::Error> {
    let text = String::deserialize(d)?;
    DeskKey::parse(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
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
