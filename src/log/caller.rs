//! The caller argument: hostile text kept verbatim, and the number derived from it.
//!
//! A caller controls this text (MicroSIP copies it from SIP headers without quoting), so it is
//! never parsed for options, never given to a shell, and stored as received, capped at 1 KiB.

use std::ffi::OsStr;

use percent_encoding::percent_decode_str;
use serde::Deserialize;

/// The most caller text stored per event; longer text is cut and flagged.
pub const MAX_CALLER_BYTES: usize = 1024;

/// The caller text of one invocation, as received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The text, valid UTF-8; when the input was not, a lossy rendering of `bytes`.
    pub text: String,
    /// The exact input (raw bytes on Unix, WTF-8 on Windows) when it was not valid Unicode.
    pub bytes: Option<Vec<u8>>,
    /// The input was longer than [`MAX_CALLER_BYTES`] and was cut.
    pub truncated: bool,
}

impl Caller {
    pub fn from_text(text: &str) -> Caller {
        let truncated = text.len() > MAX_CALLER_BYTES;
        let mut end = text.len().min(MAX_CALLER_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Caller {
            text: text[..end].to_string(),
            bytes: None,
            truncated,
        }
    }

    /// From OS text: kept lossless when it is not valid Unicode.
    pub fn from_os(os: &OsStr) -> Caller {
        match os.to_str() {
            Some(text) => Caller::from_text(text),
            None => {
                // The OS's own lossy rendering: one U+FFFD per bad byte on Unix, per unpaired
                // surrogate on Windows.
                let text = Caller::from_text(&os.to_string_lossy());
                let all = os.as_encoded_bytes();
                Caller {
                    bytes: Some(all[..all.len().min(MAX_CALLER_BYTES)].to_vec()),
                    truncated: text.truncated || all.len() > MAX_CALLER_BYTES,
                    ..text
                }
            }
        }
    }

    /// Arguments joined by single spaces, as MicroSIP's caller text arrives split by the OS.
    pub fn from_args(args: &[impl AsRef<OsStr>]) -> Caller {
        let mut joined = std::ffi::OsString::new();
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                joined.push(" ");
            }
            joined.push(arg);
        }
        Caller::from_os(&joined)
    }

    pub fn is_lossy(&self) -> bool {
        self.bytes.is_some()
    }
}

/// How local numbers become international ones (`[numbers]` in the config).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct NumberPlan {
    /// Country calling code added to national numbers (those starting with the trunk prefix).
    pub country_code: Option<String>,
    /// Dialled before a country code; replaced by `+`.
    pub international_prefix: String,
    /// Dialled before a national number; replaced by `+<country_code>` when one is set.
    pub trunk_prefix: String,
}

impl Default for NumberPlan {
    fn default() -> Self {
        NumberPlan {
            country_code: None,
            international_prefix: "00".into(),
            trunk_prefix: "0".into(),
        }
    }
}

impl NumberPlan {
    /// Checks the plan; the error names the field at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if let Some(cc) = &self.country_code
            && (cc.is_empty() || cc.len() > 3 || !digits(cc))
        {
            let message = format!("`{cc}` is not a country code: 1 to 3 digits, such as \"49\"");
            return Err(("country_code", message));
        }
        for (field, value) in [
            ("international_prefix", &self.international_prefix),
            ("trunk_prefix", &self.trunk_prefix),
        ] {
            if !digits(value) {
                return Err((field, format!("`{value}` must be digits (or empty)")));
            }
        }
        Ok(())
    }

    /// The number a caller text stands for: `+` and digits when it is a phone number, the
    /// identity's text (`anonymous`, `alice`) otherwise, empty for an anonymous caller.
    pub fn number(&self, raw: &str) -> String {
        let identity = identity(raw);
        match dialable_digits(&identity) {
            Some((plus, digits)) => self.normalize(plus, &digits),
            None => identity,
        }
    }

    fn normalize(&self, plus: bool, digits: &str) -> String {
        if plus {
            return format!("+{digits}");
        }
        let intl = self.international_prefix.as_str();
        if !intl.is_empty() && digits.len() > intl.len() && digits.starts_with(intl) {
            return format!("+{}", &digits[intl.len()..]);
        }
        let trunk = self.trunk_prefix.as_str();
        if let Some(cc) = &self.country_code
            && !trunk.is_empty()
            && digits.len() > trunk.len()
            && digits.starts_with(trunk)
        {
            return format!("+{cc}{}", &digits[trunk.len()..]);
        }
        digits.to_string()
    }
}

/// The digits of a number, for partial matching and the `{digits}` placeholder.
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// The user part of a caller text: display names, `sip:`/`sips:`/`tel:` schemes, the domain,
/// URI parameters and percent escapes are taken off.
pub fn identity(raw: &str) -> String {
    let mut s = raw.trim();
    // `"Alice" <sip:100@host>` or `Alice <tel:+1555>`: the address is inside the angle brackets.
    if let Some(open) = s.rfind('<')
        && let Some(len) = s[open + 1..].find('>')
    {
        s = s[open + 1..open + 1 + len].trim();
    }
    let mut uri = false;
    for scheme in ["sips:", "sip:", "tel:"] {
        if s.get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
        {
            s = &s[scheme.len()..];
            uri = true;
            break;
        }
    }
    if let Some(at) = s.find('@') {
        s = &s[..at];
        uri = true;
    }
    if uri && let Some(end) = s.find([';', '?']) {
        s = &s[..end];
    }
    decode_percent(s.trim()).trim().to_string()
}

/// Percent escapes are decoded only when they give printable text; otherwise the text stays as
/// it came, so a `%00` never turns into a control character in a number.
fn decode_percent(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    match percent_decode_str(s).decode_utf8() {
        Ok(decoded) if !decoded.chars().any(char::is_control) => decoded.into_owned(),
        _ => s.to_string(),
    }
}

/// `Some((has_plus, digits))` when the text is a phone number written with the usual visual
/// separators (spaces, `-`, `.`, `/`, parentheses) and an optional leading `+`.
fn dialable_digits(s: &str) -> Option<(bool, String)> {
    let (plus, rest) = match s.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '/' | '(' | ')' => {}
            _ => return None,
        }
    }
    (!digits.is_empty()).then_some((plus, digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(cc: Option<&str>) -> NumberPlan {
        NumberPlan {
            country_code: cc.map(Into::into),
            ..NumberPlan::default()
        }
    }

    #[test]
    fn identity_forms() {
        for (raw, want) in [
            ("+15551234567", "+15551234567"),
            ("sip:100@pbx.example.com", "100"),
            ("SIPS:alice@example.com;transport=tls", "alice"),
            ("tel:+1-555-123-4567;ext=12", "+1-555-123-4567"),
            ("100@pbx", "100"),
            ("\"Alice Smith\" <sip:+4930123456@pbx>", "+4930123456"),
            ("Bob <tel:0301234>", "0301234"),
            ("%2B4930%20123", "+4930 123"),
            ("a%00b", "a%00b"),
            ("  anonymous ", "anonymous"),
            ("", ""),
            ("1 & x --event end", "1 & x --event end"),
        ] {
            assert_eq!(identity(raw), want, "identity of {raw:?}");
        }
    }

    #[test]
    fn numbers_are_normalized() {
        let de = plan(Some("49"));
        for (raw, want) in [
            ("030 123456", "+4930123456"),
            ("0049 30 123456", "+4930123456"),
            ("+49 (30) 123-456", "+4930123456"),
            ("sip:030123456@pbx", "+4930123456"),
            ("100", "100"),
            ("0", "0"),
            ("anonymous", "anonymous"),
            ("Alice", "Alice"),
            ("", ""),
            ("1 & x", "1 & x"),
            ("*98", "*98"),
        ] {
            assert_eq!(de.number(raw), want, "number of {raw:?}");
        }
        // Without a country code national numbers keep their digits.
        assert_eq!(plan(None).number("030 123456"), "030123456");
        assert_eq!(plan(None).number("0049301"), "+49301");
        let us = NumberPlan {
            country_code: Some("1".into()),
            international_prefix: "011".into(),
            trunk_prefix: "1".into(),
        };
        assert_eq!(us.number("1 (555) 123-4567"), "+15551234567");
        assert_eq!(us.number("01144 20 7946 0000"), "+442079460000");
    }

    #[test]
    fn plan_validation() {
        assert!(plan(Some("49")).validate().is_ok());
        assert!(plan(Some("+49")).validate().is_err());
        assert!(plan(Some("")).validate().is_err());
        let bad = NumberPlan {
            trunk_prefix: "x".into(),
            ..NumberPlan::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "trunk_prefix");
    }

    #[test]
    fn caller_text_is_capped_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let caller = Caller::from_text(&long);
        assert!(caller.truncated);
        assert!(caller.text.len() <= MAX_CALLER_BYTES);
        assert_eq!(caller.text.len(), 1024);
        assert!(!Caller::from_text("short").truncated);
        // 1024 falls inside a character: the cut goes back to its start.
        for (prefix, emoji) in [("a", "😀"), ("ab", "😀"), ("abc", "😀"), ("a", "€")] {
            let long = format!("{prefix}{}", emoji.repeat(400));
            let caller = Caller::from_text(&long);
            assert!(caller.truncated);
            assert!(caller.text.len() <= MAX_CALLER_BYTES && caller.text.len() > 1020);
            assert!(long.starts_with(&caller.text));
        }
    }

    #[cfg(unix)]
    #[test]
    fn invalid_utf8_is_kept_losslessly() {
        use std::os::unix::ffi::OsStrExt;
        let caller = Caller::from_args(&[OsStr::from_bytes(b"ab\xff"), OsStr::new("c")]);
        assert_eq!(caller.bytes.as_deref(), Some(&b"ab\xff c"[..]));
        assert_eq!(caller.text, "ab\u{fffd} c");
        assert!(caller.is_lossy());
    }

    #[test]
    fn no_caller_text_can_panic_the_parser() {
        // Every short string over an alphabet of the characters the parser looks at, with
        // multi-byte ones where byte offsets would fall inside them.
        let alphabet = [
            "s", "i", "p", ":", "t", "<", ">", "@", ";", "%", "2", "0", "+", " ", "é", "\u{fffd}",
            "😀", "\"", "\0", "T", "E", "L", "S",
        ];
        let plan = plan(Some("49"));
        let mut text = String::new();
        for n in 0..alphabet.len().pow(4) {
            text.clear();
            let mut k = n;
            for _ in 0..4 {
                text.push_str(alphabet[k % alphabet.len()]);
                k /= alphabet.len();
            }
            let _ = plan.number(&text);
            let _ = plan.number(&format!("sip:{text}@h"));
        }
    }

    #[test]
    fn digits_of_a_number() {
        assert_eq!(digits("+49 30-1"), "49301");
        assert_eq!(digits("alice"), "");
    }
}
