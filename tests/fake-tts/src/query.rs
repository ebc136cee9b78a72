//! Query strings: decoding `a=b&c=d` pairs and reading values from them (the TTS routes
//! and the control API), and comma-separated field masks.

/// Splits a query string into decoded `(name, value)` pairs.
pub(crate) fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// All values of `name`.
pub(crate) fn query_all<'a>(
    query: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    query
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The last value of `name`.
pub(crate) fn query_one<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Splits a comma-separated field mask into its non-empty, trimmed paths.
pub(crate) fn split_mask(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let decoded = bytes
                    .get(i + 1)
                    .zip(bytes.get(i + 2))
                    .and_then(|(&h, &l)| Some(hex(h)? << 4 | hex(l)?));
                match decoded {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query(Some(
            "key=A%2Eb+c&key=x&field_mask=name%2Cgateway_server_address&bad=%zz",
        ));
        assert_eq!(query_all(&q, "key").collect::<Vec<_>>(), ["A.b c", "x"]);
        assert_eq!(
            query_one(&q, "field_mask"),
            Some("name,gateway_server_address")
        );
        assert_eq!(query_one(&q, "bad"), Some("%zz"));
    }
}
