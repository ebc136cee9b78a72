//! The API key: the secret type [`ApiKey`] and where it is found
//! (systemd credential, environment, key file), read safely by
//! [`crate::config::secret_file`]. Errors are one line, never containing the key.

use std::io;
use std::path::Path;

use crate::config::environment::{credential_path, Environment, CONFIG_DIR};
use crate::config::secret_file;

/// Where the top-level key lives on disk by default.
const DEFAULT_KEY_PATH: &str = "/etc/ttn-exporter/key";

pub use crate::model::{ApiKey, MAX_KEY_BYTES};

/// Why no API key was found; one line naming where it was looked for and
/// what to do, never containing the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A systemd credential exists but cannot be read.
    #[error("API key credential {name} (from {origin}) {why}")]
    CredentialUnreadable {
        /// The credential's name.
        name: String,
        /// The file the credential is a copy of.
        origin: String,
        /// Why it cannot be read.
        why: secret_file::Error,
    },
    /// A systemd credential holds no key.
    #[error("API key credential {name} (from {origin}) {why}; write the key alone into {origin}")]
    CredentialNotAKey {
        /// The credential's name.
        name: String,
        /// The file the credential is a copy of.
        origin: String,
        /// What is wrong with the text.
        why: &'static str,
    },
    /// The environment variable holds no key.
    #[error("{var} {why}; set it to the key alone (NNSXS....)")]
    VariableNotAKey {
        /// The variable's name.
        var: String,
        /// What is wrong with the value.
        why: &'static str,
    },
    /// The key file cannot be read.
    #[error("no API key: {path} {why}; {fix}, or set {var}")]
    FileUnreadable {
        /// The key file.
        path: String,
        /// Why it cannot be read.
        why: String,
        /// What to do about it.
        fix: String,
        /// The variable that could hold the key instead.
        var: String,
    },
    /// The key file can be read by other users.
    #[error("API key file {path} is accessible by other users (mode {mode:04o}); fix it with: sudo chmod 0600 {path}")]
    FileShared {
        /// The key file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file holds no key.
    #[error("API key file {path} {why}; write the key alone into it")]
    FileNotAKey {
        /// The key file.
        path: String,
        /// What is wrong with the text.
        why: &'static str,
    },
}

/// Find an API key, first match wins: the first of `credentials` (names
/// in `$CREDENTIALS_DIRECTORY`) that exists, the environment variable
/// `var`, the file `file` (its credential copy under systemd, see
/// [`credential_path`]). Files are read by [`secret_file::read`]: regular,
/// at most [`MAX_KEY_BYTES`], never blocking; a key file other users can
/// read is refused. Used for the top-level key and each target's.
pub fn find_key_in(
    env: &Environment,
    credentials: &[&str],
    var: &str,
    file: &Path,
) -> Result<(ApiKey, String), KeyError> {
    let cred_dir = env.credentials_dir();
    if let Some(dir) = &cred_dir {
        for name in credentials {
            let path = dir.join(name);
            if !path.exists() {
                continue;
            }
            let origin = name
                .strip_prefix("ttn_")
                .map_or(DEFAULT_KEY_PATH.to_owned(), |n| format!("{CONFIG_DIR}/{n}"));
            let text = secret_file::read(&path, MAX_KEY_BYTES as u64).map_err(|why| {
                KeyError::CredentialUnreadable {
                    name: (*name).to_owned(),
                    origin: origin.clone(),
                    why,
                }
            })?;
            let key = ApiKey::parse(&text.text).map_err(|why| KeyError::CredentialNotAKey {
                name: (*name).to_owned(),
                origin,
                why,
            })?;
            return Ok((key, format!("systemd credential {name}")));
        }
    }
    if let Some(value) = env.get(var) {
        let key = ApiKey::parse(value).map_err(|why| KeyError::VariableNotAKey {
            var: var.to_owned(),
            why,
        })?;
        return Ok((key, format!("environment {var}")));
    }
    let path = file;
    let how = format!(
        "create it with: sudo install -m 0600 -o root -g root /dev/stdin {} <<< 'NNSXS....'",
        path.display()
    );
    let read = secret_file::read(&credential_path(path, env), MAX_KEY_BYTES as u64).map_err(|e| {
        // Only a missing file is to be created: the hint never suggests
        // writing over a file that exists (an unreadable key, /dev/null).
        let (why, fix) = match e {
            // Under systemd the directory is root-only and the key comes
            // as a credential: a missing credential means a missing file.
            secret_file::Error::Missing | secret_file::Error::PermissionDenied
                if cred_dir.is_some() && path.starts_with(CONFIG_DIR) =>
            {
                ("is missing (systemd passed no key credential)".to_owned(), how)
            }
            secret_file::Error::Missing => ("does not exist".to_owned(), how),
            secret_file::Error::PermissionDenied => (
                "is not readable by this user (permission denied)".to_owned(),
                "it is root's: run the command with sudo (sudo ttn-exporter check); the service gets it from systemd".to_owned(),
            ),
            secret_file::Error::NotRegular(kind) => (
                format!("is a {kind}, not a regular file"),
                "point api_key_file at the regular file that holds the key".to_owned(),
            ),
            other => (other.to_string(), "write the key alone into it".to_owned()),
        };
        KeyError::FileUnreadable {
            path: path.display().to_string(),
            why,
            fix,
            var: var.to_owned(),
        }
    })?;
    if read.mode & 0o007 != 0 {
        return Err(KeyError::FileShared {
            path: path.display().to_string(),
            mode: read.mode & 0o7777,
        });
    }
    if read.mode & 0o070 != 0 {
        tracing::warn!(
            file = %path.display(),
            "API key file {} is readable by its group (mode {:04o}); chmod 0600 it unless that group is meant to read the key",
            path.display(),
            read.mode & 0o7777
        );
    }
    let key = ApiKey::parse(&read.text).map_err(|why| KeyError::FileNotAKey {
        path: path.display().to_string(),
        why,
    })?;
    Ok((key, format!("file {}", path.display())))
}

/// An I/O error in a few words ("no such file", "permission denied").
pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
