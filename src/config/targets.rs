//! Named targets: `[targets.NAME]` tables in the config, each with its own
//! key and scope, served at `/probe?target=NAME` (`server::probe`) from a
//! cache of its own (`cache::Targets`). The top-level settings
//! stay the default target at `/metrics`.
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

use super::options::RawConfig;
use super::validate::{validate, ConfigError, Target};
use crate::config::environment::Environment;
use crate::config::keys::{self, ApiKey};

/// Most targets a config may name.
pub const MAX_TARGETS: usize = 100;
/// Longest target name.
pub const MAX_NAME: usize = 32;
const KEY_ENV_PREFIX: &str = "TTN_EXPORTER_TARGET_";
const KEY_ENV_SUFFIX: &str = "_API_KEY";

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
    // A key variable of no configured target is a typo (of the name or of
    // the target), as an unknown TTN_EXPORTER_* variable is.
    if let Some((var, _)) = env
        .vars
        .iter()
        .find(|(k, _)| is_key_env(k) && !envs.contains_key(k.as_str()))
    {
        let known = if envs.is_empty() {
            "no [targets.NAME] is configured".to_owned()
        } else {
            let vars: Vec<&str> = envs.keys().map(String::as_str).collect();
            format!("the configured targets read {}", vars.join(", "))
        };
        return Err(format!(
            "unknown environment variable {}: {known}; correct its name or remove it",
            crate::model::sanitize::upstream(var)
        )
        .into());
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
        let config = validate(raw, key, source, None).map_err(in_target)?;
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
/// ([`keys::find_key_in`]).
fn find_key(name: &str, file: &Path, env: &Environment) -> Result<(ApiKey, String), ConfigError> {
    let credential = format!("ttn_{name}.key");
    keys::find_key_in(env, &[&credential], &key_env(name), file).map_err(ConfigError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, Config, Overrides, Scope, ENV_API_KEY};
    use std::time::Duration;

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

    /// A configured ID the server's rule refuses is an error at load, in
    /// the top level and in a target alike.
    #[test]
    fn ids_follow_the_servers_rule() {
        let long = "a".repeat(37);
        for bad in ["a", "ab--c", "gw-", "-gw", "GW", long.as_str()] {
            for text in [
                format!("gateways = [\"{bad}\"]\n"),
                format!("organization = \"{bad}\"\n"),
                format!(
                    "[targets.acme]\napi_key_file = \"DIR/acme.key\"\ngateways = [\"{bad}\"]\n"
                ),
            ] {
                let e = run(&text, &[]).map(|_| ()).unwrap_err();
                assert!(
                    e.contains(&format!("`{bad}`")) && e.contains("2 to 36"),
                    "{text}: {e}"
                );
            }
        }
        let ok = "a".repeat(36);
        for good in ["ab", "gw-1", "eui-ac1f09fffe08d721", ok.as_str()] {
            run(&format!("gateways = [\"{good}\"]\n"), &[]).unwrap();
        }
    }

    #[test]
    fn info_attributes_must_make_label_names() {
        let eleven: Vec<String> = (0..11).map(|i| format!("\"key{i}\"")).collect();
        let cases = [
            ("[\"ab\"]".to_owned(), "invalid info_attributes key `ab`"),
            ("[\"3rd-party\"]".to_owned(), "starting with a letter"),
            ("[\"Owner\"]".to_owned(), "invalid info_attributes key"),
            ("[\"own--er\"]".to_owned(), "invalid info_attributes key"),
            ("[\"name\"]".to_owned(), "would replace the `name` label"),
            (format!("[{}]", eleven.join(",")), "at most 10"),
        ];
        for (list, want) in cases {
            let e = run(&format!("info_attributes = {list}\n"), &[])
                .map(|_| ())
                .unwrap_err();
            assert!(e.contains(want), "{list}: {e}");
        }
        let c = run(
            "info_attributes = [\"owner\", \"site-code\", \"owner\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.info_attributes, ["owner", "site-code"]);
        let c = run("", &[("TTN_EXPORTER_INFO_ATTRIBUTES", "owner, site")]).unwrap();
        assert_eq!(c.info_attributes, ["owner", "site"]);
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
    fn a_key_variable_of_no_configured_target_is_an_error() {
        let msg = run(
            "[targets.acme]\n",
            &[
                ("TTN_EXPORTER_TARGET_ACME_API_KEY", "NNSXS.FAKE-ENV.X"),
                ("TTN_EXPORTER_TARGET_ACMEE_API_KEY", "NNSXS.FAKE-ENV.X"),
            ],
        )
        .unwrap_err();
        assert!(
            msg.contains("unknown environment variable TTN_EXPORTER_TARGET_ACMEE_API_KEY"),
            "{msg}"
        );
        assert!(msg.contains("TTN_EXPORTER_TARGET_ACME_API_KEY"), "{msg}");
        assert!(!msg.contains("FAKE-ENV") && !msg.contains('\n'), "{msg}");
        let msg = run("", &[("TTN_EXPORTER_TARGET_X_API_KEY", "NNSXS.FAKE-ENV.X")]).unwrap_err();
        assert!(msg.contains("no [targets.NAME] is configured"), "{msg}");
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
