//! The command line of the built binary: every invalid configuration exits
//! 78 (EX_CONFIG) with exactly one line on stderr that names the problem;
//! `--help`, `--version` and `check` against the in-process fake TTS.
//!
//! Every run has a cleared environment, an explicit `--config` (so no
//! /etc/ttn-exporter/config.toml of the machine is read), a loopback API URL
//! and listen address, and a bounded wait; nothing leaves 127.0.0.1.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use crate::common::probe::{ACME_KEY, WRONG_KEY};
use crate::common::{write_file, Files, KEY};
use crate::process::{background_fake, require_absent, Daemon, BAD_KEY_PART, BIN};
use fake_tts::{FakeGateway, FAKE_ORG_ID};

const EX_CONFIG: i32 = 78;

/// A finished run.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// Run to completion with a bounded wait (the child is killed on timeout
/// and the test fails); no key in its output, no panic.
fn run(cmd: Command) -> Run {
    let mut d = Daemon::spawn(cmd);
    let run = Run {
        status: d.wait_exit(),
        stdout: d.stdout(),
        stderr: d.stderr(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "panicked:\n{}",
        run.describe()
    );
    run
}

/// The binary with a clean environment, `--log-format text`, the scratch
/// config and key, and loopback addresses only (given in the environment, so
/// that a case can still override them with a flag). `api_url` defaults to a
/// port that refuses connections.
fn base(s: &Files, api_url: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .args(["--log-format", "text"])
        .arg("--config")
        .arg(s.config())
        .arg("--api-key-file")
        .arg(s.key())
        .env("TTN_EXPORTER_LISTEN", "127.0.0.1:0")
        .env(
            "TTN_EXPORTER_API_URL",
            api_url.unwrap_or("http://127.0.0.1:1"),
        );
    cmd
}

// ---------------------------------------------------------------------------
// 5. bad inputs: exit 78, one line

/// One invalid input. `setup` prepares the scratch dir and the command;
/// each of `needles` must appear in the one stderr line (case-insensitive).
struct Case {
    name: &'static str,
    setup: fn(&Files, &mut Command),
    needles: fn(&Files) -> Vec<String>,
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(st.success(), "mkfifo {}", path.display());
}

fn p(path: PathBuf) -> String {
    path.display().to_string()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "config syntax error",
            setup: |s, _| write_file(&s.config(), "listen = \n", 0o644),
            needles: |s| vec![p(s.config()), "line 1".into()],
        },
        Case {
            name: "unknown config key",
            setup: |s, _| write_file(&s.config(), "cache_tll = \"5s\"\n", 0o644),
            needles: |s| vec![p(s.config()), "cache_tll".into()],
        },
        Case {
            name: "unknown TTN_EXPORTER_* variable",
            setup: |_, c| {
                c.env("TTN_EXPORTER_BOGUS", "1");
            },
            needles: |_| vec!["bogus".into(), "TTN_EXPORTER_".into()],
        },
        Case {
            name: "bad URL (flag)",
            setup: |_, c| {
                c.args(["--api-url", "not a url"]);
            },
            needles: |_| vec!["api_url".into(), "not a url".into()],
        },
        Case {
            name: "bad URL scheme (config)",
            setup: |s, c| {
                write_file(&s.config(), "api_url = \"ftp://127.0.0.1\"\n", 0o644);
                // The environment would win over the file.
                c.env_remove("TTN_EXPORTER_API_URL");
            },
            needles: |_| vec!["api_url".into(), "http".into()],
        },
        Case {
            name: "bad duration (config)",
            setup: |s, _| write_file(&s.config(), "cache_ttl = \"five\"\n", 0o644),
            needles: |s| vec![p(s.config()), "cache_ttl".into(), "five".into()],
        },
        Case {
            name: "bad duration (flag)",
            setup: |_, c| {
                c.args(["--request-timeout", "soon"]);
            },
            needles: |_| vec!["request_timeout".into(), "soon".into()],
        },
        Case {
            name: "bad duration (environment)",
            setup: |_, c| {
                c.env("TTN_EXPORTER_CACHE_TTL", "forever");
            },
            needles: |_| vec!["cache_ttl".into(), "forever".into()],
        },
        Case {
            name: "bad listen address",
            setup: |_, c| {
                c.args(["--listen", "localhost"]);
            },
            needles: |_| vec!["listen".into(), "localhost".into()],
        },
        Case {
            name: "empty key file",
            setup: |s, _| write_file(&s.key(), "\n", 0o600),
            needles: |s| vec![p(s.key()), "empty".into()],
        },
        Case {
            name: "key with spaces inside",
            setup: |s, _| write_file(&s.key(), &format!("NNSXS.{BAD_KEY_PART} KEY\n"), 0o600),
            needles: |s| vec![p(s.key()), "whitespace".into()],
        },
        Case {
            name: "key with spaces inside (environment)",
            setup: |_, c| {
                c.env("TTN_EXPORTER_API_KEY", format!("NNSXS.{BAD_KEY_PART} KEY"));
            },
            needles: |_| vec!["TTN_EXPORTER_API_KEY".into(), "whitespace".into()],
        },
        Case {
            name: "world-readable key file",
            setup: |s, _| write_file(&s.key(), &format!("{KEY}\n"), 0o644),
            needles: |s| vec![p(s.key()), "0644".into(), "chmod 0600".into()],
        },
        Case {
            name: "missing key file",
            setup: |s, _| std::fs::remove_file(s.key()).expect("rm"),
            needles: |s| {
                vec![
                    p(s.key()),
                    "does not exist".into(),
                    "install -m 0600".into(),
                ]
            },
        },
        Case {
            name: "missing --config file",
            setup: |s, _| std::fs::remove_file(s.config()).expect("rm"),
            needles: |s| vec![p(s.config()), "no such file".into()],
        },
        Case {
            name: "bad boolean (flag)",
            setup: |_, c| {
                c.arg("--events=maybe");
            },
            needles: |_| vec!["--events".into(), "maybe".into(), "--help".into()],
        },
        Case {
            name: "bad number (flag)",
            setup: |_, c| {
                c.args(["--max-gateways", "abc"]);
            },
            needles: |_| vec!["--max-gateways".into(), "abc".into()],
        },
        Case {
            name: "unknown flag",
            setup: |_, c| {
                c.arg("--cache-tll=5s");
            },
            needles: |_| vec!["--cache-tll".into(), "--help".into()],
        },
        Case {
            name: "unknown subcommand",
            setup: |_, c| {
                c.arg("chekc");
            },
            needles: |_| vec!["chekc".into()],
        },
        Case {
            name: "--config names a FIFO (would block in open)",
            setup: |s, _| {
                std::fs::remove_file(s.config()).expect("rm");
                mkfifo(&s.config());
            },
            needles: |s| vec![p(s.config()), "FIFO".into(), "not a regular file".into()],
        },
        Case {
            name: "--config is a symlink to /dev/zero",
            setup: |s, _| {
                std::fs::remove_file(s.config()).expect("rm");
                std::os::unix::fs::symlink("/dev/zero", s.config()).expect("symlink");
            },
            needles: |s| vec![p(s.config()), "character device".into()],
        },
        Case {
            name: "--config is a directory",
            setup: |s, _| {
                std::fs::remove_file(s.config()).expect("rm");
                std::fs::create_dir(s.config()).expect("mkdir");
            },
            needles: |s| vec![p(s.config()), "directory".into()],
        },
        Case {
            name: "--config larger than 1 MiB",
            setup: |s, _| write_file(&s.config(), &"#".repeat(2 << 20), 0o644),
            needles: |s| vec![p(s.config()), "larger than".into()],
        },
        Case {
            name: "web config is /dev/zero",
            setup: |s, _| write_file(&s.config(), "web_config_file = \"/dev/zero\"\n", 0o644),
            needles: |_| vec!["/dev/zero".into(), "character device".into()],
        },
        Case {
            name: "web config is a FIFO",
            setup: |s, _| {
                mkfifo(&s.path("web.yml"));
                let text = format!("web_config_file = \"{}\"\n", p(s.path("web.yml")));
                write_file(&s.config(), &text, 0o644);
            },
            needles: |s| vec![p(s.path("web.yml")), "FIFO".into()],
        },
        Case {
            // Issue 21 item 13: 10.3 s of CPU before exit 78.
            name: "web config nested 64,000 deep",
            setup: |s, _| {
                write_file(&s.path("web.yml"), &"[".repeat(64_000), 0o644);
                let text = format!("web_config_file = \"{}\"\n", p(s.path("web.yml")));
                write_file(&s.config(), &text, 0o644);
            },
            needles: |s| vec![p(s.path("web.yml")), "nested deeper than 32".into()],
        },
        Case {
            name: "TLS certificate is /dev/zero",
            setup: |s, _| {
                write_file(
                    &s.path("web.yml"),
                    "tls_server_config:\n  cert_file: /dev/zero\n  key_file: /dev/zero\n",
                    0o644,
                );
                let text = format!("web_config_file = \"{}\"\n", p(s.path("web.yml")));
                write_file(&s.config(), &text, 0o644);
            },
            needles: |_| vec!["/dev/zero".into(), "character device".into()],
        },
        Case {
            name: "a cipher suite rustls lacks",
            setup: |s, _| {
                write_file(
                    &s.path("web.yml"),
                    "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
                    0o644,
                );
                let text = format!("web_config_file = \"{}\"\n", p(s.path("web.yml")));
                write_file(&s.config(), &text, 0o644);
            },
            needles: |s| {
                vec![
                    p(s.path("web.yml")),
                    "TLS_RSA_WITH_AES_128_CBC_SHA is not supported".into(),
                ]
            },
        },
        Case {
            name: "check with a bad config exits 78 too",
            setup: |s, c| {
                write_file(&s.config(), "bogus = 1\n", 0o644);
                c.arg("check");
            },
            needles: |s| vec![p(s.config()), "bogus".into()],
        },
    ]
}

/// The one-line rule for a failed run.
fn assert_one_line_ex_config(what: &str, r: &Run, needles: &[String]) {
    assert_eq!(
        r.status.code(),
        Some(EX_CONFIG),
        "{what}: exit status\n{}",
        r.describe()
    );
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: exactly one stderr line\n{}",
        r.describe()
    );
    let line = lines[0].to_lowercase();
    for n in needles {
        assert!(
            line.contains(&n.to_lowercase()),
            "{what}: the line should name {n:?}: {}",
            lines[0]
        );
    }
    // Written for a user: no Rust type paths (`a::b`; `[::]` is fine).
    assert!(
        !has_rust_path(lines[0]),
        "{what}: internals in the message: {}",
        lines[0]
    );
    assert!(
        r.stdout.trim().is_empty(),
        "{what}: stdout\n{}",
        r.describe()
    );
}

/// `word::word`, as in a Rust type name.
fn has_rust_path(line: &str) -> bool {
    let b = line.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    (1..b.len().saturating_sub(2))
        .any(|i| &b[i..i + 2] == b"::" && word(b[i - 1]) && word(b[i + 2]))
}

#[test]
fn bad_inputs_exit_78_with_one_line() {
    let mut failures = Vec::new();
    for case in cases() {
        let s = Files::new();
        let mut cmd = base(&s, None);
        (case.setup)(&s, &mut cmd);
        let needles = (case.needles)(&s);
        let r = run(cmd);
        if let Err(e) =
            std::panic::catch_unwind(|| assert_one_line_ex_config(case.name, &r, &needles))
        {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Under systemd (`CREDENTIALS_DIRECTORY` set) without a key credential and
/// with the default key path, the line names /etc/ttn-exporter/key, the file
/// the user must create.
#[test]
#[ignore = "needs a machine without /etc/ttn-exporter/key (the package's default key file)"]
fn missing_credential_names_the_key_file_on_disk() {
    require_absent(
        "/etc/ttn-exporter/key",
        "the binary would read it: run this test where the package is not set up",
    );
    let s = Files::new();
    let creds = s.dir.path().join("credentials");
    std::fs::create_dir(&creds).expect("mkdir");
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("CREDENTIALS_DIRECTORY", &creds)
        .args(["--log-format", "text", "--listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(s.config())
        .args(["--api-url", "http://127.0.0.1:1"]);
    let r = run(cmd);
    assert_one_line_ex_config(
        "missing credential",
        &r,
        &["/etc/ttn-exporter/key".into(), "install -m 0600".into()],
    );
}

/// An unreadable key file (mode 0000). Root reads it anyway, so the binary
/// runs as `nobody` through setpriv(1), which needs root.
#[test]
#[ignore = "needs root and setpriv (util-linux) to run the binary as nobody"]
fn unreadable_key_file_exits_78_with_one_line() {
    let setpriv = Path::new("/usr/bin/setpriv");
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    assert!(
        is_root && setpriv.exists(),
        "needs root and /usr/bin/setpriv to run the binary as an unprivileged user"
    );
    let s = Files::new();
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    write_file(&s.key(), &format!("{KEY}\n"), 0o000);
    let inner = base(&s, None);
    let mut cmd = Command::new(setpriv);
    cmd.env_clear()
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(inner.get_program())
        .args(inner.get_args());
    let r = run(cmd);
    assert!(
        !r.stderr.contains("setpriv:"),
        "setpriv failed here:\n{}",
        r.stderr
    );
    assert_one_line_ex_config(
        "unreadable key file",
        &r,
        &[p(s.key()), "permission denied".into(), "sudo".into()],
    );
    // The file exists: no hint to create (overwrite) it.
    assert!(!r.stderr.contains("install -m"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------
// 6. --help, --version, check

#[test]
fn help_and_version_exit_0() {
    let mut help = Command::new(BIN);
    help.env_clear().arg("--help");
    let r = run(help);
    assert_eq!(r.status.code(), Some(0), "{}", r.describe());
    for needle in ["check", "--config", "--api-key-file", "--listen"] {
        assert!(
            r.stdout.contains(needle),
            "--help lacks {needle}:\n{}",
            r.stdout
        );
    }
    // There is no flag that takes the key itself.
    assert!(
        !r.stdout.contains("--api-key ") && !r.stdout.contains("--key "),
        "{}",
        r.stdout
    );

    let mut version = Command::new(BIN);
    version.env_clear().arg("--version");
    let r = run(version);
    assert_eq!(r.status.code(), Some(0), "{}", r.describe());
    assert!(
        r.stdout.contains(env!("CARGO_PKG_VERSION")),
        "--version: {}",
        r.stdout
    );
}

/// `check` makes one round trip to the (fake) API and prints the summary.
#[test]
fn check_prints_gateways_and_connected() {
    // Synthetic kinds cycle: connected, connected, disconnected, never.
    let n = 6;
    let connected = (0..n).filter(|i| i % 4 < 2).count();
    let (_rt, fake) = background_fake((0..n).map(FakeGateway::synthetic).collect());
    let s = Files::new();
    let mut cmd = base(&s, Some(&fake.url()));
    cmd.arg("check");
    let r = run(cmd);
    assert_eq!(r.status.code(), Some(0), "{}", r.describe());
    let want = format!("{n} gateways, {connected} connected");
    assert!(
        r.stdout.lines().any(|l| l.trim() == want),
        "check should print {want:?}:\n{}",
        r.describe()
    );
    assert!(r.stdout.contains("key accepted"), "{}", r.describe());
    assert_eq!(fake.seen_tokens(), vec![KEY.to_owned()]);
}

/// `check` with a key the API rejects: non-zero, one line naming HTTP 401.
#[test]
fn check_with_rejected_key_names_http_401() {
    let (_rt, fake) = background_fake((0..2).map(FakeGateway::synthetic).collect());
    fake.set_keys(&["NNSXS.FAKE-OTHER-KEY.NOT-A-SECRET"]);
    let s = Files::new();
    let mut cmd = base(&s, Some(&fake.url()));
    cmd.arg("check");
    let r = run(cmd);
    assert!(
        !r.status.success() && r.status.code().is_some(),
        "{}",
        r.describe()
    );
    let errors: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{}", r.describe());
    assert!(errors[0].contains("HTTP 401"), "{}", errors[0]);
    assert!(fake.seen_tokens().contains(&KEY.to_owned()));
}

/// `check` with named targets checks each with its own key and fails when
/// one fails; a bad target table exits 78 with one line.
#[test]
fn check_checks_every_target_and_bad_targets_exit_78() {
    let (_rt, fake) = background_fake((0..12).map(FakeGateway::synthetic).collect());
    fake.set_keys(&[KEY, ACME_KEY]);
    let files = Files::new();
    write_file(&files.path("acme.key"), ACME_KEY, 0o600);
    write_file(&files.path("wrong.key"), WRONG_KEY, 0o600);
    let dir = files.dir.path().display().to_string();
    let config = format!(
        "[targets.acme]\norganization = \"{FAKE_ORG_ID}\"\napi_key_file = \"{dir}/acme.key\"\n\
         [targets.wrong]\napi_key_file = \"{dir}/wrong.key\"\n"
    );
    write_file(&files.config(), &config, 0o644);
    let mut cmd = base(&files, Some(&fake.url()));
    cmd.arg("check");
    let r = run(cmd);
    let (stdout, stderr) = (&r.stdout, &r.stderr);
    assert!(!r.status.success(), "{}", r.describe());
    assert!(stdout.contains("12 gateways, 6 connected"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("target acme:") && l.ends_with("4 gateways, 2 connected")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("target wrong:") && l.contains("FAILED")),
        "{stdout}"
    );
    assert!(stderr.contains("target(s) failed: wrong"), "{stderr}");
    for secret in [ACME_KEY, WRONG_KEY] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    let tokens = fake.seen_tokens();
    assert!(tokens.iter().any(|t| t == ACME_KEY) && tokens.iter().any(|t| t == WRONG_KEY));

    for (config, needle) in [
        ("[targets.Acme]\n", "invalid target name `Acme`"),
        ("[targets.acme]\nscope = \"x\"\n", "scope"),
        ("[targets.nokey]\n", "target `nokey`: no API key"),
    ] {
        write_file(&files.config(), config, 0o644);
        let mut cmd = base(&files, None);
        cmd.arg("check");
        assert_one_line_ex_config(config, &run(cmd), &[needle.to_owned()]);
    }
}

/// How one case puts its input on the command, environment or file.
type Setup<'a> = Box<dyn Fn(&Files, &mut Command) + 'a>;

/// Issue 19 item 3: a gateway or organization ID the API can never have
/// (the Things Stack rule: 2 to 36 of `a-z0-9`, single dashes, none
/// leading or trailing) exits 78 at load with one line naming the ID and
/// the rule, from every source: flag, environment and config file.
#[test]
fn impossible_ids_exit_78_naming_the_id() {
    let long = "a".repeat(38);
    let bad = ["a", "ab--c", "gw-", long.as_str()];
    let mut failures = Vec::new();
    for id in bad {
        let sources: [(&str, Setup<'_>); 4] = [
            (
                "--gateways",
                Box::new(move |_, c| {
                    c.args(["--gateways", id]);
                }),
            ),
            (
                "TTN_EXPORTER_GATEWAYS",
                Box::new(move |_, c| {
                    c.env("TTN_EXPORTER_GATEWAYS", format!("ok-gw,{id}"));
                }),
            ),
            (
                "config gateways",
                Box::new(move |s, _| {
                    write_file(&s.config(), &format!("gateways = [\"{id}\"]\n"), 0o644)
                }),
            ),
            (
                "--organization",
                Box::new(move |_, c| {
                    c.args(["--organization", id]);
                }),
            ),
        ];
        for (source, setup) in &sources {
            let s = Files::new();
            let mut cmd = base(&s, None);
            setup(&s, &mut cmd);
            let r = run(cmd);
            let what = format!("{source} {id:?}");
            let needles = vec![format!("`{id}`"), "2 to 36".to_owned()];
            if let Err(e) =
                std::panic::catch_unwind(|| assert_one_line_ex_config(&what, &r, &needles))
            {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(msg);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
