//! The built binary as a process: the command, a [`Daemon`] guard that
//! collects its output, kills it on drop and checks that no key appeared,
//! bounded waits, and plain HTTP/1.0 requests to it. Every address is on
//! 127.0.0.1; every wait is bounded by [`WAIT`].

use std::fmt::Display;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{Files, KEY};
use fake_tts::{FakeGateway, FakeTts};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ttn-exporter");
/// The key rotated to.
pub const NEW_KEY: &str = "NNSXS.FAKE-ROTATED-KEY.NOT-A-SECRET";
/// Key text used in the bad-key cases of tests/blackbox/cli.rs.
pub const BAD_KEY_PART: &str = "FAKE-SPACED";
/// Every key any test hands to the binary: none may appear in its output.
pub const SECRETS: [&str; 5] = [
    KEY,
    NEW_KEY,
    "FAKE-TEST-KEY",
    "FAKE-ROTATED-KEY",
    BAD_KEY_PART,
];
/// Upper bound of every wait (generous: debug build on a busy 2-core box).
pub const WAIT: Duration = Duration::from_secs(30);

/// A multi-thread runtime in the background; the fake TTS lives on it while
/// the test thread does blocking process and socket work.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The fake TTS with `gateways` on a [`runtime`] in the background; keep
/// the runtime as long as the fake.
pub fn background_fake(gateways: Vec<FakeGateway>) -> (tokio::runtime::Runtime, FakeTts) {
    let rt = runtime();
    let fake = rt.block_on(FakeTts::start(gateways));
    (rt, fake)
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port()
}

/// 127.0.0.1:`port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A URL on which nothing answers (connection refused), for tests that do
/// not need the API.
pub fn closed_api() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// The exporter command with a clean environment: the config file and key
/// file from `files`, the API at `api_url` (always on 127.0.0.1), listening
/// on `listen`.
pub fn exporter(files: &Files, api_url: &str, listen: SocketAddr) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .arg("--config")
        .arg(files.config())
        .arg("--api-key-file")
        .arg(files.key())
        .arg("--api-url")
        .arg(api_url)
        .arg("--listen")
        .arg(listen.to_string());
    cmd
}

/// Calls `done` every `every` until it returns `Some`, for at most `limit`;
/// `None` when time ran out. `done` may panic to give up early.
pub fn poll<T>(limit: Duration, every: Duration, mut done: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = done() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// A spawned process with its stdout/stderr collected by reader threads.
/// Dropping it kills the process if it still runs and, unless the test is
/// already failing, asserts that no key appears in its output.
pub struct Daemon {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    /// The exit status, once reaped.
    pub reaped: Option<ExitStatus>,
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
    /// Spawn `cmd` with stdin closed and stdout and stderr collected.
    pub fn spawn(mut cmd: Command) -> Daemon {
        cmd.stderr(Stdio::piped());
        Self::spawn_with_stderr(cmd)
    }

    /// Like [`Daemon::spawn`], with the stderr the command already has
    /// (collected only when piped).
    pub fn spawn_with_stderr(mut cmd: Command) -> Daemon {
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Everything on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Still running (not exited, not reaped).
    pub fn running(&mut self) -> bool {
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

    /// Calls `done` every `every` until it returns `Some`; panics (with
    /// stderr) after [`WAIT`] or when the process exits first.
    pub fn wait_until<T>(
        &mut self,
        what: impl Display,
        every: Duration,
        mut done: impl FnMut(&Daemon) -> Option<T>,
    ) -> T {
        let got = poll(WAIT, every, || {
            if let Some(v) = done(self) {
                return Some(v);
            }
            assert!(
                self.running(),
                "process exited ({:?}) before {what}; stderr:\n{}",
                self.reaped,
                self.stderr()
            );
            None
        });
        got.unwrap_or_else(|| panic!("timed out waiting for {what}; stderr:\n{}", self.stderr()))
    }

    /// Wait until stderr satisfies `pred`; panics (with stderr) on timeout
    /// or when the process exits first.
    pub fn wait_stderr(&mut self, what: &str, pred: impl Fn(&str) -> bool) {
        self.wait_until(what, Duration::from_millis(20), |d| {
            pred(&d.stderr()).then_some(())
        })
    }

    /// Wait until `/-/healthy` on `addr` answers 200 (the exporter serves).
    pub fn wait_healthy(&mut self, addr: SocketAddr) {
        self.wait_until(
            format_args!("{addr} to serve /-/healthy"),
            Duration::from_millis(50),
            |_| matches!(get(addr, "/-/healthy"), Ok((200, _))).then_some(()),
        )
    }

    /// Send a signal by name (`TERM`, `HUP`, ...).
    pub fn signal(&self, sig: &str) {
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

    /// SIGTERM, then a clean exit.
    pub fn stop(&mut self) {
        self.signal("TERM");
        self.assert_clean_exit();
    }

    /// Wait (bounded by [`WAIT`]) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.wait_exit_within(WAIT)
    }

    /// Wait at most `limit` for the process to exit, and for its output.
    pub fn wait_exit_within(&mut self, limit: Duration) -> ExitStatus {
        let exited = poll(limit, Duration::from_millis(20), || {
            (!self.running()).then_some(())
        });
        assert!(
            exited.is_some(),
            "process did not exit within {limit:?}; stderr:\n{}",
            self.stderr()
        );
        self.join_readers();
        self.reaped.expect("reaped")
    }

    /// Wait for the exit after SIGTERM: status 0, not death by the signal.
    pub fn assert_clean_exit(&mut self) {
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
    pub fn error_lines(&self) -> Vec<String> {
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
                "the key ({secret}) appeared in the output of the process:\nstdout:\n{out}\nstderr:\n{err}"
            );
        }
    }
}

/// One HTTP/1.0 GET (so the answer is never chunked), status and body.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
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
pub fn scrape(addr: SocketAddr) -> String {
    let (status, body) = get(addr, "/metrics").expect("scrape");
    assert_eq!(status, 200, "GET /metrics: {body}");
    body
}

/// For an ignored test that needs `path` to be absent on the machine:
/// fails, saying `why`, where it exists.
pub fn require_absent(path: &str, why: &str) {
    assert!(
        !std::path::Path::new(path).exists(),
        "{path} exists here, so {why}"
    );
}
