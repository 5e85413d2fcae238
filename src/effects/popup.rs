//! The CRM popup (screen-pop): `[popup]` in the config, the URL made from its template, and
//! opening it, never through a shell.

use std::process::Command;

use anyhow::{Context, Result, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use url::Url;

use crate::log::event::EventKind;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PopupConfig {
    /// The page to open, such as `https://crm.example.com/search?phone={number}`.
    pub url: Template,
    /// The event that pops it.
    #[serde(default)]
    pub on: PopupOn,
    /// The program (and its first arguments) that opens the URL, given as its last argument;
    /// the system's default browser when absent.
    pub opener: Option<Vec<String>>,
    /// Schemes opened besides http and https.
    #[serde(default)]
    pub allowed_schemes: Vec<String>,
}

/// When the popup opens. `incoming` is the default: it is the one hook every MicroSIP version
/// runs while the phone rings (`ring` came with 3.19.27).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PopupOn {
    #[default]
    Incoming,
    Ring,
    Answer,
}

impl PopupOn {
    pub fn fires_on(self, kind: EventKind) -> bool {
        match self {
            PopupOn::Incoming => kind == EventKind::Incoming,
            PopupOn::Ring => kind == EventKind::Ring,
            PopupOn::Answer => kind.is_answer(),
        }
    }
}

/// The values a template's placeholders take, before encoding.
pub struct Values<'a> {
    pub number: &'a str,
    pub raw: &'a str,
    pub digits: &'a str,
    pub name: &'a str,
    pub call_id: &'a str,
    pub direction: &'a str,
    pub event: &'a str,
}

const PLACEHOLDERS: [&str; 7] = [
    "number",
    "raw",
    "digits",
    "name",
    "call_id",
    "direction",
    "event",
];

/// A URL template: the admin's text, trusted, with `{placeholder}`s whose values are not.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct Template(String);

impl TryFrom<String> for Template {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        for piece in pieces(&text) {
            if let Piece::Placeholder(name) = piece?
                && !PLACEHOLDERS.contains(&name)
            {
                return Err(format!(
                    "unknown placeholder {{{name}}}; the placeholders are {}",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
                ));
            }
        }
        Ok(Template(text))
    }
}

enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

fn pieces(text: &str) -> impl Iterator<Item = Result<Piece<'_>, String>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        Some(match rest.find('{') {
            Some(0) => match rest.find('}') {
                Some(close) => {
                    let name = &rest[1..close];
                    rest = &rest[close + 1..];
                    Ok(Piece::Placeholder(name))
                }
                None => {
                    rest = "";
                    Err("a `{` without its `}`".to_string())
                }
            },
            Some(open) => {
                let text = &rest[..open];
                rest = &rest[open..];
                Ok(Piece::Text(text))
            }
            None => {
                let text = rest;
                rest = "";
                Ok(Piece::Text(text))
            }
        })
    })
}

/// Everything but RFC 3986's unreserved characters is percent-encoded: a value can never add
/// a path, a query parameter or a fragment to the URL.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl Template {
    pub fn render(&self, values: &Values<'_>) -> String {
        let mut url = String::with_capacity(self.0.len() + 32);
        for piece in pieces(&self.0).flatten() {
            match piece {
                Piece::Text(text) => url.push_str(text),
                Piece::Placeholder(name) => {
                    let value = match name {
                        "number" => values.number,
                        "raw" => values.raw,
                        "digits" => values.digits,
                        "name" => values.name,
                        "call_id" => values.call_id,
                        "direction" => values.direction,
                        _ => values.event,
                    };
                    url.extend(utf8_percent_encode(value, VALUE));
                }
            }
        }
        url
    }
}

impl PopupConfig {
    /// Checks the template makes a URL of an allowed scheme; the error is for `popup.url`.
    pub fn validate(&self) -> Result<(), String> {
        let sample = self.url.render(&Values {
            number: "+15551234567",
            raw: "+15551234567",
            digits: "15551234567",
            name: "Name",
            call_id: "00000000-0000-7000-8000-000000000000",
            direction: "in",
            event: "incoming",
        });
        self.check_scheme(&sample)
    }

    /// Only http and https (and the schemes the admin allowed) are ever opened.
    pub fn check_scheme(&self, url: &str) -> Result<(), String> {
        let parsed = Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let scheme = parsed.scheme();
        let allowed = ["http", "https"].contains(&scheme)
            || self
                .allowed_schemes
                .iter()
                .any(|s| s.eq_ignore_ascii_case(scheme));
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "the {scheme} scheme is not opened; only http and https, and the schemes in \
                 popup.allowed_schemes"
            ))
        }
    }

    /// Opens `url`: with the configured opener (the URL as its last argument), else the
    /// system's default browser. The opener is started, not waited for.
    pub fn open(&self, url: &str) -> Result<()> {
        self.check_scheme(url).map_err(anyhow::Error::msg)?;
        match self.opener.as_deref() {
            Some([program, args @ ..]) => {
                let mut command = Command::new(program);
                command.args(args).arg(url);
                crate::platform::start_quietly(command)
                    .with_context(|| format!("cannot start the opener {program}"))
            }
            Some([]) => bail!("popup.opener is empty"),
            None => crate::platform::open_url(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(number: &'a str, raw: &'a str) -> Values<'a> {
        Values {
            number,
            raw,
            digits: "",
            name: "Zoë O'Neil",
            call_id: "id",
            direction: "in",
            event: "ring",
        }
    }

    #[test]
    fn values_are_percent_encoded() {
        let template = Template::try_from(
            "https://crm.example.com/search?phone={number}&raw={raw}&who={name}#x".to_string(),
        )
        .unwrap();
        assert_eq!(
            template.render(&values("1 & x", "a?b#c%00")),
            "https://crm.example.com/search?phone=1%20%26%20x&raw=a%3Fb%23c%2500\
             &who=Zo%C3%AB%20O%27Neil#x"
        );
        assert_eq!(
            template.render(&values("+4930/../admin", "\u{202e}é")),
            "https://crm.example.com/search?phone=%2B4930%2F..%2Fadmin&raw=%E2%80%AE%C3%A9\
             &who=Zo%C3%AB%20O%27Neil#x"
        );
    }

    #[test]
    fn templates_are_checked() {
        assert!(Template::try_from("https://x/{number}".to_string()).is_ok());
        let err = Template::try_from("https://x/{phone}".to_string()).unwrap_err();
        assert!(err.contains("unknown placeholder {phone}"), "{err}");
        assert!(Template::try_from("https://x/{number".to_string()).is_err());
    }

    #[test]
    fn only_allowed_schemes_open() {
        let mut config = PopupConfig {
            url: Template::try_from("crm://search/{number}".to_string()).unwrap(),
            on: PopupOn::Incoming,
            opener: None,
            allowed_schemes: Vec::new(),
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .contains("crm scheme is not opened")
        );
        config.allowed_schemes.push("crm".into());
        assert!(config.validate().is_ok());
        assert!(
            config
                .check_scheme("file:///C:/Windows/notepad.exe")
                .is_err()
        );
        assert!(config.check_scheme("https://crm.example.com/").is_ok());
    }

    #[test]
    fn the_popup_event() {
        assert!(PopupOn::default().fires_on(EventKind::Incoming));
        assert!(!PopupOn::Ring.fires_on(EventKind::Incoming));
        assert!(PopupOn::Answer.fires_on(EventKind::AnswerVideo));
    }
}
