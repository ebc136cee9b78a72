//! Configuration loading: layering, validation, bounds and the key, through
//! the public `config::load` with a captured environment.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ttn_exporter::config::*;

fn env(pairs: &[(&str, &str)]) -> Environment {
    Environment {
        vars: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn key_file(dir: &Path, mode: u32, content: &str) -> PathBuf {
    let p = dir.join("key");
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(content.as_bytes()).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

const KEY: &str = "NNSXS.FAKE-TEST-KEY.NOT-A-SECRET";

#[test]
fn defaults_with_env_key() {
    let c = load(
        Some(Path::new("/dev/null")),
        &Overrides::default(),
        &env(&[(ENV_API_KEY, KEY)]),
    )
    .unwrap();
    assert_eq!(c.listen.to_string(), "[::]:9715");
    assert_eq!(c.api_url.as_str(), "https://eu1.cloud.thethings.network/");
    assert_eq!(c.cache_ttl, Duration::from_secs(30));
    assert_eq!(c.request_timeout, Duration::from_secs(10));
    assert_eq!(c.refresh_timeout, Duration::from_secs(8));
    assert_eq!(c.max_gateways, 10_000);
    assert_eq!(c.scope, Scope::All);
    assert!(!c.legacy_metrics);
    assert_eq!(c.api_key.expose(), KEY);
    assert_eq!(format!("{:?}", c.api_key), "[redacted]");
    assert!(!format!("{c:?}").contains(KEY));
}

#[test]
fn layering_file_env_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:1\"\ncache_ttl = \"5m\"\nrequest_timeout = \"3s\"\napi_url = \"http://file\"\n",
    )
    .unwrap();
    let e = env(&[
        (ENV_API_KEY, KEY),
        ("TTN_EXPORTER_CACHE_TTL", "45s"),
        ("TTN_EXPORTER_API_URL", "http://env:8080/"),
        ("TTN_EXPORTER_LEGACY_METRICS", "true"),
        ("TTN_EXPORTER_GATEWAYS", "gw-a, gw-b"),
    ]);
    let flags = Overrides {
        api_url: Some("http://flag:1885".into()),
        ..Default::default()
    };
    let c = load(Some(&cfg), &flags, &e).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:1");
    assert_eq!(c.cache_ttl, Duration::from_secs(45));
    assert_eq!(c.request_timeout, Duration::from_secs(3));
    assert_eq!(c.api_url.as_str(), "http://flag:1885/");
    assert!(c.legacy_metrics);
    assert_eq!(c.scope, Scope::Explicit(vec!["gw-a".into(), "gw-b".into()]));
    assert_eq!(c.config_file.as_deref(), Some(cfg.as_path()));
}

#[test]
fn shipped_example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/config.toml");
    assert!(path.exists(), "{} is shipped", path.display());
    let raw = load_raw(Some(&path), &Overrides::default(), &env(&[])).unwrap();
    assert_eq!(raw, RawConfig::default());
}

fn err_of(cfg_text: &str, e: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, cfg_text).unwrap();
    let mut pairs: Vec<(&str, &str)> = vec![(ENV_API_KEY, KEY)];
    pairs.extend_from_slice(e);
    load(Some(&cfg), &Overrides::default(), &env(&pairs))
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_configs_say_what_is_wrong() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("cache_tll = \"5s\"\n", &[], "cache_tll"),
        ("listen = \n", &[], "config.toml"),
        ("api_url = \"not a url\"\n", &[], "invalid api_url"),
        ("api_url = \"ftp://x\"\n", &[], "http or https"),
        ("cache_ttl = \"five\"\n", &[], "cache_ttl"),
        (
            "cache_ttl = \"0s\"\n",
            &[],
            "cache_ttl = 0s is out of range",
        ),
        // Issue 9: accepted before, then a refresh per scrape or a panic.
        (
            "cache_ttl = \"1ns\"\n",
            &[],
            "cache_ttl = 1ns is out of range: use 1s to 1day",
        ),
        ("cache_ttl = \"300000000000y\"\n", &[], "cache_ttl = "),
        (
            "request_timeout = \"1ms\"\n",
            &[],
            "request_timeout = 1ms is out of range",
        ),
        (
            "request_timeout = \"1y\"\n",
            &[],
            "request_timeout = 1year is out of range",
        ),
        // Issue 9: a query was silently dropped.
        (
            "api_url = \"https://x.example/api?tenant=a\"\n",
            &[],
            "remove the query",
        ),
        (
            "api_url = \"https://x.example/#frag\"\n",
            &[],
            "remove the query or fragment",
        ),
        // Issue 9: a newline in an ID gave a two-line error.
        (
            "gateways = [\"gw\\nMAINPID=1\"]\n",
            &[],
            "invalid gateway ID `gw\\nMAINPID=1`",
        ),
        ("organization = \"o\\nx\"\n", &[], "invalid organization ID"),
        (
            "refresh_timeout = \"0s\"\n",
            &[],
            "refresh_timeout = 0s is out of range",
        ),
        (
            "refresh_timeout = \"2h\"\n",
            &[],
            "refresh_timeout = 2h is out of range",
        ),
        (
            "max_gateways = 0\n",
            &[],
            "max_gateways must be 1 to 1000000",
        ),
        ("max_gateways = -5\n", &[], "max_gateways"),
        ("listen = \"localhost\"\n", &[], "invalid listen address"),
        ("gateways = []\n", &[], "gateways is empty"),
        ("gateways = [\"Bad ID\"]\n", &[], "invalid gateway ID"),
        ("organization = \"o\"\nuser = \"u\"\n", &[], "at most one"),
        ("", &[("TTN_EXPORTER_BOGUS", "1")], "TTN_EXPORTER_BOGUS"),
        (
            "",
            &[("TTN_EXPORTER_REQUEST_TIMEOUT", "soon")],
            "in environment variable TTN_EXPORTER_REQUEST_TIMEOUT",
        ),
    ];
    for (text, e, needle) in cases {
        let msg = err_of(text, e);
        assert!(msg.contains(needle), "{text:?}: {msg}");
        assert!(!msg.contains('\n'), "multi-line: {msg}");
        assert!(!msg.contains(KEY));
    }
}

#[test]
fn explicit_missing_config_is_an_error() {
    let msg = load(
        Some(Path::new("/nonexistent/ttn.toml")),
        &Overrides::default(),
        &env(&[(ENV_API_KEY, KEY)]),
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("/nonexistent/ttn.toml"), "{msg}");
    assert!(msg.contains("no such file"), "{msg}");
}

#[test]
fn key_lookup_order_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    let file = key_file(dir.path(), 0o600, "  NNSXS.FILE-KEY.FAKE\n");
    let flags = Overrides {
        api_key_file: Some(file.clone()),
        ..Default::default()
    };
    let cfg = Some(Path::new("/dev/null"));
    // file only
    let c = load(cfg, &flags, &env(&[])).unwrap();
    assert_eq!(c.api_key.expose(), "NNSXS.FILE-KEY.FAKE");
    // env beats file
    let c = load(cfg, &flags, &env(&[(ENV_API_KEY, "NNSXS.ENV-KEY.FAKE")])).unwrap();
    assert_eq!(c.api_key.expose(), "NNSXS.ENV-KEY.FAKE");
    // credential beats env
    std::fs::write(creds.join("ttn_key"), "NNSXS.CRED-KEY.FAKE\n").unwrap();
    let e = env(&[
        (ENV_API_KEY, "NNSXS.ENV-KEY.FAKE"),
        ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
    ]);
    let c = load(cfg, &flags, &e).unwrap();
    assert_eq!(c.api_key.expose(), "NNSXS.CRED-KEY.FAKE");
    assert_eq!(c.api_key_source, "systemd credential ttn_key");
}

#[test]
fn bad_keys_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(u32, &str, &str)] = &[
        (0o600, "", "is empty"),
        (0o600, " \n", "is empty"),
        (0o600, "NNSXS.A B", "whitespace"),
        (0o644, "NNSXS.FAKE", "other users"),
        (0o604, "NNSXS.FAKE", "chmod 0600"),
    ];
    for (mode, content, needle) in cases {
        let file = key_file(dir.path(), *mode, content);
        let flags = Overrides {
            api_key_file: Some(file),
            ..Default::default()
        };
        let msg = load(Some(Path::new("/dev/null")), &flags, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(needle), "{mode:o} {content:?}: {msg}");
        assert!(!msg.contains('\n'));
        if !content.trim().is_empty() {
            assert!(!msg.contains(content.trim()), "key leaked: {msg}");
        }
    }
    let msg = load(
        Some(Path::new("/dev/null")),
        &Overrides::default(),
        &env(&[(ENV_API_KEY, "")]),
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("TTN_EXPORTER_API_KEY is empty"), "{msg}");
}

#[test]
fn missing_key_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let flags = Overrides {
        api_key_file: Some(dir.path().join("key")),
        ..Default::default()
    };
    let msg = load(Some(Path::new("/dev/null")), &flags, &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(msg.contains("install -m 0600"), "{msg}");
    // Under systemd with the default path: it names /etc/ttn-exporter/key.
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    let e = env(&[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())]);
    let msg = load(Some(Path::new("/dev/null")), &Overrides::default(), &e)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/etc/ttn-exporter/key is missing"), "{msg}");
}

/// Issue 9 item 10: a FIFO hung forever, a device was read to 2 GB, a 100 MB
/// key was accepted, a directory got a misleading message.
#[test]
fn key_file_must_be_a_small_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let big = dir.path().join("big");
    std::fs::write(&big, "N".repeat(100_000)).unwrap();
    std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o600)).unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cases: [(PathBuf, &str); 4] = [
        (fifo, "is a FIFO, not a regular file"),
        (
            PathBuf::from("/dev/zero"),
            "is a character device, not a regular file",
        ),
        (sub, "is a directory, not a regular file"),
        (big, "is larger than 4096 bytes"),
    ];
    for (path, needle) in cases {
        let flags = Overrides {
            api_key_file: Some(path.clone()),
            ..Default::default()
        };
        let msg = load(Some(Path::new("/dev/null")), &flags, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(needle), "{}: {msg}", path.display());
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        // It exists: never a hint to write the key over it.
        assert!(!msg.contains("install -m"), "{msg}");
    }
}
