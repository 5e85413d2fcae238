//! One delivery attempt of a webhook over HTTP (the worker's and `webhook test`'s only): the
//! client, the signed POST, a bounded read of the answer, and `Retry-After`.

use std::time::Duration;

use super::WebhookConfig;

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
    builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("callhook/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A client builder with rustls (ring) set up, for every HTTP client of callhook.
pub fn builder() -> reqwest::blocking::ClientBuilder {
    // Several calls are harmless: the first provider installed stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
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
    let retry_after = header_text(&response, "retry-after").and_then(|v| parse_retry_after(&v));
    let location = header_text(&response, "location");
    let (start, _) = answer_start(response);
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

/// A header of an answer, when it is text.
pub fn header_text(response: &reqwest::blocking::Response, name: &str) -> Option<String> {
    let value = response.headers().get(name)?;
    value.to_str().ok().map(str::to_string)
}

/// The start of an answer, at most [`MAX_ANSWER_BYTES`], and how reading it ended: a hostile
/// or broken endpoint can send gigabytes, or never end a chunked body. The connection is
/// dropped after it.
pub fn answer_start(response: reqwest::blocking::Response) -> (Vec<u8>, std::io::Result<usize>) {
    let mut start = Vec::new();
    let read = std::io::Read::read_to_end(
        &mut std::io::Read::take(response, MAX_ANSWER_BYTES),
        &mut start,
    );
    (start, read)
}

/// The innermost error of a failed request (the one that says why: refused, no route, …).
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
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
}
