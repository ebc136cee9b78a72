//! Refreshes back to back, for `tests/bench/run.py`'s "CPU and upstream
//! requests per refresh" and "memory growth" sections (docs/performance.md).
//!
//! The configuration refuses a `cache_ttl` below 1 s, so the exporter binary
//! cannot be made to refresh on every scrape. This drives the library
//! instead: the exporter built as the daemon builds it ([`App`]), but with
//! `cache_ttl` zero, so every [`Cache::get`] is one refresh (list, batch
//! stats, render), against a running fake TTS (`fake-tts --gateways N`).
//! Same process setup as the exporter binary: one malloc arena, tokio with
//! 2 workers.
//!
//! ```text
//! refresh --api-url http://127.0.0.1:PORT --refreshes K [--gateways N]
//!         [--warmup W] [--sample-every M] [--timeout SECS]
//! ```
//!
//! It makes `W` refreshes (default 1), resets the fake's counters
//! (`POST /_fake/reset`), then makes `K` refreshes (stopping early after
//! `SECS`), and prints one JSON line: CPU seconds (utime+stime of this
//! process, `CLOCK_PROCESS_CPUTIME_ID`) and wall seconds of the `K`
//! refreshes, the fake's `/_fake/counts` after them, and RSS, `VmHWM`,
//! threads and open fds (`/proc/self/status`, `/proc/self/fd`) at the end
//! and every `M` refreshes. Every refresh must succeed with `N` gateways,
//! or it exits 1.
//!
//! Built as a `harness = false` bench so it needs no extra crate; run by
//! `cargo bench` without `--api-url` it only prints a note and exits.

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code, missing_docs)] // a test, bench or example crate

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ttn_exporter::app::App;
use ttn_exporter::cache::Cache;
use ttn_exporter::config::environment::Environment;
use ttn_exporter::config::{self, Config, Overrides, ENV_API_KEY};
use ttn_exporter::tts::DEFAULT_MAX_GATEWAYS;

/// The fake's default key (`fake_tts::DEFAULT_KEY`); obviously not a secret.
const FAKE_KEY: &str = "NNSXS.FAKE-TEST-KEY.NOT-A-SECRET";
/// The default `request_timeout`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

struct Args {
    api_url: url::Url,
    refreshes: u64,
    gateways: Option<usize>,
    warmup: u64,
    sample_every: u64,
    timeout: Duration,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut api_url = None;
    let mut refreshes: Option<u64> = None;
    let mut gateways: Option<usize> = None;
    let mut warmup = 1;
    let mut sample_every = 0;
    let mut timeout = Duration::from_secs(3600);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--api-url" => {
                let v = value()?;
                api_url = Some(url::Url::parse(&v).map_err(|e| format!("--api-url {v:?}: {e}"))?);
            }
            "--refreshes" => refreshes = Some(number(&a, &value()?)?),
            "--gateways" => gateways = Some(number(&a, &value()?)?),
            "--warmup" => warmup = number(&a, &value()?)?,
            "--sample-every" => sample_every = number(&a, &value()?)?,
            "--timeout" => timeout = Duration::from_secs(number(&a, &value()?)?),
            _ => {} // `cargo bench` passes --bench and filters
        }
    }
    let Some(api_url) = api_url else {
        return Ok(None);
    };
    Ok(Some(Args {
        api_url,
        refreshes: refreshes.ok_or("--refreshes is needed")?.max(1),
        gateways,
        warmup: warmup.max(1),
        sample_every,
        timeout,
    }))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{flag} {v:?}: not a number"))
}

/// utime + stime of the whole process, in seconds.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// RSS, peak RSS, threads and open fds of this process.
fn sample(refreshes: u64, t0: Instant) -> Value {
    let mut s = json!({ "refreshes": refreshes, "t": t0.elapsed().as_secs_f64() });
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            let (k, v) = line.split_once(':').unwrap_or((line, ""));
            let key = match k {
                "VmRSS" => "rss_kb",
                "VmHWM" => "hwm_kb",
                "Threads" => "threads",
                _ => continue,
            };
            if let Some(n) = v
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
            {
                s[key] = json!(n);
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // The directory handle itself is one of them.
        s["fds"] = json!(dir.count().saturating_sub(1));
    }
    s
}

/// `GET /_fake/counts`, the request counters only.
async fn counts(http: &reqwest::Client, base: &url::Url) -> Result<Value, String> {
    let url = format!("{}/_fake/counts", base.as_str().trim_end_matches('/'));
    let all: Value = http
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("counts: {e}"))?
        .json()
        .await
        .map_err(|e| format!("counts: {e}"))?;
    let mut out = json!({});
    for k in ["list", "batch", "single", "auth", "total"] {
        out[k] = all.get(k).cloned().unwrap_or(Value::Null);
    }
    Ok(out)
}

async fn reset(http: &reqwest::Client, base: &url::Url) -> Result<(), String> {
    let url = format!("{}/_fake/reset", base.as_str().trim_end_matches('/'));
    http.post(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map(drop)
        .map_err(|e| format!("reset: {e}"))
}

/// One refresh; an error unless it succeeded with the expected gateways.
async fn refresh(cache: &Cache, gateways: Option<usize>) -> Result<(), String> {
    let e = cache.get().await;
    if let Some(f) = &e.failure {
        return Err(format!("refresh failed: {f}"));
    }
    match gateways {
        Some(n) if e.gateways != n => Err(format!("refresh saw {} gateways, not {n}", e.gateways)),
        _ => Ok(()),
    }
}

/// The exporter's configuration for the fake at `--api-url`, loaded as the
/// daemon loads it (no config file, only the key in the environment), then
/// with `cache_ttl` and `keep_stale_for` zero, which the configuration
/// refuses: every get is a refresh. Only configuration input is bounded.
fn config(args: &Args) -> Result<Config, String> {
    let env = Environment {
        vars: vec![(ENV_API_KEY.to_owned(), FAKE_KEY.to_owned())],
    };
    let overrides = Overrides {
        api_url: Some(args.api_url.to_string()),
        ..Overrides::default()
    };
    let mut config = config::load(Some(Path::new("/dev/null")), &overrides, &env)
        .map_err(|e| format!("config: {e}"))?;
    config.request_timeout = REQUEST_TIMEOUT;
    config.max_gateways = DEFAULT_MAX_GATEWAYS.max(args.gateways.unwrap_or(0));
    config.cache_ttl = Duration::ZERO;
    config.keep_stale_for = Duration::ZERO;
    Ok(config)
}

async fn run(args: Args) -> Result<Value, String> {
    let config = config(&args)?;
    let app = App::new(&config).map_err(|e| format!("{e:#}"))?;
    let cache = app.cache();
    let control = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("control client: {e}"))?;

    for _ in 0..args.warmup {
        refresh(cache, args.gateways).await?;
    }
    reset(&control, &args.api_url).await?;
    let start = Instant::now();
    let end = start + args.timeout;
    let mut samples = vec![sample(0, start)];
    let before = cache.refreshes();
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let mut done = 0;
    while done < args.refreshes && Instant::now() < end {
        refresh(cache, args.gateways).await?;
        done += 1;
        if args.sample_every > 0 && done % args.sample_every == 0 {
            samples.push(sample(done, start));
        }
    }
    let (c1, t1) = (cpu_seconds(), Instant::now());
    let refreshes = cache.refreshes() - before;
    // Before the counts request, whose connection would be one more fd.
    let last = sample(done, start);
    let counts = counts(&control, &args.api_url).await?;
    Ok(json!({
        "refreshes": refreshes,
        "cpu_s": c1 - c0,
        "wall_s": (t1 - t0).as_secs_f64(),
        "counts": counts,
        "end": last,
        "samples": samples,
    }))
}

fn main() -> std::process::ExitCode {
    // As the exporter binary (src/main.rs): one malloc arena, a fixed
    // mmap threshold of 128 KiB.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any other thread exists; only sets limits.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!(
                "refresh: the refresh loop of tests/bench/run.py; needs --api-url URL \
                 --refreshes K (a running fake-tts); nothing to benchmark on its own"
            );
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("refresh: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime: the bench cannot run without it");
    match rt.block_on(run(args)) {
        Ok(v) => {
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("refresh: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
