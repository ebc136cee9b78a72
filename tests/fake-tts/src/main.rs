//! `fake-tts`: run the fake The Things Stack API for shell-driven tests and benchmarks.
//!
//! ```text
//! fake-tts --listen 127.0.0.1:PORT --gateways N [--key KEY]...
//! ```
//!
//! Serves `FakeGateway::synthetic(0..N)` and the `/_fake/` control API, prints exactly one
//! line `listening on http://ADDR` to stdout, and runs until SIGTERM or SIGINT.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use fake_tts::{synthetic_fleet, FakeTts};

const USAGE: &str = "usage: fake-tts [--listen 127.0.0.1:PORT] [--gateways N] [--key KEY]...\n\
  --listen ADDR   address to bind (default 127.0.0.1:0)\n\
  --gateways N    serve FakeGateway::synthetic(0..N) (default 0)\n\
  --key KEY       accepted bearer token, repeatable (default the library's DEFAULT_KEY)\n\
control API (no auth): POST /_fake/fault?route=list|get|batch|single|auth|all&kind=...[&times=N],\n\
  POST /_fake/keys?key=A&key=B, POST /_fake/gateway_key?key=K&id=a, POST /_fake/gateways?n=N,\n\
  POST /_fake/reset, GET /_fake/counts";

/// Parsed command line.
struct Args {
    listen: SocketAddr,
    gateways: usize,
    keys: Vec<String>,
}

/// `Ok(None)` means `--help` was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        gateways: 0,
        keys: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                parsed.listen = v
                    .parse()
                    .map_err(|e| format!("--listen {v:?}: {e} (want IP:PORT)"))?;
            }
            "--gateways" => {
                let v = value()?;
                parsed.gateways = v.parse().map_err(|e| format!("--gateways {v:?}: {e}"))?;
            }
            "--key" => parsed.keys.push(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(parsed))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("fake-tts: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fake-tts: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let tts = match FakeTts::start_on(args.listen, synthetic_fleet(args.gateways)).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("fake-tts: binding {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    if !args.keys.is_empty() {
        let keys: Vec<&str> = args.keys.iter().map(String::as_str).collect();
        tts.set_keys(&keys);
    }
    tts.enable_control_api();
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "listening on {}", tts.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        // nobody reads stdout any more; keep serving anyway
    }
    drop(stdout);
    wait_for_signal().await;
    tts.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
