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

use crate::config::environment::{credential_path, Environment};
use crate::config::secret_file;
pub use crate::server::basic_auth::BasicAuth;
use crate::server::basic_auth::Users;
pub use crate::server::web_tls::Tls;
use crate::server::web_tls::TlsFile;

/// A web config problem: one line naming the file, what is wrong and what
/// to do.
#[derive(Debug, thiserror::Error)]
#[error("invalid web config file {file}: {what}")]
pub struct WebError {
    file: String,
    what: String,
}

impl WebError {
    /// The error for the file at `path`: `what` is wrong with it.
    fn new(path: &Path, what: impl std::fmt::Display) -> WebError {
        WebError {
            file: path.display().to_string(),
            what: what.to_string(),
        }
    }
}

/// Why `http_server_config.headers` was refused; one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum HeaderError {
    /// A header the toolkit does not let a web config set.
    #[error(
        "http_server_config.headers: {0:?} cannot be configured; only {names}",
        names = configurable()
    )]
    NotConfigurable(String),
    /// A value the toolkit does not accept for that header.
    #[error("http_server_config.headers: {name} must be one of {allowed:?}, not {value:?}")]
    NotAllowed {
        name: String,
        allowed: &'static [&'static str],
        value: String,
    },
    /// Not a valid header value.
    #[error("http_server_config.headers: the value of {0} is not a valid header value")]
    BadValue(String),
}

/// The names of [`EXTRA_HEADERS`], comma-separated.
fn configurable() -> String {
    let names: Vec<&str> = EXTRA_HEADERS.iter().map(|(n, _)| *n).collect();
    names.join(", ")
}

/// A web config nested deeper than [`MAX_DEPTH`] (the line is 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line {line} is nested deeper than {MAX_DEPTH} levels; the web config needs 3")]
struct TooDeep {
    line: usize,
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
fn headers(map: &std::collections::BTreeMap<String, String>) -> Result<Headers, HeaderError> {
    let mut out = Vec::new();
    for (name, value) in map {
        let Some((_, allowed)) = EXTRA_HEADERS.iter().find(|(n, _)| n == name) else {
            return Err(HeaderError::NotConfigurable(name.clone()));
        };
        if value.is_empty() {
            continue;
        }
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(HeaderError::NotAllowed {
                name: name.clone(),
                allowed,
                value: value.clone(),
            });
        }
        let v = hyper::header::HeaderValue::from_str(value)
            .map_err(|_| HeaderError::BadValue(name.clone()))?;
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
    let err = |what: &dyn std::fmt::Display| WebError::new(path, what);
    let text = secret_file::read_text(
        &credential_path(path, env),
        secret_file::MAX_WEB_CONFIG_FILE,
    )
    .map_err(|why| err(&format_args!("cannot read it: it {why}")))?;
    too_deep(&text).map_err(|e| err(&e))?;
    // An empty file or one that configures nothing is a mistake, never a
    // silent "no TLS, no auth".
    let file: Option<WebConfigFile> =
        serde_yaml_ng::from_str(&text).map_err(|e| err(&e.to_string().replace('\n', " ")))?;
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
                &"it configures neither tls_server_config nor basic_auth_users; fix it or drop web_config_file",
            ))
        }
    };
    let tls = match file.tls_server_config {
        None => None,
        Some(t) => Some(Arc::new(Tls::load(&t, env).map_err(|e| err(&e))?)),
    };
    let headers = match file.http_server_config.and_then(|h| h.headers) {
        None => Arc::from(Vec::new()),
        Some(h) => headers(&h).map_err(|e| err(&e))?,
    };
    let auth = match file.basic_auth_users {
        None => None,
        Some(users) => Some(Arc::new(BasicAuth::new(users).map_err(|e| err(&e))?)),
    };
    Ok(WebConfig { tls, auth, headers })
}

/// Deepest nesting accepted in the web config (the format needs 3).
const MAX_DEPTH: usize = 32;

/// Refuse nesting deeper than [`MAX_DEPTH`] before the YAML parser sees it
/// (its time grows with the square of the depth: 10 s for 64,000 `[`).
/// Counts flow brackets outside quotes and comments, and block nesting by
/// the indicators (`- `, `? `) and indentation that start a line.
fn too_deep(text: &str) -> Result<(), TooDeep> {
    let refuse = |line: usize| Err(TooDeep { line });
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
