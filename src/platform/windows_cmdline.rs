//! Windows command-line splitting, with positions, so that the caller text can be cut from the
//! raw command line exactly as MicroSIP wrote it (quotes and backslashes included).
//!
//! The rules are those of `CommandLineToArgvW` and the Microsoft C runtime (2008 and later), the
//! same that Rust's standard library uses to build `std::env::args` on Windows.

/// One argument: its value and the half-open range of UTF-16 units it spans.
#[derive(Debug, PartialEq, Eq)]
pub struct Token {
    pub value: Vec<u16>,
    pub start: usize,
    pub end: usize,
}

const QUOTE: u16 = b'"' as u16;
const BACKSLASH: u16 = b'\\' as u16;
const SPACE: u16 = b' ' as u16;
const TAB: u16 = b'\t' as u16;

fn is_blank(c: u16) -> bool {
    c == SPACE || c == TAB
}

/// Splits the first `count` arguments (the program name first) off `line`.
pub fn tokens(line: &[u16], count: usize) -> Vec<Token> {
    let mut out = Vec::new();
    if count == 0 || line.is_empty() {
        return out;
    }
    // The program name: up to the closing quote when quoted, else up to a blank; no escapes.
    let (value, end) = if line[0] == QUOTE {
        let close = line[1..].iter().position(|&c| c == QUOTE).map(|p| p + 1);
        match close {
            Some(close) => (line[1..close].to_vec(), close + 1),
            None => (line[1..].to_vec(), line.len()),
        }
    } else {
        let end = line.iter().position(|&c| is_blank(c)).unwrap_or(line.len());
        (line[..end].to_vec(), end)
    };
    out.push(Token {
        value,
        start: 0,
        end,
    });
    let mut i = end;
    while out.len() < count {
        while i < line.len() && is_blank(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let start = i;
        let mut value = Vec::new();
        let mut quoted = false;
        while i < line.len() {
            let c = line[i];
            if is_blank(c) && !quoted {
                break;
            }
            if c == BACKSLASH {
                let run = line[i..].iter().take_while(|&&c| c == BACKSLASH).count();
                i += run;
                if line.get(i) == Some(&QUOTE) {
                    // 2n backslashes and a quote: n backslashes and a quote mark;
                    // 2n+1 backslashes and a quote: n backslashes and a literal quote.
                    value.extend(std::iter::repeat_n(BACKSLASH, run / 2));
                    if run % 2 == 1 {
                        value.push(QUOTE);
                        i += 1;
                    }
                } else {
                    value.extend(std::iter::repeat_n(BACKSLASH, run));
                }
                continue;
            }
            if c == QUOTE {
                if quoted && line.get(i + 1) == Some(&QUOTE) {
                    value.push(QUOTE);
                    i += 2;
                    continue;
                }
                quoted = !quoted;
                i += 1;
                continue;
            }
            value.push(c);
            i += 1;
        }
        out.push(Token {
            value,
            start,
            end: i,
        });
    }
    out
}

/// The text after the first `skip` arguments and the one blank that separates them from it;
/// `None` when the line has fewer arguments than that.
pub fn rest_after(line: &[u16], skip: usize) -> Option<&[u16]> {
    let tokens = tokens(line, skip);
    if tokens.len() < skip {
        return None;
    }
    let end = tokens.last().map_or(0, |t| t.end);
    let rest = &line[end..];
    Some(match rest.first() {
        Some(&c) if is_blank(c) => &rest[1..],
        _ => rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn values(line: &str, count: usize) -> Vec<String> {
        tokens(&wide(line), count)
            .into_iter()
            .map(|t| String::from_utf16(&t.value).unwrap())
            .collect()
    }

    fn rest(line: &str, skip: usize) -> Option<String> {
        rest_after(&wide(line), skip).map(|r| String::from_utf16(r).unwrap())
    }

    #[test]
    fn splits_like_the_c_runtime() {
        assert_eq!(
            values(
                r#""C:\Program Files\callhook\callhook.exe" event end -- 1"#,
                9
            ),
            [
                "C:\\Program Files\\callhook\\callhook.exe",
                "event",
                "end",
                "--",
                "1"
            ]
        );
        assert_eq!(
            values(r#"a.exe "b c" d\"e f\\"g h" i\\\\j"#, 9),
            ["a.exe", "b c", "d\"e", "f\\g h", "i\\\\\\\\j"]
        );
        assert_eq!(values(r#"a.exe "x""y" z"#, 9), ["a.exe", "x\"y", "z"]);
        assert_eq!(values("a.exe\t  b", 1), ["a.exe"]);
    }

    #[test]
    fn rest_is_verbatim() {
        let line = r#""C:\Program Files\callhook\callhook.exe" event end -- "Bob" \"x\" & y  "#;
        assert_eq!(rest(line, 4).as_deref(), Some(r#""Bob" \"x\" & y  "#));
        assert_eq!(rest("callhook.exe event end -- ", 4).as_deref(), Some(""));
        assert_eq!(rest("callhook.exe event end --", 4).as_deref(), Some(""));
        assert_eq!(rest("callhook.exe event end", 4), None);
        assert_eq!(rest("callhook.exe event end", 3).as_deref(), Some(""));
        assert_eq!(rest("callhook-end.exe  x", 1).as_deref(), Some(" x"));
        assert_eq!(
            rest("callhook.exe event end --  lead", 4).as_deref(),
            Some(" lead")
        );
    }
}
