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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{write_file, Files};
use fake_tts::{FakeGateway, FakeTts};

const BIN: &str = env!("CARGO_BIN_EXE_ttn-exporter");
/// Accepted by the fake by default; obviously not a real key.
const KEY: &str = fake_tts::DEFAULT_KEY;
/// The key rotated to.
const NEW_KEY: &str = "NNSXS.FAKE-ROTATED-KEY.NOT-A-SECRET";
/// Every key any test hands to the daemon: none may appear in its output.
const SECRETS: [&str; 4] = [KEY, NEW_KEY, "FAKE-TEST-KEY", "FAKE-ROTATED-KEY"];
/// Upper bound of every wait (generous: debug build on a busy 2-core box).
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// helpers

/// A multi-thread runtime in the background; the fake TTS lives on it while
/// the test thread does blocking process and socket work.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `n` synthetic gateways: kinds cycle connected, connected, disconnected,
/// never connected.
fn fleet(n: usize) -> Vec<FakeGateway> {
    (0..n).map(FakeGateway::synthetic).collect()
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Path as a string, for command-line arguments.
fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 temp path").to_owned()
}

/// The exporter command with a clean environment: the config file and key
/// file from `files`, the API at `api_url` (always on 127.0.0.1).
fn exporter(files: &Files, api_url: &str, listen: u16) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .arg("--config")
        .arg(files.config())
        .arg("--api-key-file")
        .arg(files.key())
        .arg("--api-url")
        .arg(api_url)
        .arg("--listen")
        .arg(loopback(listen).to_string());
    cmd
}

/// A URL on which nothing answers (connection refused), for tests that do
/// not need the API.
fn closed_api() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

fn socket_activate() -> &'static str {
    [
        "/usr/bin/systemd-socket-activate",
        "/lib/systemd/systemd-socket-activate",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("systemd-socket-activate not found: apt install systemd")
}

/// A spawned process with its stdout/stderr collected by reader threads.
/// Dropping it kills the process if it still runs and, unless the test is
/// already failing, asserts that no key appears in its output.
struct Daemon {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    reaped: Option<ExitStatus>,
}

fn collect(pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => into
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&String::from_utf8_lossy(&line)),
            }
        }
    })
}

impl Daemon {
    fn spawn(mut cmd: Command) -> Daemon {
        cmd.stderr(Stdio::piped());
        Self::spawn_with_stderr(cmd)
    }

    /// Like [`Daemon::spawn`], with the stderr the command already has
    /// (collected only when piped).
    fn spawn_with_stderr(mut cmd: Command) -> Daemon {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut readers = vec![collect(child.stdout.take().expect("piped"), stdout.clone())];
        if let Some(pipe) = child.stderr.take() {
            readers.push(collect(pipe, stderr.clone()));
        }
        Daemon {
            child,
            stdout,
            stderr,
            readers,
            reaped: None,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Still running (not exited, not reaped).
    fn running(&mut self) -> bool {
        if self.reaped.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(None) => true,
            Ok(Some(st)) => {
                self.reaped = Some(st);
                false
            }
            Err(_) => false,
        }
    }

    /// Wait until stderr satisfies `pred`; panics (with stderr) on timeout
    /// or when the process exits first.
    fn wait_stderr(&mut self, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            if pred(&self.stderr()) {
                return;
            }
            assert!(
                self.running(),
                "process exited ({:?}) before {what}; stderr:\n{}",
                self.reaped,
                self.stderr()
            );
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send a signal by name (`TERM`, `HUP`, ...).
    fn signal(&self, sig: &str) {
        let signo = match sig {
            "TERM" => libc::SIGTERM,
            "HUP" => libc::SIGHUP,
            "INT" => libc::SIGINT,
            "KILL" => libc::SIGKILL,
            other => panic!("no such signal in this test: {other}"),
        };
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, signo) };
        assert_eq!(rc, 0, "kill -{sig} {}", self.pid());
    }

    /// Wait (bounded) for the process to exit.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        while self.running() {
            assert!(
                Instant::now() < deadline,
                "process did not exit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.join_readers();
        self.reaped.expect("reaped")
    }

    /// Wait for the exit after SIGTERM: status 0, not death by the signal.
    fn assert_clean_exit(&mut self) {
        let st = self.wait_exit();
        assert_eq!(
            st.code(),
            Some(0),
            "exit status {st:?} (a signal means it was not handled); stderr:\n{}",
            self.stderr()
        );
    }

    /// After exit, give the reader threads a bounded time to drain the pipes.
    fn join_readers(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The log lines at ERROR level so far.
    fn error_lines(&self) -> Vec<String> {
        self.stderr()
            .lines()
            .filter(|l| l.contains("ERROR"))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.join_readers();
        if std::thread::panicking() {
            return;
        }
        let (out, err) = (self.stdout(), self.stderr());
        for secret in SECRETS {
            assert!(
                !out.contains(secret) && !err.contains(secret),
                "the key ({secret}) appeared in the output of the exporter:\nstdout:\n{out}\nstderr:\n{err}"
            );
        }
    }
}

/// One HTTP/1.0 GET (so the answer is never chunked), status and body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, WAIT)?;
    s.set_read_timeout(Some(WAIT))?;
    s.set_write_timeout(Some(WAIT))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

/// GET /metrics, asserting 200.
fn scrape(addr: SocketAddr) -> String {
    let (status, body) = get(addr, "/metrics").expect("scrape");
    assert_eq!(status, 200, "GET /metrics: {body}");
    body
}

/// Wait until `/-/healthy` answers 200 (the exporter is serving).
fn wait_healthy(d: &mut Daemon, addr: SocketAddr) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok((200, _)) = get(addr, "/-/healthy") {
            return;
        }
        assert!(
            d.running(),
            "exporter exited ({:?}); stderr:\n{}",
            d.reaped,
            d.stderr()
        );
        assert!(
            Instant::now() < deadline,
            "{addr} never served /-/healthy; stderr:\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the unlabelled sample `name` in a text exposition.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// One HTTP/1.1 keep-alive connection: proves that the listening socket and
/// its accepted connections survive a reload.
struct KeepAlive {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl KeepAlive {
    fn connect(addr: SocketAddr) -> KeepAlive {
        let s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        KeepAlive {
            stream: BufReader::new(s),
            addr,
        }
    }

    /// GET /-/healthy on this same connection; the status code.
    fn healthy(&mut self) -> u16 {
        write!(
            self.stream.get_mut(),
            "GET /-/healthy HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.addr
        )
        .expect("write on the kept-alive connection");
        let mut status = 0;
        let mut len = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .stream
                .read_line(&mut line)
                .expect("read on the kept-alive connection");
            assert!(n > 0, "the kept-alive connection was closed");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if status == 0 {
                status = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
            } else if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().expect("content-length");
                }
            }
        }
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).expect("body");
        status
    }
}

/// Datagrams received on the test's `NOTIFY_SOCKET`.
struct Notify {
    sock: UnixDatagram,
    path: PathBuf,
    /// Every datagram so far, in order.
    seen: Vec<String>,
}

impl Notify {
    fn bind(dir: &Path) -> Notify {
        let path = dir.join("notify");
        let sock = UnixDatagram::bind(&path).expect("bind NOTIFY_SOCKET");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        Notify {
            sock,
            path,
            seen: Vec::new(),
        }
    }

    /// Receive until a datagram has the line `line` (exact, e.g. `READY=1`)
    /// or starts with it when it ends in `=`; returns that datagram.
    fn wait_for(&mut self, d: &mut Daemon, line: &str) -> String {
        self.wait_line(d, line, |l| has_line(l, line))
    }

    /// Receive until a datagram has a line satisfying `pred`.
    fn wait_line(&mut self, d: &mut Daemon, line: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 4096];
        loop {
            match self.sock.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    self.seen.push(msg.clone());
                    if msg.lines().any(&pred) {
                        return msg;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("recv on NOTIFY_SOCKET: {e}"),
            }
            assert!(
                Instant::now() < deadline,
                "no {line} on NOTIFY_SOCKET; got {:?}; stderr:\n{}",
                self.seen,
                d.stderr()
            );
            // A process that died cannot send any more; still drain what
            // it sent before.
            if !d.running() && self.sock.recv(&mut buf).is_err() {
                panic!(
                    "exporter exited ({:?}) before sending {line}; got {:?}; stderr:\n{}",
                    d.reaped,
                    self.seen,
                    d.stderr()
                );
            }
        }
    }

    /// Receive everything that arrives during `span`.
    fn drain_for(&mut self, span: Duration) {
        let end = Instant::now() + span;
        let mut buf = vec![0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.seen
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }

    fn count(&self, line: &str) -> usize {
        self.seen.iter().filter(|m| has_line(m, line)).count()
    }
}

fn has_line(msg: &str, line: &str) -> bool {
    msg.lines().any(|l| {
        if line.ends_with('=') {
            l.starts_with(line) && l.len() > line.len()
        } else {
            l == line
        }
    })
}

/// Socket inodes among the open file descriptors of `pid`.
fn socket_inodes(pid: u32) -> Vec<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// `(table, local port)` of the TCP listening sockets and of every bound
/// UDP socket owned by `pid`.
fn bound_sockets(pid: u32) -> Vec<(String, u16)> {
    let inodes = socket_inodes(pid);
    let mut found = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let listening = f[3] == "0A"; // TCP_LISTEN
            let is_udp = table.starts_with("udp");
            let inode: u64 = f[9].parse().unwrap_or(0);
            if inode == 0 || !inodes.contains(&inode) || !(listening || is_udp) {
                continue;
            }
            let port = f[1]
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                .unwrap_or(0);
            found.push((table.to_owned(), port));
        }
    }
    found
}

/// Every stderr line is a readable text log line: printable, no escape
/// sequences, not JSON, with a level.
fn assert_text_log(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "no log lines at all");
    for l in lines {
        assert!(
            !l.chars().any(|c| c.is_control() && c != '\t'),
            "control characters (colour codes?) in a log line: {l:?}"
        );
        assert!(!l.trim_start().starts_with('{'), "JSON, not text: {l}");
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .iter()
                .any(|lvl| l.contains(lvl)),
            "a log line without a level: {l}"
        );
    }
}

// ---------------------------------------------------------------------------
// 1. socket activation

/// Under `systemd-socket-activate` the exporter serves on the passed socket,
/// ignores `--listen` and binds nothing else.
#[test]
#[ignore = "needs systemd-socket-activate (apt install systemd)"]
fn socket_activation_serves_the_passed_socket_and_binds_nothing_else() {
    let rt = runtime();
    let fake = rt.block_on(FakeTts::start(fleet(4)));
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
    assert_eq!(sample(&body, "ttn_up"), Some(1.0), "ttn_up in:\n{body}");
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

    d.signal("TERM");
    d.assert_clean_exit();
}

// ---------------------------------------------------------------------------
// 2. readiness, status, watchdog, stopping

/// The exporter with `NOTIFY_SOCKET` and, when `watchdog_pid` is
/// `Some(None)`, `WATCHDOG_PID` set to its own pid (as systemd does) via a
/// shell that execs it; `Some(Some(pid))` sets that pid; `None` leaves
/// `WATCHDOG_PID` unset.
fn notified(
    files: &Files,
    notify: &Notify,
    api_url: &str,
    port: u16,
    watchdog_usec: Option<&str>,
    watchdog_pid: Option<Option<u32>>,
) -> Daemon {
    let base = exporter(files, api_url, port);
    let mut cmd = match watchdog_pid {
        Some(None) => {
            let mut sh = Command::new("/bin/sh");
            sh.env_clear()
                .arg("-c")
                .arg("WATCHDOG_PID=$$; export WATCHDOG_PID; exec \"$0\" \"$@\"")
                .arg(base.get_program())
                .args(base.get_args());
            sh
        }
        Some(Some(pid)) => {
            let mut c = base;
            c.env("WATCHDOG_PID", pid.to_string());
            c
        }
        None => base,
    };
    cmd.env("NOTIFY_SOCKET", &notify.path);
    if let Some(usec) = watchdog_usec {
        cmd.env("WATCHDOG_USEC", usec);
    }
    Daemon::spawn(cmd)
}

/// READY=1 only once the port serves, a STATUS= line, WATCHDOG=1 at half of
/// WATCHDOG_USEC again and again, STOPPING=1 on SIGTERM and exit 0.
#[test]
fn readiness_status_watchdog_and_stopping() {
    let rt = runtime();
    let fake = rt.block_on(FakeTts::start(fleet(5)));
    let files = Files::new();
    let mut notify = Notify::bind(files.dir.path());
    let port = free_port();
    let mut d = notified(
        &files,
        &notify,
        &fake.url(),
        port,
        Some("200000"),
        Some(None),
    );

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
    assert_eq!(sample(&body, "ttn_up"), Some(1.0), "ttn_up in:\n{body}");
    notify.wait_line(&mut d, "STATUS= with the gateway count", |l| {
        l.starts_with("STATUS=") && l.contains("5 gateways") && l.contains("3 connected")
    });

    d.signal("TERM");
    notify.wait_for(&mut d, "STOPPING=1");
    d.assert_clean_exit();
    assert_text_log(&d.stderr());
}

/// Once READY=1 is sent, systemd may deliver `systemctl reload` (SIGHUP)
/// or `stop` (SIGTERM) at once: both must be handled, not kill the process
/// with the signal's default action. Repeated, because the window between
/// READY=1 and the handlers is short when the handlers come too late.
#[test]
fn signals_right_after_ready_are_handled() {
    for round in 0..5 {
        let files = Files::new();
        let mut notify = Notify::bind(files.dir.path());
        let port = free_port();
        let mut d = notified(&files, &notify, &closed_api(), port, None, None);
        notify.wait_for(&mut d, "READY=1");
        d.signal("HUP");
        notify.wait_for(&mut d, "RELOADING=1");
        // After the reload it is ready again and still serving.
        let readies = notify.count("READY=1");
        if readies < 2 {
            notify.wait_line(&mut d, "READY=1 after the reload", |l| l == "READY=1");
        }
        assert!(d.running(), "round {round}: SIGHUP stopped the exporter");
        assert_eq!(get(loopback(port), "/-/healthy").expect("healthy").0, 200);
        d.signal("TERM");
        notify.wait_for(&mut d, "STOPPING=1");
        d.assert_clean_exit();
    }
    for round in 0..5 {
        let files = Files::new();
        let mut notify = Notify::bind(files.dir.path());
        let port = free_port();
        let mut d = notified(&files, &notify, &closed_api(), port, None, None);
        notify.wait_for(&mut d, "READY=1");
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
    let files = Files::new();
    let mut notify = Notify::bind(files.dir.path());
    let port = free_port();
    let mut d = notified(&files, &notify, &closed_api(), port, Some("200000"), None);
    notify.wait_for(&mut d, "READY=1");
    for _ in 0..2 {
        notify.wait_for(&mut d, "WATCHDOG=1");
    }
    // The API is down: after a scrape the status line says the refresh failed.
    let body = scrape(loopback(port));
    assert_eq!(sample(&body, "ttn_up"), Some(0.0), "ttn_up in:\n{body}");
    notify.wait_line(&mut d, "STATUS= with the failure", |l| {
        l.starts_with("STATUS=") && l.contains("failed")
    });
    d.signal("TERM");
    notify.wait_for(&mut d, "STOPPING=1");
    d.assert_clean_exit();
}

/// `WATCHDOG_PID` naming another process (inherited from a parent): no
/// watchdog pings from this one.
#[test]
fn watchdog_for_another_pid_is_not_ours() {
    let files = Files::new();
    let mut notify = Notify::bind(files.dir.path());
    let port = free_port();
    // pid 1 is never the exporter.
    let mut d = notified(
        &files,
        &notify,
        &closed_api(),
        port,
        Some("200000"),
        Some(Some(1)),
    );
    notify.wait_for(&mut d, "READY=1");
    // Ten watchdog periods' worth of silence.
    notify.drain_for(Duration::from_secs(1));
    assert_eq!(notify.count("WATCHDOG=1"), 0, "{:?}", notify.seen);
    d.signal("TERM");
    notify.wait_for(&mut d, "STOPPING=1");
    d.assert_clean_exit();
}

/// Outside systemd (no NOTIFY_SOCKET, no LISTEN_FDS) it simply serves and
/// stops cleanly.
#[test]
fn runs_without_notify_socket() {
    let files = Files::new();
    let port = free_port();
    let mut cmd = exporter(&files, &closed_api(), port);
    cmd.env("WATCHDOG_USEC", "200000");
    let mut d = Daemon::spawn(cmd);
    wait_healthy(&mut d, loopback(port));
    let body = scrape(loopback(port));
    // The API is down: the exporter says so instead of failing the scrape.
    assert_eq!(sample(&body, "ttn_up"), Some(0.0), "ttn_up in:\n{body}");
    d.signal("TERM");
    d.assert_clean_exit();
    assert_text_log(&d.stderr());
}

// ---------------------------------------------------------------------------
// 3. key rotation on SIGHUP

/// Scrape until the fake has seen `token` and the scrape reports `ttn_up 1`
/// (the cache TTL is short, so a scrape soon triggers a refresh).
fn scrape_until_token(d: &mut Daemon, fake: &FakeTts, addr: SocketAddr, token: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let body = scrape(addr);
        if fake.seen_tokens().iter().any(|t| t == token) && sample(&body, "ttn_up") == Some(1.0) {
            return;
        }
        assert!(d.running(), "exporter exited; stderr:\n{}", d.stderr());
        assert!(
            Instant::now() < deadline,
            "the fake never saw the expected token; it saw {} token(s); last scrape:\n{body}\nstderr:\n{}",
            fake.seen_tokens().len(),
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// SIGHUP re-reads `--api-key-file`: the fake sees the new bearer token,
/// the same listening socket (and even the same keep-alive connection)
/// keeps serving, the process is not restarted. A reload with a broken
/// config or key logs one error line and keeps the old configuration.
#[test]
fn sighup_rotates_the_key_file_without_dropping_the_socket() {
    let rt = runtime();
    let fake = rt.block_on(FakeTts::start(fleet(3)));
    let files = Files::new();
    let port = free_port();
    let addr = loopback(port);
    let mut cmd = exporter(&files, &fake.url(), port);
    cmd.env("TTN_EXPORTER_CACHE_TTL", "1s");
    let mut d = Daemon::spawn(cmd);
    let pid = d.pid();
    wait_healthy(&mut d, addr);
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
    d.signal("TERM");
    d.assert_clean_exit();
    assert_text_log(&d.stderr());
}

/// The systemd path: socket-activated, key from `$CREDENTIALS_DIRECTORY/ttn_key`,
/// rotated by SIGHUP on the same passed socket. (systemd 252 copies
/// credentials at service start, so in production a rotation is a restart;
/// this checks that SIGHUP re-reads the directory rather than a cached key.)
#[test]
#[ignore = "needs systemd-socket-activate (apt install systemd)"]
fn sighup_rotates_the_credential_on_the_passed_socket() {
    let rt = runtime();
    let fake = rt.block_on(FakeTts::start(fleet(2)));
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

    d.signal("TERM");
    d.assert_clean_exit();
}

// ---------------------------------------------------------------------------
// 4. logging

/// Without `JOURNAL_STREAM` (or with one that is not our stderr), logs are
/// plain text lines on stderr, even at the most verbose level, and never
/// carry the key (also checked on drop of every [`Daemon`]).
#[test]
fn logs_are_text_on_stderr_without_the_journal_and_never_show_the_key() {
    let rt = runtime();
    let fake = rt.block_on(FakeTts::start(fleet(2)));
    for journal_stream in [None, Some("1:1")] {
        let files = Files::new();
        let port = free_port();
        let mut cmd = exporter(&files, &fake.url(), port);
        cmd.env("RUST_LOG", "trace");
        if let Some(js) = journal_stream {
            cmd.env("JOURNAL_STREAM", js);
        }
        let mut d = Daemon::spawn(cmd);
        wait_healthy(&mut d, loopback(port));
        let body = scrape(loopback(port));
        assert_eq!(sample(&body, "ttn_up"), Some(1.0), "ttn_up in:\n{body}");
        d.signal("TERM");
        d.assert_clean_exit();
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
    let rt = runtime();
    let fake = rt.block_on(FakeTts::start(fleet(2)));
    fake.set_keys(&[NEW_KEY]);
    let files = Files::new(); // holds KEY, which the fake now rejects
    let port = free_port();
    let mut cmd = exporter(&files, &fake.url(), port);
    cmd.env("RUST_LOG", "debug");
    let mut d = Daemon::spawn(cmd);
    wait_healthy(&mut d, loopback(port));
    let body = scrape(loopback(port));
    assert_eq!(sample(&body, "ttn_up"), Some(0.0), "ttn_up in:\n{body}");
    assert!(fake.seen_tokens().contains(&KEY.to_owned()));
    d.wait_stderr("a log line about the rejected key", |e| e.contains("401"));
    d.signal("TERM");
    d.assert_clean_exit();
    assert_text_log(&d.stderr());
}

/// `JOURNAL_STREAM` naming our stderr makes `--log-format auto` pick the
/// journal; without a journal socket (as here) it says so once and falls
/// back to text lines on stderr rather than losing the logs.
#[test]
#[ignore = "needs a machine without a running journal (no /run/systemd/journal/socket), e.g. a container"]
fn journal_stream_without_a_journal_falls_back_to_stderr() {
    assert!(
        !Path::new("/run/systemd/journal/socket").exists(),
        "a journal runs here, so the logs would go to it: run this test in a container without systemd"
    );
    let files = Files::new();
    let port = free_port();
    let log = files.path("stderr.log");
    let file = std::fs::File::create(&log).expect("stderr file");
    let meta = file.metadata().expect("stat");
    let mut cmd = exporter(&files, &closed_api(), port);
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
    wait_healthy(&mut d, loopback(port));
    d.signal("TERM");
    d.assert_clean_exit();
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
