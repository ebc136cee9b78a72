//! Upstream strings made safe for logs and label values.

/// Control characters dropped, whitespace runs kept as single spaces, at
/// most `max` characters (an ellipsis marks the cut).
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    let mut n = 0;
    for c in s.chars() {
        if c.is_control() {
            continue;
        }
        if n == max {
            out.push('…');
            break;
        }
        out.push(c);
        n += 1;
    }
    out
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
    fn strips_and_caps() {
        assert_eq!(one_line("a\nb\u{1b}[0m", 10), "ab[0m");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(label_token("Duty-Cycle"), "duty_cycle");
        assert_eq!(label_token(""), "unknown");
        assert_eq!(label_token(&"x".repeat(500)).len(), MAX_LABEL);
    }
}
