//! The systemd side of tests/blackbox/systemd.rs: the test's
//! `NOTIFY_SOCKET`, a kept-alive connection, the sockets a process has
//! bound, the text log format, `systemd-socket-activate`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{value, Files};
use crate::process::{exporter, free_port, loopback, poll, scrape, Daemon, WAIT};
use fake_tts::FakeTts;

/// One HTTP/1.1 keep-alive connection: proves that the listening socket and
/// its accepted connections survive a reload.
pub struct KeepAlive {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> KeepAlive {
        let s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        KeepAlive {
            stream: BufReader::new(s),
            addr,
        }
    }

    /// GET /-/healthy on this same connection; the status code.
    pub fn healthy(&mut self) -> u16 {
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
pub struct Notify {
    sock: UnixDatagram,
    path: PathBuf,
    /// Every datagram so far, in order.
    pub seen: Vec<String>,
}

impl Notify {
    pub fn bind(dir: &Path) -> Notify {
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
    pub fn wait_for(&mut self, d: &mut Daemon, line: &str) -> String {
        self.wait_line(d, line, |l| has_line(l, line))
    }

    /// Receive until a datagram has a line satisfying `pred`.
    pub fn wait_line(&mut self, d: &mut Daemon, line: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut buf = vec![0u8; 4096];
        // The socket's read timeout paces the loop.
        let got = poll(WAIT, Duration::ZERO, || {
            match self.sock.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    self.seen.push(msg.clone());
                    if msg.lines().any(&pred) {
                        return Some(msg);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("recv on NOTIFY_SOCKET: {e}"),
            }
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
            None
        });
        got.unwrap_or_else(|| {
            panic!(
                "no {line} on NOTIFY_SOCKET; got {:?}; stderr:\n{}",
                self.seen,
                d.stderr()
            )
        })
    }

    /// SIGTERM, STOPPING=1 and a clean exit.
    pub fn stop(&mut self, d: &mut Daemon) {
        d.signal("TERM");
        self.wait_for(d, "STOPPING=1");
        d.assert_clean_exit();
    }

    /// Receive everything that arrives during `span`.
    pub fn drain_for(&mut self, span: Duration) {
        let end = Instant::now() + span;
        let mut buf = vec![0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.seen
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }

    pub fn count(&self, line: &str) -> usize {
        self.seen.iter().filter(|m| has_line(m, line)).count()
    }
}

pub fn has_line(msg: &str, line: &str) -> bool {
    msg.lines().any(|l| {
        if line.ends_with('=') {
            l.starts_with(line) && l.len() > line.len()
        } else {
            l == line
        }
    })
}

/// Socket inodes among the open file descriptors of `pid`.
pub fn socket_inodes(pid: u32) -> Vec<u64> {
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
pub fn bound_sockets(pid: u32) -> Vec<(String, u16)> {
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
pub fn assert_text_log(stderr: &str) {
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

/// Path as a string, for command-line arguments.
pub fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 temp path").to_owned()
}

/// The `systemd-socket-activate` binary.
pub fn socket_activate() -> &'static str {
    [
        "/usr/bin/systemd-socket-activate",
        "/lib/systemd/systemd-socket-activate",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("systemd-socket-activate not found: apt install systemd")
}

/// The exporter on a free port with its own files and `NOTIFY_SOCKET`, and,
/// when `watchdog_pid` is `Some(None)`, `WATCHDOG_PID` set to its own pid
/// (as systemd does) via a shell that execs it; `Some(Some(pid))` sets that
/// pid; `None` leaves `WATCHDOG_PID` unset.
pub fn notified(
    api_url: &str,
    watchdog_usec: Option<&str>,
    watchdog_pid: Option<Option<u32>>,
) -> (Files, Notify, u16, Daemon) {
    let files = Files::new();
    let notify = Notify::bind(files.dir.path());
    let port = free_port();
    let base = exporter(&files, api_url, loopback(port));
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
    let d = Daemon::spawn(cmd);
    (files, notify, port, d)
}

/// Scrape until the fake has seen `token` and the scrape reports `ttn_up 1`
/// (the cache TTL is short, so a scrape soon triggers a refresh).
pub fn scrape_until_token(d: &mut Daemon, fake: &FakeTts, addr: SocketAddr, token: &str) {
    d.wait_until(
        format_args!("the fake to see the expected token and ttn_up 1 at {addr}"),
        Duration::from_millis(150),
        |_| {
            let body = scrape(addr);
            (fake.seen_tokens().iter().any(|t| t == token) && value(&body, "ttn_up") == Some(1.0))
                .then_some(())
        },
    )
}
