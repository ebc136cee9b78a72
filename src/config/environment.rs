//! What the process was started with: its environment variables, the
//! environment file `ttn.service` reads (for `check`), and the credential
//! copies systemd makes of the files in [`CONFIG_DIR`]. Gathered in one
//! place so tests can supply them without touching the real environment.

use std::path::{Path, PathBuf};

/// The directory whose files systemd hands over as credentials: the unit
/// loads all of it as credential `ttn` (`LoadCredential=ttn:/etc/ttn-exporter`),
/// so each file arrives as `$CREDENTIALS_DIRECTORY/ttn_<name>`.
pub const CONFIG_DIR: &str = "/etc/ttn-exporter";
/// The environment file `ttn.service` reads (`EnvironmentFile=-`).
pub const ENV_FILE: &str = "/etc/ttn-exporter/env";

/// The `NAME=VALUE` assignments of an environment file, as systemd reads
/// `EnvironmentFile=`: blank lines and lines starting with `#` or `;` are
/// skipped, whitespace around the name and the value is dropped, and a
/// value in matching double or single quotes loses them. Lines without
/// `=` or with an invalid name are skipped (systemd ignores them too).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let k = k.trim();
            let valid = !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return None;
            }
            let v = v.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| v.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)))
                .filter(|_| v.len() >= 2)
                .unwrap_or(v);
            Some((k.to_owned(), unquoted.to_owned()))
        })
        .collect()
}

/// Why [`Environment::with_env_file`] read no variables from a file that
/// exists; one line.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    /// This user may not read it (the file is shown).
    #[error(
        "cannot read {0} (permission denied): run it with sudo to use the service's environment"
    )]
    PermissionDenied(String),
    /// Any other reason it cannot be read.
    #[error("cannot read {path}: {why}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why it cannot be read.
        why: crate::config::secret_file::Error,
    },
}

/// Everything read from the process environment, gathered in one place so
/// tests can supply it without touching the real environment.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// All variables (only `TTN_EXPORTER_*` and `CREDENTIALS_DIRECTORY` matter).
    pub vars: Vec<(String, String)>,
}

impl Environment {
    /// The real process environment.
    pub fn from_process() -> Environment {
        Environment {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// The value of variable `name`, the last one if set twice.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// This environment with the variables of an `EnvironmentFile=` read
    /// first (so the process's own win): what `ttn.service` sees, for
    /// `check`. A missing file adds nothing; one this user may not read
    /// adds nothing and says so (`Err`, one line).
    pub fn with_env_file(mut self, path: &Path) -> (Environment, Result<usize, EnvFileError>) {
        match crate::config::secret_file::read(path, crate::config::secret_file::MAX_CONFIG_FILE) {
            Ok(c) => {
                let mut vars = parse_env_file(&c.text);
                let n = vars.len();
                vars.append(&mut self.vars);
                self.vars = vars;
                (self, Ok(n))
            }
            Err(crate::config::secret_file::Error::Missing) => (self, Ok(0)),
            Err(crate::config::secret_file::Error::PermissionDenied) => (
                self,
                Err(EnvFileError::PermissionDenied(path.display().to_string())),
            ),
            Err(why) => (
                self,
                Err(EnvFileError::Unreadable {
                    path: path.display().to_string(),
                    why,
                }),
            ),
        }
    }

    /// `$CREDENTIALS_DIRECTORY`, if systemd set it.
    pub fn credentials_dir(&self) -> Option<PathBuf> {
        self.get("CREDENTIALS_DIRECTORY")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    }
}

/// Where to read a file the configuration names: a file directly in
/// [`CONFIG_DIR`] is read from its credential copy `ttn_<name>` when systemd
/// passed one (the directory itself is root-only); any other path, or one
/// without a credential copy, is read as given. Used for the key, the config
/// file and the TLS files alike.
pub fn credential_path(path: &Path, env: &Environment) -> PathBuf {
    if let (Some(dir), Ok(rest)) = (env.credentials_dir(), path.strip_prefix(CONFIG_DIR)) {
        if let Some(name) = rest.to_str().filter(|n| !n.is_empty() && !n.contains('/')) {
            let cred = dir.join(format!("ttn_{name}"));
            if cred.exists() {
                return cred;
            }
        }
    }
    path.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_read_as_systemd_reads_them() {
        let text = "# comment\n; also\n\nTTN_EXPORTER_CACHE_TTL = 60s\nA=\"quoted value\"\nB='x'\nno assignment\n1X=bad\nC=\"\n";
        let vars = parse_env_file(text);
        let want = [
            ("TTN_EXPORTER_CACHE_TTL", "60s"),
            ("A", "quoted value"),
            ("B", "x"),
            ("C", "\""),
        ];
        assert_eq!(
            vars,
            want.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("env");
        std::fs::write(&file, "TTN_EXPORTER_CACHE_TTL=60s\n").expect("write");
        let own = Environment {
            vars: vec![("TTN_EXPORTER_CACHE_TTL".into(), "5s".into())],
        };
        let (env, read) = own.with_env_file(&file);
        assert_eq!(read.ok(), Some(1));
        // the process's own variables win
        assert_eq!(env.get("TTN_EXPORTER_CACHE_TTL"), Some("5s"));
        let (env, read) = Environment::default().with_env_file(&dir.path().join("none"));
        assert_eq!((env.vars.len(), read.ok()), (0, Some(0)));
    }

    #[test]
    fn files_in_the_config_dir_come_from_the_credentials() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ttn_tls.crt"), "x").expect("write");
        let env = Environment {
            vars: vec![(
                "CREDENTIALS_DIRECTORY".into(),
                dir.path().display().to_string(),
            )],
        };
        let p = |s: &str| credential_path(Path::new(s), &env);
        assert_eq!(
            p("/etc/ttn-exporter/tls.crt"),
            dir.path().join("ttn_tls.crt")
        );
        // Not delivered as a credential, elsewhere, or no systemd: as given.
        assert_eq!(
            p("/etc/ttn-exporter/other.crt"),
            Path::new("/etc/ttn-exporter/other.crt")
        );
        assert_eq!(p("/srv/tls.crt"), Path::new("/srv/tls.crt"));
        assert_eq!(
            credential_path(
                Path::new("/etc/ttn-exporter/tls.crt"),
                &Environment::default()
            ),
            Path::new("/etc/ttn-exporter/tls.crt")
        );
    }
}
