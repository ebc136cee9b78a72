//! Optional TLS and basic auth for the HTTP endpoints, configured by a web
//! config file in the format of Prometheus' exporter-toolkit
//! (`--web.config.file`), so one file can serve every exporter on a host:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/ttn-exporter/tls.crt
//!   key_file: /etc/ttn-exporter/tls.key
//! basic_auth_users:
//!   prometheus: $2y$10$...   # bcrypt hash, e.g. from `htpasswd -nBC 10 prometheus`
//! ```
//!
//! Options of the toolkit that are not supported here are an error, never
//! silently ignored. Under systemd, files named in `/etc/ttn-exporter/` are
//! read from the service's credentials (the directory is root-only).

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

pub use crate::basic_auth::BasicAuth;
use crate::basic_auth::Users;
use crate::secret_file;
use crate::systemd::{credential_path, Environment};
pub use crate::web_tls::Tls;
use crate::web_tls::TlsFile;

/// A web config problem: one line naming the file, what is wrong and what
/// to do.
#[derive(Debug, thiserror::Error)]
#[error("invalid web config file {file}: {what}")]
pub struct WebError {
    file: String,
    what: String,
}

/// The file's structure (the subset of exporter-toolkit's we support).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    #[serde(default)]
    tls_server_config: Option<TlsFile>,
    #[serde(default)]
    basic_auth_users: Option<Users>,
    #[serde(default)]
    http_server_config: Option<HttpFile>,
}

/// `http_server_config`: only `headers` (HTTP/2 is not served).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    #[serde(default)]
    headers: Option<std::collections::BTreeMap<String, String>>,
}

/// The headers exporter-toolkit lets a web config add, with the values it
/// accepts (none listed: any).
const EXTRA_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// Check `headers` as exporter-toolkit does; blank values are left out.
fn headers(map: &std::collections::BTreeMap<String, String>) -> Result<Headers, String> {
    let mut out = Vec::new();
    for (name, value) in map {
        let Some((_, allowed)) = EXTRA_HEADERS.iter().find(|(n, _)| n == name) else {
            let names: Vec<&str> = EXTRA_HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "http_server_config.headers: {name:?} cannot be configured; only {}",
                names.join(", ")
            ));
        };
        if value.is_empty() {
            continue;
        }
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(format!(
                "http_server_config.headers: {name} must be one of {allowed:?}, not {value:?}"
            ));
        }
        let v = hyper::header::HeaderValue::from_str(value).map_err(|_| {
            format!("http_server_config.headers: the value of {name} is not a valid header value")
        })?;
        out.push((hyper::header::HeaderName::from_static(static_name(name)), v));
    }
    Ok(Arc::from(out))
}

/// The lower-case `'static` name of one of [`EXTRA_HEADERS`].
fn static_name(name: &str) -> &'static str {
    match name {
        "Strict-Transport-Security" => "strict-transport-security",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-Frame-Options" => "x-frame-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "content-security-policy",
    }
}

/// Response headers added to every answer.
pub type Headers = Arc<[(hyper::header::HeaderName, hyper::header::HeaderValue)]>;

/// Loaded web configuration: TLS acceptor and/or basic auth users.
#[derive(Clone)]
pub struct WebConfig {
    /// TLS for every connection, when configured.
    pub tls: Option<Arc<Tls>>,
    /// Basic auth for every request, when configured.
    pub auth: Option<Arc<BasicAuth>>,
    /// Headers added to every response (`http_server_config.headers`).
    pub headers: Headers,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            tls: None,
            auth: None,
            headers: Arc::from(Vec::new()),
        }
    }
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.as_ref().map(|a| a.len()))
            .field("headers", &self.headers.len())
            .finish()
    }
}

/// Load and validate the web config file.
pub fn load(path: &Path, env: &Environment) -> Result<WebConfig, WebError> {
    let err = |what: String| WebError {
        file: path.display().to_string(),
        what,
    };
    let text = secret_file::read_text(
        &credential_path(path, env),
        secret_file::MAX_WEB_CONFIG_FILE,
    )
    .map_err(|why| err(format!("cannot read it: it {why}")))?;
    too_deep(&text).map_err(err)?;
    // An empty file or one that configures nothing is a mistake, never a
    // silent "no TLS, no auth".
    let file: Option<WebConfigFile> =
        serde_yaml_ng::from_str(&text).map_err(|e| err(e.to_string().replace('\n', " ")))?;
    let file = match file {
        Some(f)
            if f.tls_server_config.is_some()
                || f.basic_auth_users.is_some()
                || f.http_server_config.is_some() =>
        {
            f
        }
        _ => {
            return Err(err(
                "it configures neither tls_server_config nor basic_auth_users; fix it or drop web_config_file"
                    .to_owned(),
            ))
        }
    };
    let tls = match file.tls_server_config {
        None => None,
        Some(t) => Some(Arc::new(Tls::load(&t, env).map_err(err)?)),
    };
    let headers = match file.http_server_config.and_then(|h| h.headers) {
        None => Arc::from(Vec::new()),
        Some(h) => headers(&h).map_err(err)?,
    };
    let auth = match file.basic_auth_users {
        None => None,
        Some(users) => Some(Arc::new(BasicAuth::new(users).map_err(err)?)),
    };
    Ok(WebConfig { tls, auth, headers })
}

/// Deepest nesting accepted in the web config (the format needs 3).
const MAX_DEPTH: usize = 32;

/// Refuse nesting deeper than [`MAX_DEPTH`] before the YAML parser sees it
/// (its time grows with the square of the depth: 10 s for 64,000 `[`).
/// Counts flow brackets outside quotes and comments, and block nesting by
/// the indicators (`- `, `? `) and indentation that start a line.
fn too_deep(text: &str) -> Result<(), String> {
    let refuse = |line: usize| {
        Err(format!(
            "line {line} is nested deeper than {MAX_DEPTH} levels; the web config needs 3"
        ))
    };
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        if quote.is_none() && flow == 0 {
            let rest = line.trim_start_matches(' ');
            let mut block = (line.len() - rest.len()) / 2;
            let mut rest = rest;
            while let Some(r) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
                block += 1;
                rest = r.trim_start_matches(' ');
            }
            if block > MAX_DEPTH {
                return refuse(n + 1);
            }
        }
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some('"'), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => {
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                (Some(_), _) => {}
                (None, '#') if prev.is_whitespace() => break,
                (None, '"' | '\'') if " \t[{,:".contains(prev) => quote = Some(c),
                (None, '[' | '{') => {
                    flow += 1;
                    if flow > MAX_DEPTH {
                        return refuse(n + 1);
                    }
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
    }
    Ok(())
}
