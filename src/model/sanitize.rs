//! Upstream text made safe for one line: anything the API sends that may
//! reach a log line, the `STATUS=` of the systemd notify socket or a comment
//! in `/metrics` goes through [`one_line`] first. Control characters
//! (newlines included) and Unicode line/paragraph separators become spaces,
//! and the length is capped, so a hostile API cannot forge log lines, add
//! notify assignments (`MAINPID=1`) or grow every scrape by megabytes.

/// Longest piece of upstream text kept (an error name, a correlation ID, a
/// parser's complaint), in characters.
pub const MAX_UPSTREAM_CHARS: usize = 200;

/// Longest whole failure message (our words plus upstream pieces), in
/// characters.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// `s` on one line, at most `max` characters (cut on a character boundary;
/// a cut is marked with `...`).
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max.saturating_mul(4)));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push_str("...");
            break;
        }
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}') {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// [`one_line`] with the cap for a piece of upstream text.
pub fn upstream(s: &str) -> String {
    one_line(s, MAX_UPSTREAM_CHARS)
}

/// Longest label value made from an upstream string.
pub const MAX_LABEL: usize = 48;

/// An upstream name as a label value: lower case `[a-z0-9_]`, anything else
/// becomes `_`, at most [`MAX_LABEL`] characters; empty becomes `unknown`.
pub fn label_token(s: &str) -> String {
    let out: String = s
        .chars()
        .take(MAX_LABEL)
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "unknown".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_controls_become_spaces() {
        assert_eq!(
            one_line("x\nMAINPID=1\r\nSTOPPING=1\0\u{1b}[31m", 100),
            "x MAINPID=1  STOPPING=1  [31m"
        );
        assert_eq!(one_line("a\u{2028}b\u{85}c", 10), "a b c");
        assert_eq!(label_token("Duty-Cycle"), "duty_cycle");
        assert_eq!(label_token(""), "unknown");
        assert_eq!(label_token(&"x".repeat(500)).len(), MAX_LABEL);
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let s = "é".repeat(300);
        let cut = upstream(&s);
        assert_eq!(cut.chars().count(), MAX_UPSTREAM_CHARS + 3);
        assert!(cut.ends_with("..."));
        assert_eq!(upstream("short"), "short");
        assert_eq!(one_line(&"x".repeat(10), 10), "x".repeat(10));
    }
}
