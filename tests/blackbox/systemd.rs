//! The built binary the way systemd runs it: socket activation
//! (`systemd-socket-activate`), readiness, status, watchdog and stopping
//! notifications on a `NOTIFY_SOCKET` the test binds, key rotation on SIGHUP
//! observed at the fake TTS, and readable stderr logging that never shows
//! the key.
//!
//! Black-box: every test spawns `ttn-exporter` (with a cleared environment)
//! and talks to it over 127.0.0.1 only. The fake TTS runs in-process on a
//! background tokio runtime. Every wait is bounded; a [`Daemon`] guard kills
//! its process even when the test fails, and checks on drop that no key
//! appeared in anything the process printed.

mod harness;

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::common::{value, write_file, Files, KEY};
use crate::process::{
    background_fake, closed_api, exporter, free_port, get, loopback, require_absent, scrape,
    Daemon, BIN, NEW_KEY, SECRETS,
};
use fake_tts::synthetic_fleet;
use harness::*;

// ---------------------------------------------------------------------------
// 1. socket activation

/// Under `systemd-socket-activate` the exporter serves on the passed socket,
/// ignores `--listen` and binds nothing else.
#[test]
#[ignore = "needs systemd-socket-activate (apt install systemd)"]
fn socket_activation_serves_the_passed_socket_and_binds_nothing_else() {
    let (_rt, fake) = background_fake(synthetic_fleet(4));
    let files = Files::new();
    let port = free_port();
    let other = free_port();
    assert_ne!(port, other);
    let mut cmd = Command::new(socket_activate());
    cmd.env_clear()
        .arg("-l")
        .arg(loopback(port).to_string())
        .arg("-E")
        .arg(format!("TTN_EXPORTER_API_KEY={KEY}"))
        .arg("-E")
        .arg(format!("TTN_EXPORTER_API_URL={}", fake.url()))
        .arg(BIN)
        .arg("--config")
        .arg(files.config())
        .arg("--listen")
        .arg(loopback(other).to_string());
    let mut d = Daemon::spawn(cmd);
    // systemd-socket-activate listens, and execs the exporter (same pid)
    // on the first connection.
    d.wait_stderr("systemd-socket-activate listening", |e| {
        e.contains(&format!("Listening on {}", loopback(port)))
    });

    let body = scrape(loopback(port));
    assert_eq!(value(&body, "ttn_up"), Some(1.0), "ttn_up in:\n{body}");
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/exe", d.pid())).expect("exe"),
        PathBuf::from(BIN),
        "the exporter runs as the activated process"
    );
    assert!(fake.seen_tokens().contains(&KEY.to_owned()));

    // --listen is not bound when systemd passed a socket ...
    let refused = TcpStream::connect_timeout(&loopback(other), Duration::from_secs(5));
    assert!(
        refused.is_err(),
        "--listen {other} was bound although systemd passed a socket"
    );
    // ... and the only socket it listens on is the passed one.
    let bound = bound_sockets(d.pid());
    assert_eq!(
        bound,
        vec![("tcp".to_owned(), port)],
        "sockets bound by the exporter (pid {})",
        d.pid()
    );
    // Still serving on the passed socket.
    assert_eq!(get(loopback(port), "/-/healthy").expect("healthy").0, 200);

    d.stop();
}

// ---------------------------------------------------------------------------
// 2. readiness, status, watchdog, stopping

/// READY=1 only once the port serves, a STATUS= line, WATCHDOG=1 at half of
/// WATCHDOG_USEC again and again, STOPPING=1 on SIGTERM and exit 0.
#[test]
fn readiness_status_watchdog_and_stopping() {
    let (_rt, fake) = background_fake(synthetic_fleet(5));
    let (_files, mut notify, port, mut d) = notified(&fake.url(), Some("200000"), Some(None));

    let ready = notify.wait_for(&mut d, "READY=1");
    // At that moment the port already accepts and answers.
    let conn = TcpStream::connect_timeout(&loopback(port), Duration::from_secs(5));
    assert!(
        conn.is_ok(),
        "READY=1 sent before the port accepts: {conn:?}"
    );
    drop(conn);
    assert_eq!(get(loopback(port), "/-/healthy").expect("healthy").0, 200);
    assert!(
        has_line(&ready, "STATUS=") || notify.count("STATUS=") > 0,
        "no STATUS= with or before READY=1: {:?}",
        notify.seen
    );

    // WATCHDOG=1 arrives repeatedly (every 100 ms here).
    for _ in 0..3 {
        notify.wait_for(&mut d, "WATCHDOG=1");
    }
    assert!(notify.count("WATCHDOG=1") >= 3);
    assert!(notify.count("STATUS=") >= 1);
    assert_eq!(notify.count("READY=1"), 1, "{:?}", notify.seen);
    assert_eq!(notify.count("STOPPING=1"), 0, "{:?}", notify.seen);

    // After a scrape the status line tells how many gateways are served
    // (synthetic fleet of 5: gateways 0, 1 and 4 are connected).
    let body = scrape(loopback(port));
    assert_eq!(value(&body, "ttn_up"), Some(1.0), "ttn_up in:\n{body}");
    notify.wait_line(&mut d, "STATUS= with the gateway count", |l| {
        l.starts_with("STATUS=") && l.contains("5 gateways") && l.contains("3 connected")
    });

    notify.stop(&mut d);
    assert_text_log(&d.stderr());
}

/// Once READY=1 is sent, systemd may deliver `systemctl reload` (SIGHUP)
/// or `stop` (SIGTERM) at once: both must be handled, not kill the process
/// with the signal's default action. Repeated, because the window between
/// READY=1 and the handlers is short when the handlers come too late.
#[test]
fn signals_right_after_ready_are_handled() {
    // A fresh exporter (its own files, NOTIFY_SOCKET and port) that is ready.
    let ready = || {
        let (files, mut notify, port, mut d) = notified(&closed_api(), None, None);
        notify.wait_for(&mut d, "READY=1");
        (files, notify, port, d)
    };
    for round in 0..5 {
        let (_files, mut notify, port, mut d) = ready();
        d.signal("HUP");
        notify.wait_for(&mut d, "RELOADING=1");
        // After the reload it is ready again and still serving.
        let readies = notify.count("READY=1");
        if readies < 2 {
            notify.wait_line(&mut d, "READY=1 after the reload", |l| l == "READY=1");
        }
        assert!(d.running(), "round {round}: SIGHUP stopped the exporter");
        assert_eq!(get(loopback(port), "/-/healthy").expect("healthy").0, 200);
        notify.stop(&mut d);
    }
    for round in 0..5 {
        let (_files, _notify, _port, mut d) = ready();
        d.signal("TERM");
        let st = d.wait_exit();
        assert_eq!(
            st.code(),
            Some(0),
            "round {round}: SIGTERM right after READY=1: {st:?}; stderr:\n{}",
            d.stderr()
        );
    }
}

/// `sd_watchdog_enabled(3)`: the watchdog applies when `WATCHDOG_USEC` is
/// set and `WATCHDOG_PID` is either unset or this process.
#[test]
fn watchdog_without_watchdog_pid_is_for_this_process() {
    let (_files, mut notify, port, mut d) = notified(&closed_api(), Some("200000"), None);
    notify.wait_for(&mut d, "READY=1");
    for _ in 0..2 {
        notify.wait_for(&mut d, "WATCHDOG=1");
    }
    // The API is down: after a scrape the status line says the refresh failed.
    let body = scrape(loopback(port));
    assert_eq!(value(&body, "ttn_up"), Some(0.0), "ttn_up in:\n{body}");
    notify.wait_line(&mut d, "STATUS= with the failure", |l| {
        l.starts_with("STATUS=") && l.contains("failed")
    });
    notify.stop(&mut d);
}

/// `WATCHDOG_PID` naming another process (inherited from a parent): no
/// watchdog pings from this one.
#[test]
fn watchdog_for_another_pid_is_not_ours() {
    // pid 1 is never the exporter.
    let (_files, mut notify, _port, mut d) = notified(&closed_api(), Some("200000"), Some(Some(1)));
    notify.wait_for(&mut d, "READY=1");
    // Ten watchdog periods' worth of silence.
    notify.drain_for(Duration::from_secs(1));
    assert_eq!(notify.count("WATCHDOG=1"), 0, "{:?}", notify.seen);
    notify.stop(&mut d);
}

/// Outside systemd (no NOTIFY_SOCKET, no LISTEN_FDS) it simply serves and
/// stops cleanly.
#[test]
fn runs_without_notify_socket() {
    let files = Files::new();
    let port = free_port();
    let mut cmd = exporter(&files, &closed_api(), loopback(port));
    cmd.env("WATCHDOG_USEC", "200000");
    let mut d = Daemon::spawn(cmd);
    d.wait_healthy(loopback(port));
    let body = scrape(loopback(port));
    // The API is down: the exporter says so instead of failing the scrape.
    assert_eq!(value(&body, "ttn_up"), Some(0.0), "ttn_up in:\n{body}");
    d.stop();
    assert_text_log(&d.stderr());
}

// ---------------------------------------------------------------------------
// 3. key rotation on SIGHUP

/// SIGHUP re-reads `--api-key-file`: the fake sees the new bearer token,
/// the same listening socket (and even the same keep-alive connection)
/// keeps serving, the process is not restarted. A reload with a broken
/// config or key logs one error line and keeps the old configuration.
#[test]
fn sighup_rotates_the_key_file_without_dropping_the_socket() {
    let (_rt, fake) = background_fake(synthetic_fleet(3));
    let files = Files::new();
    let port = free_port();
    let addr = loopback(port);
    let mut cmd = exporter(&files, &fake.url(), loopback(port));
    cmd.env("TTN_EXPORTER_CACHE_TTL", "1s");
    let mut d = Daemon::spawn(cmd);
    let pid = d.pid();
    d.wait_healthy(addr);
    let mut kept = KeepAlive::connect(addr);
    assert_eq!(kept.healthy(), 200);

    scrape_until_token(&mut d, &fake, addr, KEY);
    assert_eq!(fake.seen_tokens(), vec![KEY.to_owned()]);

    // Rotate: the old key is revoked at the API, the file gets the new one.
    fake.set_keys(&[NEW_KEY]);
    write_file(&files.key(), &format!("{NEW_KEY}\n"), 0o600);
    d.signal("HUP");
    d.wait_stderr("the reload log line", |e| e.contains("reloaded"));
    scrape_until_token(&mut d, &fake, addr, NEW_KEY);
    assert!(d.running(), "SIGHUP must not stop the exporter");
    assert_eq!(d.pid(), pid);
    assert_eq!(kept.healthy(), 200, "same connection after the reload");
    assert!(d.error_lines().is_empty(), "{}", d.stderr());

    // A broken config: one error line, the old configuration keeps serving.
    write_file(&files.config(), "cache_tll = \"1s\"\n", 0o644);
    d.signal("HUP");
    d.wait_stderr("the failed reload", |e| {
        e.lines().filter(|l| l.contains("ERROR")).count() >= 1
    });
    let errors = d.error_lines();
    assert_eq!(
        errors.len(),
        1,
        "one error line per failed reload: {errors:#?}"
    );
    assert!(errors[0].contains("cache_tll"), "{}", errors[0]);
    fake.reset_counts();
    scrape_until_token(&mut d, &fake, addr, NEW_KEY);
    assert_eq!(fake.seen_tokens(), vec![NEW_KEY.to_owned()]);

    // A broken key (world-readable file): again one line, old key in use.
    write_file(&files.config(), "# fixed\n", 0o644);
    write_file(&files.key(), &format!("{KEY}\n"), 0o644);
    d.signal("HUP");
    d.wait_stderr("the second failed reload", |e| {
        e.lines().filter(|l| l.contains("ERROR")).count() >= 2
    });
    let errors = d.error_lines();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[1].contains("0644"), "{}", errors[1]);
    fake.reset_counts();
    scrape_until_token(&mut d, &fake, addr, NEW_KEY);
    assert_eq!(fake.seen_tokens(), vec![NEW_KEY.to_owned()]);

    assert_eq!(kept.healthy(), 200, "same connection after failed reloads");
    d.stop();
    assert_text_log(&d.stderr());
}

/// The systemd path: socket-activated, key from `$CREDENTIALS_DIRECTORY/ttn_key`,
/// rotated by SIGHUP on the same passed socket. (systemd 252 copies
/// credentials at service start, so in production a rotation is a restart;
/// this checks that SIGHUP re-reads the directory rather than a cached key.)
#[test]
#[ignore = "needs systemd-socket-activate (apt install systemd)"]
fn sighup_rotates_the_credential_on_the_passed_socket() {
    let (_rt, fake) = background_fake(synthetic_fleet(2));
    let files = Files::new();
    let creds = files.path("credentials");
    std::fs::create_dir(&creds).expect("mkdir");
    write_file(&creds.join("ttn_key"), &format!("{KEY}\n"), 0o400);
    // The key file the daemon would fall back to must not be the one used.
    std::fs::remove_file(files.key()).expect("rm key");
    let port = free_port();
    let addr = loopback(port);
    let mut cmd = Command::new(socket_activate());
    cmd.env_clear()
        .arg("-l")
        .arg(addr.to_string())
        .arg("-E")
        .arg(format!("CREDENTIALS_DIRECTORY={}", path_str(&creds)))
        .arg("-E")
        .arg("TTN_EXPORTER_CACHE_TTL=1s")
        .arg(BIN)
        .arg("--config")
        .arg(files.config())
        .arg("--api-url")
        .arg(fake.url());
    let mut d = Daemon::spawn(cmd);
    d.wait_stderr("systemd-socket-activate listening", |e| {
        e.contains(&format!("Listening on {addr}"))
    });
    scrape_until_token(&mut d, &fake, addr, KEY);
    let pid = d.pid();
    let mut kept = KeepAlive::connect(addr);
    assert_eq!(kept.healthy(), 200);

    fake.set_keys(&[NEW_KEY]);
    let cred = creds.join("ttn_key");
    std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    write_file(&cred, &format!("{NEW_KEY}\n"), 0o400);
    d.signal("HUP");
    d.wait_stderr("the reload log line", |e| e.contains("reloaded"));
    scrape_until_token(&mut d, &fake, addr, NEW_KEY);
    assert_eq!(d.pid(), pid);
    assert_eq!(kept.healthy(), 200, "same connection after the reload");
    assert!(d.error_lines().is_empty(), "{}", d.stderr());

    d.stop();
}

// ---------------------------------------------------------------------------
// 4. logging

/// Without `JOURNAL_STREAM` (or with one that is not our stderr), logs are
/// plain text lines on stderr, even at the most verbose level, and never
/// carry the key (also checked on drop of every [`Daemon`]).
#[test]
fn logs_are_text_on_stderr_without_the_journal_and_never_show_the_key() {
    let (_rt, fake) = background_fake(synthetic_fleet(2));
    for journal_stream in [None, Some("1:1")] {
        let files = Files::new();
        let port = free_port();
        let mut cmd = exporter(&files, &fake.url(), loopback(port));
        cmd.env("RUST_LOG", "trace");
        if let Some(js) = journal_stream {
            cmd.env("JOURNAL_STREAM", js);
        }
        let mut d = Daemon::spawn(cmd);
        d.wait_healthy(loopback(port));
        let body = scrape(loopback(port));
        assert_eq!(value(&body, "ttn_up"), Some(1.0), "ttn_up in:\n{body}");
        d.stop();
        let err = d.stderr();
        assert_text_log(&err);
        assert!(err.contains("INFO"), "{err}");
        assert!(
            err.contains(&loopback(port).to_string()),
            "names the address: {err}"
        );
        for secret in SECRETS {
            assert!(!err.contains(secret), "key in stderr:\n{err}");
        }
    }
}

/// A rejected key logs the failure without the key.
#[test]
fn rejected_key_is_logged_without_the_key() {
    let (_rt, fake) = background_fake(synthetic_fleet(2));
    fake.set_keys(&[NEW_KEY]);
    let files = Files::new(); // holds KEY, which the fake now rejects
    let port = free_port();
    let mut cmd = exporter(&files, &fake.url(), loopback(port));
    cmd.env("RUST_LOG", "debug");
    let mut d = Daemon::spawn(cmd);
    d.wait_healthy(loopback(port));
    let body = scrape(loopback(port));
    assert_eq!(value(&body, "ttn_up"), Some(0.0), "ttn_up in:\n{body}");
    assert!(fake.seen_tokens().contains(&KEY.to_owned()));
    d.wait_stderr("a log line about the rejected key", |e| e.contains("401"));
    d.stop();
    assert_text_log(&d.stderr());
}

/// `JOURNAL_STREAM` naming our stderr makes `--log-format auto` pick the
/// journal; without a journal socket (as here) it says so once and falls
/// back to text lines on stderr rather than losing the logs.
#[test]
#[ignore = "needs a machine without a running journal (no /run/systemd/journal/socket), e.g. a container"]
fn journal_stream_without_a_journal_falls_back_to_stderr() {
    require_absent(
        "/run/systemd/journal/socket",
        "the logs would go to the journal: run this test in a container without systemd",
    );
    let files = Files::new();
    let port = free_port();
    let log = files.path("stderr.log");
    let file = std::fs::File::create(&log).expect("stderr file");
    let meta = file.metadata().expect("stat");
    let mut cmd = exporter(&files, &closed_api(), loopback(port));
    cmd.env(
        "JOURNAL_STREAM",
        format!(
            "{}:{}",
            std::os::unix::fs::MetadataExt::dev(&meta),
            std::os::unix::fs::MetadataExt::ino(&meta)
        ),
    )
    .stderr(file);
    let mut d = Daemon::spawn_with_stderr(cmd);
    d.wait_healthy(loopback(port));
    d.stop();
    let err = std::fs::read_to_string(&log).expect("read stderr file");
    let notices = err
        .lines()
        .filter(|l| l.contains("journald unavailable"))
        .count();
    assert_eq!(notices, 1, "{err}");
    let rest: String = err
        .lines()
        .filter(|l| !l.contains("journald unavailable"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_text_log(&rest);
    assert!(rest.contains("serving metrics"), "{err}");
    for secret in SECRETS {
        assert!(!err.contains(secret), "key in stderr:\n{err}");
    }
}
