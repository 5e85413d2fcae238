//! Webhooks: the `[[webhook]]` config, the payload, its Standard Webhooks signature, and one
//! delivery attempt.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use url::Url;

use crate::call::{CallJson, rfc3339};
use crate::config::duration;
use crate::event::EventKind;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Shown in `outbox` and used by `webhook test NAME`; defaults to the URL.
    pub name: Option<String>,
    pub url: HttpUrl,
    /// The events sent; all of them when absent.
    pub events: Option<Vec<EventKind>>,
    /// `whsec_` and base64: the key of the `webhook-signature` header.
    pub secret: Option<Secret>,
    /// Extra request headers, such as `Authorization`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl WebhookConfig {
    /// What identifies the endpoint in the outbox: its name, else its URL.
    pub fn key(&self) -> &str {
        self.name.as_deref().unwrap_or(self.url.0.as_str())
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        self.events
            .as_ref()
            .is_none_or(|events| events.contains(&kind))
    }

    /// Checks the extra headers are valid HTTP (names are tokens, values have no line breaks).
    pub fn validate_headers(&self) -> Result<(), String> {
        for (name, value) in &self.headers {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(format!("`{name}` is not a header name"));
            }
            // callhook sets these itself; a second copy would confuse receivers.
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("webhook-")
                || [
                    "content-type",
                    "content-length",
                    "host",
                    "transfer-encoding",
                ]
                .contains(&lower.as_str())
            {
                return Err(format!("`{name}` is set by callhook and cannot be changed"));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(format!("the value of `{name}` has control characters"));
            }
        }
        Ok(())
    }
}

/// An http or https URL.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpUrl(pub Url);

impl TryFrom<String> for HttpUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let url = Url::parse(&text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        match url.scheme() {
            "http" | "https" => Ok(HttpUrl(url)),
            other => Err(format!(
                "`{text}`: webhooks are sent over http or https, not {other}"
            )),
        }
    }
}

/// A signing secret: `whsec_` followed by base64 (the prefix may be left out).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl TryFrom<String> for Secret {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let encoded = text.strip_prefix("whsec_").unwrap_or(&text);
        match BASE64.decode(encoded) {
            Ok(key) if !key.is_empty() => Ok(Secret(key)),
            _ => Err("a secret is `whsec_` followed by base64, such as whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        }
    }
}

impl Secret {
    /// `v1,` and the base64 HMAC-SHA256 of `<id>.<timestamp>.<body>` (Standard Webhooks).
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The JSON body of a webhook: `{"type": "call.<event>", "timestamp": …, "data": {…}}`.
#[derive(Serialize)]
pub struct Payload<'a> {
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: String,
    pub data: PayloadData<'a>,
}

/// The call record as it stands after the event (the fields of `calls --format json`), with
/// the event and where it happened.
#[derive(Serialize)]
pub struct PayloadData<'a> {
    #[serde(flatten)]
    pub call: CallJson<'a>,
    pub event: &'a str,
    pub host: &'a str,
    pub user: &'a str,
    /// The event was stored late, from the fallback log: later events of the call may have
    /// been sent before it.
    pub delayed: bool,
}

impl<'a> Payload<'a> {
    pub fn new(
        event: &'a str,
        at: i64,
        call: CallJson<'a>,
        host: &'a str,
        user: &'a str,
        delayed: bool,
    ) -> Self {
        Payload {
            kind: format!("call.{event}"),
            timestamp: rfc3339(at),
            data: PayloadData {
                call,
                event,
                host,
                user,
                delayed,
            },
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a payload serializes")
    }
}

/// The `webhook-id` of an event's message: the same for every attempt.
pub fn message_id(event_id: &str) -> String {
    format!("msg_{}", event_id.replace('-', ""))
}

/// What one delivery attempt came to.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    /// 410 Gone: the endpoint wants no more.
    Gone,
    /// Try again, no earlier than `retry_after` when the endpoint said so.
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
}

/// How much of an endpoint's answer is read (for the error text and `webhook test`).
pub const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// The response of a delivery, for `webhook test`.
pub struct Response {
    pub outcome: Outcome,
    pub body: String,
}

/// The HTTP client: rustls, no redirects; proxies as the system sets them (HTTPS_PROXY and
/// friends, or the Windows settings).
pub fn client() -> reqwest::Result<reqwest::blocking::Client> {
    // Several calls are harmless: the first provider installed stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("callhook/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// POSTs `body` to the webhook, signed for this attempt.
pub fn post(
    client: &reqwest::blocking::Client,
    webhook: &WebhookConfig,
    url: &str,
    message_id: &str,
    body: &str,
) -> Response {
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(url)
        .timeout(webhook.timeout)
        .header("content-type", "application/json")
        .header("webhook-id", message_id)
        .header("webhook-timestamp", timestamp.to_string());
    if let Some(secret) = &webhook.secret {
        request = request.header(
            "webhook-signature",
            secret.sign(message_id, timestamp, body),
        );
    }
    for (name, value) in &webhook.headers {
        request = request.header(name, value);
    }
    let response = match request.body(body.to_string()).send() {
        Ok(response) => response,
        Err(e) => {
            let error = if e.is_timeout() {
                format!(
                    "no answer within {}",
                    humantime::format_duration(webhook.timeout)
                )
            } else if e.is_connect() {
                format!("cannot connect: {}", root_cause(&e))
            } else {
                root_cause(&e)
            };
            return Response {
                outcome: Outcome::Failed {
                    status: None,
                    error,
                    retry_after: None,
                },
                body: String::new(),
            };
        }
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Only the start of the answer is read: a hostile or broken endpoint can send gigabytes,
    // or never end a chunked body. The connection is dropped after it.
    let mut start = Vec::new();
    let _ = std::io::Read::read_to_end(
        &mut std::io::Read::take(response, MAX_ANSWER_BYTES),
        &mut start,
    );
    let body = String::from_utf8_lossy(&start).into_owned();
    let code = status.as_u16();
    let outcome = if status.is_success() {
        Outcome::Delivered { status: code }
    } else if code == 410 {
        Outcome::Gone
    } else {
        let mut error = format!("HTTP {status}");
        if status.is_redirection() {
            error.push_str(&format!(
                " (redirects are not followed: {})",
                location.as_deref().unwrap_or("no Location")
            ));
        } else if !body.trim().is_empty() {
            let snippet: String = body.trim().chars().take(200).collect();
            error.push_str(&format!(": {snippet}"));
        }
        Outcome::Failed {
            status: Some(code),
            error,
            retry_after: retry_after.filter(|_| code == 429 || code == 503),
        }
    };
    Response { outcome, body }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The longest wait a `Retry-After` can ask for; the retry schedule goes no further either.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// `Retry-After`: seconds, or an HTTP date; at most [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let ms = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
        Duration::from_millis(ms.max(0) as u64)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_vector() {
        let secret =
            Secret::try_from("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_string()).unwrap();
        assert_eq!(
            secret.sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                r#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn secrets_and_urls_are_checked() {
        assert!(Secret::try_from("whsec_!!".to_string()).is_err());
        assert!(Secret::try_from("whsec_".to_string()).is_err());
        assert!(Secret::try_from("C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_string()).is_ok());
        assert!(HttpUrl::try_from("https://crm.example.com/hook".to_string()).is_ok());
        assert!(
            HttpUrl::try_from("ftp://x".to_string())
                .unwrap_err()
                .contains("http or https")
        );
        assert!(HttpUrl::try_from("not a url".to_string()).is_err());
        assert_eq!(format!("{:?}", Secret(vec![1])), "Secret(…)");
    }

    #[test]
    fn header_names_and_values_are_checked() {
        let mut webhook: WebhookConfig =
            toml::from_str("url = \"https://x.example.com/\"\nheaders = { X-Api-Key = \"k\" }")
                .unwrap();
        assert!(webhook.validate_headers().is_ok());
        webhook.headers.insert("Bad Name".into(), "v".into());
        assert!(webhook.validate_headers().unwrap_err().contains("Bad Name"));
        webhook.headers.clear();
        webhook
            .headers
            .insert("X".into(), "a\r\nInjected: 1".into());
        assert!(webhook.validate_headers().is_err());
        for own in ["Content-Type", "webhook-signature", "Webhook-Id", "host"] {
            webhook.headers.clear();
            webhook.headers.insert(own.into(), "v".into());
            let err = webhook.validate_headers().unwrap_err();
            assert!(err.contains("set by callhook"), "{own}: {err}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let wait = parse_retry_after(&later).unwrap();
        assert!(
            wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
            "{wait:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("99999999999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn message_ids_are_stable_and_compact() {
        assert_eq!(
            message_id("01a2136e-ed23-72e3-9f62-90fbe1ac26aa"),
            "msg_01a2136eed2372e39f6290fbe1ac26aa"
        );
    }
}
