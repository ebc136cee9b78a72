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

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::config::{ConfigError, Environment};

/// The file's structure (the subset of exporter-toolkit's we support).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    #[serde(default)]
    tls_server_config: Option<TlsFile>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
}

/// Loaded web configuration: TLS acceptor and/or basic auth users.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS for every connection, when configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Basic auth for every request, when configured.
    pub auth: Option<Arc<BasicAuth>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.as_ref().map(|a| a.users.len()))
            .finish()
    }
}

/// Where a file named in the config is read: a file directly in
/// `/etc/ttn-exporter` arrives under systemd as credential `ttn_<name>`.
pub fn readable_path(path: &Path, env: &Environment) -> PathBuf {
    if let (Some(dir), Ok(rest)) = (
        env.credentials_dir(),
        path.strip_prefix("/etc/ttn-exporter"),
    ) {
        if let Some(name) = rest.to_str().filter(|n| !n.contains('/')) {
            let cred = dir.join(format!("ttn_{name}"));
            if cred.exists() {
                return cred;
            }
        }
    }
    path.to_owned()
}

/// Load and validate the web config file.
pub fn load(path: &Path, env: &Environment) -> Result<WebConfig, ConfigError> {
    let err = |what: String| {
        ConfigError::from(format!(
            "invalid web config file {}: {what}",
            path.display()
        ))
    };
    let text = std::fs::read_to_string(readable_path(path, env))
        .map_err(|e| err(format!("cannot read it ({e})")))?;
    let file: WebConfigFile =
        serde_yaml::from_str(&text).map_err(|e| err(e.to_string().replace('\n', " ")))?;
    let tls = match file.tls_server_config {
        None => None,
        Some(t) => Some(tls_acceptor(&t, env).map_err(err)?),
    };
    let auth = match file.basic_auth_users {
        None => None,
        Some(users) if users.is_empty() => None,
        Some(users) => {
            for (user, hash) in &users {
                if user.contains(':') {
                    return Err(err(format!("user name `{user}` must not contain ':'")));
                }
                if !(hash.starts_with("$2a$")
                    || hash.starts_with("$2b$")
                    || hash.starts_with("$2y$"))
                {
                    return Err(err(format!(
                        "the password of `{user}` is not a bcrypt hash; make one with: htpasswd -nBC 10 {user}"
                    )));
                }
            }
            Some(Arc::new(BasicAuth {
                users,
                accepted: Mutex::new(HashSet::new()),
                verifying: tokio::sync::Semaphore::new(1),
            }))
        }
    };
    Ok(WebConfig { tls, auth })
}

fn tls_acceptor(t: &TlsFile, env: &Environment) -> Result<tokio_rustls::TlsAcceptor, String> {
    let cert_path = readable_path(&t.cert_file, env);
    let key_path = readable_path(&t.key_file, env);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "cannot read certificates from {}: {e}",
                t.cert_file.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", t.cert_file.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        format!(
            "cannot read the private key from {}: {e}",
            t.key_file.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "{} and {} do not form a usable certificate and key: {e}",
                t.cert_file.display(),
                t.key_file.display()
            )
        })?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Basic auth against bcrypt hashes. A verified `Authorization` value is
/// remembered (bcrypt is slow on purpose; a scraper sends the same header
/// every time), so only new or wrong credentials pay for a bcrypt check.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    accepted: Mutex<HashSet<String>>,
    /// bcrypt checks at once: wrong passwords cannot eat every core.
    verifying: tokio::sync::Semaphore,
}

/// Remembered accepted header values at most (then the memory is reset).
const ACCEPTED_MAX: usize = 64;

impl BasicAuth {
    /// True when `authorization` (the header value) names a user whose
    /// bcrypt hash matches the password.
    pub async fn check(self: &Arc<Self>, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        if self.lock().contains(value) {
            return true;
        }
        let Some(encoded) = value.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(pair) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = pair.split_once(':') else {
            return false;
        };
        let Some(hash) = self.users.get(user).cloned() else {
            return false;
        };
        let password = password.to_owned();
        let Ok(_permit) = self.verifying.acquire().await else {
            return false;
        };
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if ok {
            let mut accepted = self.lock();
            if accepted.len() >= ACCEPTED_MAX {
                accepted.clear();
            }
            accepted.insert(value.to_owned());
        }
        ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.accepted.lock().unwrap_or_else(|e| e.into_inner())
    }
}
