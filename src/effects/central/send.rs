//! One batch posted to central (the worker's and `doctor`'s only): `POST {url}/api/ingest`,
//! signed with the desk's key, and central's answer read (bounded) into what the lane records.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::batch::Receipt;
use super::key::{DeskKey, KEY_HEADER};
use crate::effects::webhook::send::{
    answer_start, client as webhook_client, header_text, root_cause,
};

/// How long an attempt may take, the whole answer included.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// What central made of a batch.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// 2xx: stored (central's receipt, when it sent one that reads).
    Accepted {
        status: u16,
        receipt: Option<Receipt>,
    },
    /// Not taken: tried again later, nothing lost.
    Refused { status: Option<u16>, error: String },
}

impl Answer {
    /// 413: the batch was larger than central (or a proxy before it) reads.
    pub fn too_large(&self) -> bool {
        matches!(
            self,
            Answer::Refused {
                status: Some(413),
                ..
            }
        )
    }
}

/// The HTTP client: the webhooks' (rustls, no redirects, the system's proxies).
pub fn client() -> reqwest::Result<reqwest::blocking::Client> {
    webhook_client()
}

/// Where batches go: `api/ingest` under central's URL, whatever path it has (a reverse
/// proxy's prefix) and whether or not it ends with `/`.
pub fn ingest_url(central: &Url) -> Url {
    let mut url = central.clone();
    url.set_path(&format!(
        "{}/api/ingest",
        central.path().trim_end_matches('/')
    ));
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// Posts one batch body, signed for this attempt (a new `webhook-id` each time: central's
/// storing is idempotent, so a batch sent twice changes nothing).
pub fn post(
    client: &reqwest::blocking::Client,
    central: &Url,
    key: &DeskKey,
    body: &[u8],
) -> Answer {
    post_with_date(client, central, key, body).0
}

/// How far this computer's clock is ahead of central's (negative: behind), in ms: the least
/// and the most it can be, from central's `Date` (whole seconds) and the request's round trip.
pub type Skew = (i64, i64);

/// [`post`], and the clocks' skew as central's answer shows it (`doctor`).
pub fn post_timed(
    client: &reqwest::blocking::Client,
    central: &Url,
    key: &DeskKey,
    body: &[u8],
) -> (Answer, Option<Skew>) {
    let sent = chrono::Utc::now().timestamp_millis();
    let (answer, date) = post_with_date(client, central, key, body);
    let received = chrono::Utc::now().timestamp_millis();
    // Central's clock read somewhere in [date, date + 1 s) while this one read [sent, received].
    let skew = date.map(|date| (sent - (date + 999), received - date));
    (answer, skew)
}

/// The answer, and central's `Date` (Unix ms) when it sent one.
fn post_with_date(
    client: &reqwest::blocking::Client,
    central: &Url,
    key: &DeskKey,
    body: &[u8],
) -> (Answer, Option<i64>) {
    let id = format!("msg_{}", uuid::Uuid::new_v4());
    let timestamp = chrono::Utc::now().timestamp();
    let request = client
        .post(ingest_url(central))
        .timeout(TIMEOUT)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", key.sign(&id, timestamp, body))
        .header(KEY_HEADER, key.public_text())
        .body(body.to_vec());
    let response = match request.send() {
        Ok(response) => response,
        Err(e) => {
            let why = if e.is_timeout() {
                format!("no answer within {}", humantime::format_duration(TIMEOUT))
            } else {
                root_cause(&e)
            };
            let error = format!("central is unreachable: {why}");
            return (
                Answer::Refused {
                    status: None,
                    error,
                },
                None,
            );
        }
    };
    let date = header_text(&response, "date")
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(&v).ok())
        .map(|d| d.timestamp_millis());
    let status = response.status();
    let location = header_text(&response, "location");
    // Only the start of the answer is read, whatever central (or what answers in its place)
    // sends.
    let (start, read) = answer_start(response);
    let code = status.as_u16();
    let answer = if status.is_success() {
        Answer::Accepted {
            status: code,
            receipt: serde_json::from_slice(&start).ok(),
        }
    } else if let Err(e) = read
        && start.is_empty()
    {
        Answer::Refused {
            status: Some(code),
            error: format!("central answered HTTP {code}, and then: {e}"),
        }
    } else {
        Answer::Refused {
            status: Some(code),
            error: refusal(code, &start, location.as_deref()),
        }
    };
    (answer, date)
}

/// Central's error body: `{"error": {"code": …, "message": …}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
}

/// Says what a refusal means for the desk, with central's error code and message (or the start
/// of whatever else answered).
fn refusal(code: u16, body: &[u8], location: Option<&str>) -> String {
    // Whatever answered, at most 200 characters of it are kept (in `last_error`).
    let cut = |text: &str| text.trim().chars().take(200).collect::<String>();
    let (name, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => (format!(" {}", cut(&b.error.code)), cut(&b.error.message)),
        Err(_) => (String::new(), cut(&String::from_utf8_lossy(body))),
    };
    let what = match code {
        401 => "central refused the desk key",
        413 => "central refused the batch as too large; the next ones are smaller",
        400 => "central refused the batch",
        503 => "central cannot store it now",
        300..=399 => {
            return format!(
                "central answered HTTP {code} (redirects are not followed: {})",
                location.unwrap_or("no Location")
            );
        }
        _ => "",
    };
    let mut error = if what.is_empty() {
        format!("central answered HTTP {code}{name}")
    } else {
        format!("{what} ({code}{name})")
    };
    if !message.is_empty() {
        error.push_str(": ");
        error.push_str(&message);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_is_under_centrals_path() {
        for (base, expected) in [
            (
                "https://central.example.com",
                "https://central.example.com/api/ingest",
            ),
            (
                "https://central.example.com/",
                "https://central.example.com/api/ingest",
            ),
            (
                "http://10.0.0.5:8765/callhook",
                "http://10.0.0.5:8765/callhook/api/ingest",
            ),
            (
                "http://10.0.0.5:8765/callhook/?x=1",
                "http://10.0.0.5:8765/callhook/api/ingest",
            ),
        ] {
            let url = Url::parse(base).unwrap();
            assert_eq!(ingest_url(&url).as_str(), expected, "{base}");
        }
    }

    #[test]
    fn refusals_say_what_central_said() {
        let body = br#"{"error":{"code":"unknown_key","message":"no desk has this key"}}"#;
        assert_eq!(
            refusal(401, body, None),
            "central refused the desk key (401 unknown_key): no desk has this key"
        );
        assert_eq!(
            refusal(413, b"", None),
            "central refused the batch as too large; the next ones are smaller (413)"
        );
        assert_eq!(
            refusal(502, b"<html>Bad Gateway</html>", None),
            "central answered HTTP 502: <html>Bad Gateway</html>"
        );
        assert!(refusal(302, b"", Some("/login")).contains("/login"));
    }
}
