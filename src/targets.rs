//! Named targets: `[targets.NAME]` tables in the config, each with its own
//! key, scope, cache and counters, served at `/probe?target=NAME`
//! ([`crate::probe`]). The top-level settings stay the default target at
//! `/metrics`.
//!
//! A target inherits `api_url`, `cache_ttl`, `request_timeout` and
//! `legacy_metrics` from the top level when it does not set them; its scope
//! (`gateways`, `organization`, `user`) is its own (unset: every gateway its
//! key can list). Its key, first match wins: the systemd credential
//! `ttn_NAME.key` (the file `/etc/ttn-exporter/NAME.key`), the environment
//! variable `TTN_EXPORTER_TARGET_<NAME>_API_KEY` (name in capitals, `-` as
//! `_`), the file `api_key_file` (default `/etc/ttn-exporter/NAME.key`),
//! with the same checks as the main key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::{Cache, Source};
use crate::config::{ApiKey, Config, ConfigError, Environment, GatewayList, RawConfig};
use crate::metrics::SelfMetrics;

/// Most targets a config may name.
pub const MAX_TARGETS: usize = 100;
/// Longest target name.
pub const MAX_NAME: usize = 32;
const KEY_ENV_PREFIX: &str = "TTN_EXPORTER_TARGET_";
const KEY_ENV_SUFFIX: &str = "_API_KEY";

/// One `[targets.NAME]` table as written; unset fields inherit.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// The Things Stack base URL (default: the top-level `api_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Key file (default `/etc/ttn-exporter/NAME.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// Default: the top-level `cache_ttl`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_ttl: Option<Duration>,
    /// Default: the top-level `request_timeout`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_timeout: Option<Duration>,
    /// Explicit gateway IDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateways: Option<GatewayList>,
    /// List this organization's gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// List this user's gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Default: the top-level `legacy_metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_metrics: Option<bool>,
}

/// A validated named target.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its name, `[a-z0-9_-]{1,32}`.
    pub name: String,
    /// Its settings, as a full configuration (`listen`, `web` unused).
    pub config: Config,
}

/// True for a valid target name: 1 to 32 of `a-z`, `0-9`, `_`, `-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The environment variable holding target `name`'s key.
pub fn key_env(name: &str) -> String {
    format!(
        "{KEY_ENV_PREFIX}{}{KEY_ENV_SUFFIX}",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// True for a target key variable (kept out of the config layering).
pub fn is_key_env(var: &str) -> bool {
    var.starts_with(KEY_ENV_PREFIX) && var.ends_with(KEY_ENV_SUFFIX)
}

/// Validate every `[targets.NAME]` of `top` and find their keys.
pub fn load(top: &RawConfig, env: &Environment) -> Result<Vec<Target>, ConfigError> {
    if top.targets.len() > MAX_TARGETS {
        return Err(format!(
            "too many targets ({}): at most {MAX_TARGETS}",
            top.targets.len()
        )
        .into());
    }
    let mut envs: BTreeMap<String, &str> = BTreeMap::new();
    for name in top.targets.keys() {
        if !valid_name(name) {
            return Err(format!(
                "invalid target name `{}`: use 1 to {MAX_NAME} of a-z, 0-9, _ and -",
                name.chars().take(40).collect::<String>().escape_debug()
            )
            .into());
        }
        if let Some(other) = envs.insert(key_env(name), name) {
            return Err(format!(
                "targets `{other}` and `{name}` share the key variable {}: rename one",
                key_env(name)
            )
            .into());
        }
    }
    let mut out = Vec::new();
    for (name, t) in &top.targets {
        let raw = RawConfig {
            api_url: t.api_url.clone().unwrap_or_else(|| top.api_url.clone()),
            api_key_file: t
                .api_key_file
                .clone()
                .unwrap_or_else(|| default_key_file(name)),
            cache_ttl: t.cache_ttl.unwrap_or(top.cache_ttl),
            request_timeout: t.request_timeout.unwrap_or(top.request_timeout),
            gateways: t.gateways.clone(),
            organization: t.organization.clone(),
            user: t.user.clone(),
            legacy_metrics: t.legacy_metrics.unwrap_or(top.legacy_metrics),
            web_config_file: None,
            targets: BTreeMap::new(),
            ..top.clone()
        };
        let in_target = |e: ConfigError| ConfigError::from(format!("target `{name}`: {e}"));
        let (key, source) = find_key(name, &raw.api_key_file, env).map_err(in_target)?;
        let config = crate::config::validate(raw, key, source, None).map_err(in_target)?;
        out.push(Target {
            name: name.clone(),
            config,
        });
    }
    Ok(out)
}

fn default_key_file(name: &str) -> PathBuf {
    PathBuf::from(format!("/etc/ttn-exporter/{name}.key"))
}

/// Credential `ttn_NAME.key`, then environment, then the key file
/// ([`crate::config::find_key_in`]).
fn find_key(name: &str, file: &Path, env: &Environment) -> Result<(ApiKey, String), ConfigError> {
    let credential = format!("ttn_{name}.key");
    crate::config::find_key_in(env, &[&credential], &key_env(name), file)
}

/// The running targets: one [`Cache`] each, swapped as a whole on reload.
#[derive(Default)]
pub struct Targets {
    map: RwLock<BTreeMap<String, Cache>>,
}

impl Targets {
    /// The cache of target `name`.
    pub fn get(&self, name: &str) -> Option<Cache> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Target names, sorted.
    pub fn names(&self) -> Vec<String> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }

    /// Serve exactly `targets`: a target kept by name keeps its cache and
    /// counters with the new settings (next scrape refreshes); new ones
    /// start empty; others go. On error nothing changes.
    pub fn apply(&self, targets: &[Target]) -> anyhow::Result<()> {
        let old = self.map.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut next = BTreeMap::new();
        let mut swaps = Vec::new();
        for t in targets {
            match old.get(&t.name) {
                Some(cache) => {
                    let source = Source::from_config(&t.config, cache.self_metrics())?;
                    swaps.push((cache.clone(), source));
                    next.insert(t.name.clone(), cache.clone());
                }
                None => {
                    let own = SelfMetrics::for_target()?;
                    let source = Source::from_config(&t.config, &own)?;
                    next.insert(t.name.clone(), Cache::new(source, own));
                }
            }
            tracing::info!(
                "target {} at /probe?target={}: {} (key from {})",
                t.name,
                t.name,
                t.config.api_url,
                t.config.api_key_source
            );
        }
        for (cache, source) in swaps {
            cache.set_source(source);
        }
        *self.map.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, Overrides, Scope, ENV_API_KEY};

    const KEY: &str = "NNSXS.FAKE-TEST-KEY.NOT-A-SECRET";
    const ACME: &str = "NNSXS.FAKE-ACME-KEY.NOT-A-SECRET";

    fn run(cfg_text: &str, vars: &[(&str, &str)]) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, cfg_text.replace("DIR", dir.path().to_str().unwrap())).unwrap();
        for (name, mode, text) in [("acme.key", 0o600, ACME), ("open.key", 0o644, ACME)] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .unwrap();
        }
        let mut v: Vec<(String, String)> = vec![(ENV_API_KEY.into(), KEY.into())];
        v.extend(vars.iter().map(|(k, x)| (k.to_string(), x.to_string())));
        load(Some(&cfg), &Overrides::default(), &Environment { vars: v }).map_err(|e| e.to_string())
    }

    #[test]
    fn targets_inherit_and_find_their_keys() {
        let c = run(
            "api_url = \"http://top\"\ncache_ttl = \"1m\"\norganization = \"top-org\"\n\
             [targets.acme]\norganization = \"acme\"\napi_key_file = \"DIR/acme.key\"\n\
             [targets.b-2]\napi_url = \"http://other\"\nrequest_timeout = \"3s\"\ngateways = [\"gw-1\"]\n",
            &[("TTN_EXPORTER_TARGET_B_2_API_KEY", "NNSXS.FAKE-B2.X")],
        )
        .unwrap();
        assert_eq!(c.scope, Scope::Organization("top-org".into()));
        let [a, b] = &c.targets[..] else {
            panic!("{:?}", c.targets)
        };
        assert_eq!((a.name.as_str(), b.name.as_str()), ("acme", "b-2"));
        assert_eq!(a.config.api_url.as_str(), "http://top/");
        assert_eq!(a.config.cache_ttl, Duration::from_secs(60));
        assert_eq!(a.config.scope, Scope::Organization("acme".into()));
        assert_eq!(a.config.api_key.expose(), ACME);
        assert_eq!(b.config.api_url.as_str(), "http://other/");
        assert_eq!(b.config.request_timeout, Duration::from_secs(3));
        assert_eq!(b.config.scope, Scope::Explicit(vec!["gw-1".into()]));
        assert_eq!(b.config.api_key.expose(), "NNSXS.FAKE-B2.X");
        assert_eq!(
            b.config.api_key_source,
            "environment TTN_EXPORTER_TARGET_B_2_API_KEY"
        );
        assert!(!format!("{c:?}").contains(ACME));
    }

    #[test]
    fn credential_beats_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ttn_acme.key"), "NNSXS.FAKE-CRED.X\n").unwrap();
        let c = run(
            "[targets.acme]\napi_key_file = \"DIR/acme.key\"\n",
            &[
                ("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap()),
                ("TTN_EXPORTER_TARGET_ACME_API_KEY", "NNSXS.FAKE-ENV.X"),
            ],
        )
        .unwrap();
        assert_eq!(c.targets[0].config.api_key.expose(), "NNSXS.FAKE-CRED.X");
        assert_eq!(
            c.targets[0].config.api_key_source,
            "systemd credential ttn_acme.key"
        );
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        let cases: &[(&str, &str)] = &[
            ("[targets.Acme]\n", "invalid target name `Acme`"),
            ("[targets.\"a b\"]\n", "invalid target name"),
            (&format!("[targets.{}]\n", "a".repeat(33)), "invalid target name"),
            ("[targets.a-b]\n[targets.a_b]\n", "share the key variable"),
            ("[targets.acme]\nbogus = 1\n", "bogus"),
            ("[targets.acme]\napi_key_file = \"DIR/none.key\"\n", "target `acme`: no API key"),
            ("[targets.acme]\napi_key_file = \"DIR/open.key\"\n", "other users"),
            (
                "[targets.acme]\napi_key_file = \"DIR/acme.key\"\napi_url = \"ftp://x\"\n",
                "target `acme`: invalid api_url",
            ),
            (
                "[targets.acme]\napi_key_file = \"DIR/acme.key\"\norganization = \"a\"\nuser = \"b\"\n",
                "at most one",
            ),
            (
                "[targets.acme]\napi_key_file = \"DIR/acme.key\"\ncache_ttl = \"0s\"\n",
                "cache_ttl = 0s is out of range",
            ),
        ];
        for (text, needle) in cases {
            let msg = run(text, &[]).unwrap_err();
            assert!(msg.contains(needle), "{text:?}: {msg}");
            assert!(!msg.contains('\n'), "multi-line: {msg}");
            assert!(
                !msg.contains(ACME) && !msg.contains(KEY),
                "key leaked: {msg}"
            );
        }
        let msg = run(
            "[targets.acme]\n",
            &[("TTN_EXPORTER_TARGET_ACME_API_KEY", "")],
        )
        .unwrap_err();
        assert!(
            msg.contains("TTN_EXPORTER_TARGET_ACME_API_KEY is empty"),
            "{msg}"
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("acme") && valid_name("a_b-9") && valid_name(&"x".repeat(32)));
        assert!(!valid_name("") && !valid_name("ACME") && !valid_name("a.b") && !valid_name("ä"));
        assert_eq!(key_env("b-2"), "TTN_EXPORTER_TARGET_B_2_API_KEY");
        assert!(is_key_env("TTN_EXPORTER_TARGET_ACME_API_KEY"));
        assert!(!is_key_env(ENV_API_KEY));
    }
}
