//! Hostile local conditions against the built binary (issue 9): the port in
//! use, a flood of connections under a low descriptor limit, a storm of
//! SIGHUPs, a FIFO as key file at reload. Black-box: each test spawns
//! `ttn-exporter` with a cleared environment against the in-process fake
//! TTS, over 127.0.0.1 only; every wait is bounded and the child is killed
//! on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::common::Files;
use crate::process::{background_fake, exporter, free_port, loopback, runtime, scrape, Daemon};
use fake_tts::{FakeGateway, Route};

/// One HTTP/1.0 GET from `from` (a loopback source address); status line
/// and body. Bounded by `limit`.
fn get_from(from: [u8; 4], addr: SocketAddr, path: &str, limit: Duration) -> (String, String) {
    let rt = runtime();
    rt.block_on(async {
        tokio::time::timeout(limit, async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let sock = tokio::net::TcpSocket::new_v4().expect("socket");
            sock.bind(SocketAddr::from((from, 0))).expect("bind source");
            let mut s = sock.connect(addr).await.expect("connect");
            s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .expect("write");
            let mut raw = Vec::new();
            s.read_to_end(&mut raw).await.expect("read");
            let text = String::from_utf8_lossy(&raw).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            (
                head.lines().next().unwrap_or("").to_owned(),
                body.to_owned(),
            )
        })
        .await
        .unwrap_or_else(|_| panic!("GET {path} from {from:?} got no answer within {limit:?}"))
    })
}

/// Issue 9 item 11: the port in use exited 1; now 78 (a configuration
/// problem) with one line naming the address.
#[test]
fn port_in_use_exits_78_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let files = Files::new();
    let mut d = Daemon::spawn(exporter(&files, "http://127.0.0.1:1", addr));
    let st = d.wait_exit();
    let err = d.stderr();
    assert_eq!(st.code(), Some(78), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(&format!("cannot listen on {addr}")),
        "{err}"
    );
    assert!(lines[0].contains("already in use"), "{err}");
}

/// Issue 9 item 9: every SIGHUP dropped the cache (and a 429 back-off), so
/// scrapes between reloads each refreshed. Now a reload that changes nothing
/// of the API keeps the cached output fresh.
#[test]
fn sighups_do_not_cause_refreshes() {
    let (_rt, fake) = background_fake((0..3).map(FakeGateway::synthetic).collect());
    let files = Files::new();
    let addr = loopback(free_port());
    let mut d = Daemon::spawn(exporter(&files, &fake.url(), addr));
    d.wait_healthy(addr);
    assert!(scrape(addr).contains("ttn_up 1"));
    let refreshes = fake.requests(Route::ListGateways);
    assert_eq!(refreshes, 1);
    for i in 1..=100 {
        let before = d.stderr().matches("reloaded configuration").count();
        d.signal("HUP");
        if i % 5 == 0 {
            // A reload is done before each of these scrapes.
            d.wait_stderr("a reload", |e| {
                e.matches("reloaded configuration").count() > before
            });
            assert!(scrape(addr).contains("ttn_up 1"));
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(
        fake.requests(Route::ListGateways),
        refreshes,
        "reloads refreshed:\n{}",
        d.stderr()
    );
    d.stop();
}

/// Issue 9 items 9 and 10: a FIFO as key file blocked the reload inside the
/// signal loop, and SIGTERM was never handled. Now the FIFO is refused with
/// a message saying what it is, and SIGTERM stops the exporter at once.
#[test]
fn fifo_key_at_reload_does_not_block_sigterm() {
    let (_rt, fake) = background_fake(vec![FakeGateway::synthetic(0)]);
    let files = Files::new();
    let addr = loopback(free_port());
    let mut d = Daemon::spawn(exporter(&files, &fake.url(), addr));
    d.wait_healthy(addr);
    std::fs::remove_file(files.key()).expect("rm key");
    let c = std::ffi::CString::new(files.key().to_str().expect("utf-8")).expect("no NUL");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    d.signal("HUP");
    d.wait_stderr("the failed reload", |e| e.contains("reload failed"));
    assert!(
        d.stderr().contains("is a FIFO, not a regular file"),
        "{}",
        d.stderr()
    );
    d.signal("TERM");
    let st = d.wait_exit_within(Duration::from_secs(10));
    assert_eq!(st.code(), Some(0), "{}", d.stderr());
}

/// Issue 9 item 5: at the descriptor limit accept failed with EMFILE
/// (logged 10 times a second) before the connection cap, and a legitimate
/// scrape waited 14 s. Now the caps come from `RLIMIT_NOFILE`, one client
/// cannot hold every slot, and accept failures are logged rarely.
#[test]
fn connection_flood_under_a_low_fd_limit_leaves_room_for_a_scrape() {
    let (_rt, fake) = background_fake(vec![FakeGateway::synthetic(0)]);
    let files = Files::new();
    let addr = loopback(free_port());
    let mut cmd = exporter(&files, &fake.url(), addr);
    // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 128,
                rlim_max: 128,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut d = Daemon::spawn(cmd);
    d.wait_healthy(addr);
    // 300 idle connections from one client: more than the process has fds.
    let mut flood = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            flood.push(s);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    // Another client is still served promptly (well before the 15 s after
    // which idle connections are closed).
    let (status, body) = get_from([127, 0, 0, 2], addr, "/metrics", Duration::from_secs(10));
    assert!(status.contains(" 200 "), "{status}");
    assert!(body.contains("ttn_up 1"), "{body}");
    // The flood's client got no more than its share.
    let mut answered = 0;
    for s in flood.iter_mut().take(40) {
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = s.write_all(b"GET /-/healthy HTTP/1.0\r\n\r\n");
        let mut buf = [0u8; 64];
        if matches!(s.read(&mut buf), Ok(n) if n > 0) {
            answered += 1;
        }
    }
    assert!(
        answered <= 16,
        "{answered} of one client's connections served"
    );
    let accept_failures = d.stderr().matches("accept failed").count();
    assert!(accept_failures <= 2, "{}", d.stderr());
    assert!(
        d.stderr().contains("at most 64 connections, 16 per client"),
        "{}",
        d.stderr()
    );
    drop(flood);
    d.stop();
}

/// Issue 21 item 15: a web config value rustls lacks at reload keeps the old
/// web config (headers only here, plain HTTP) and says why in one line.
#[test]
fn unsupported_tls_value_at_reload_keeps_the_old_web_config() {
    let (_rt, fake) = background_fake(vec![FakeGateway::synthetic(0)]);
    let files = Files::new();
    let web = files.path("web.yml");
    std::fs::write(
        &web,
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
    )
    .expect("write web.yml");
    std::fs::write(
        files.config(),
        format!("web_config_file = \"{}\"\n", web.display()),
    )
    .expect("write config");
    let addr = loopback(free_port());
    let mut d = Daemon::spawn(exporter(&files, &fake.url(), addr));
    d.wait_healthy(addr);
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  curve_preferences: [CurveP521]\n",
    )
    .expect("write web.yml");
    d.signal("HUP");
    d.wait_stderr("the failed reload", |e| e.contains("reload failed"));
    let line = d
        .stderr()
        .lines()
        .find(|l| l.contains("reload failed"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(line.contains("CurveP521 is not supported"), "{line}");
    // Still plain HTTP with the old config.
    assert!(scrape(addr).contains("ttn_up"));
    d.stop();
}
