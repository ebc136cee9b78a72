#!/usr/bin/env python3
"""Whole-process benchmark of ttn-exporter (docs/performance.md).

For each N (default 10, 100, 1,000, 10,000 synthetic gateways) it starts the
fake TTS (tests/fake-tts) with N gateways and measures, against it:

* ttn-exporter (release build): start -> READY=1 on NOTIFY_SOCKET, start ->
  first good scrape (200, `ttn_up 1`, N gateways), scrape latency p50/p99 and
  scrapes/s under concurrent load with wrk (gzip as Prometheus asks, and
  plain), peak RSS (VmHWM), CPU seconds per refresh and upstream requests per
  refresh (benches/refresh.rs: the library's cache with a zero ttl, a counted
  number of back-to-back refreshes; the configuration refuses a cache_ttl
  below 1s, so the binary cannot refresh on every scrape);
* the Python exporter it replaces (tests/bench/python-exporter, in a venv):
  the same numbers; it has no READY, so "ready" is its port accepting; its
  refresh is a scrape after its 10 s TTL expired (CPU of that scrape);
  it never sees more than the first 100 gateways (no pagination);
* a static-bytes hyper server (benches/static_server.rs) serving the exact
  bodies captured from the exporter at the same N: the physical limit.

Then a memory-growth check: 10,000 refreshes (N = 10, benches/refresh.rs
again), RSS and open fds sampled along the way.

Everything runs on 127.0.0.1, every load is bounded in time (wrk -d) and
count. Results: a Markdown table on stdout, all numbers as JSON (--out).

    CARGO_TARGET_DIR=target-bench tests/bench/run.py            # full run
    tests/bench/run.py --ns 10,1000 --duration 5 --targets rust,static

Needs wrk (Debian package `wrk`) and python3 with venv; builds what it runs.
No timing is asserted: this is measurement, not a test.
"""

import argparse
import gzip
import http.client
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FAKE_KEY = "NNSXS.FAKE-TEST-KEY.NOT-A-SECRET"
TICK = os.sysconf("SC_CLK_TCK")
PY_TTL = 10.0  # the Python exporter's TTLCache ttl


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# processes


class Proc:
    """A child process we started; stopped by its own handle only."""

    def __init__(self, name, argv, env=None, stdout=subprocess.DEVNULL, logdir=None):
        self.name = name
        self.err = open(os.path.join(logdir, f"{name}.log"), "wb") if logdir else subprocess.DEVNULL
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(argv, env=env, stdout=stdout, stderr=self.err, stdin=subprocess.DEVNULL)
        self.pid = self.p.pid

    def status(self):
        out = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "Threads"):
                    out[k] = int(v.split()[0])
        return out

    def cpu(self):
        """utime + stime in seconds (all threads, also exited ones)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if hasattr(self.err, "close"):
            self.err.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.p.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.p.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return time.monotonic()
        except OSError:
            time.sleep(0.001)
    raise RuntimeError(f"{proc.name}: port {port} not accepting after {timeout}s")


# --------------------------------------------------------------------------
# HTTP helpers


def get(port, path="/metrics", gzip_ok=True, conn=None, timeout=120):
    """GET; returns (status, decoded body bytes, raw body length)."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    raw = r.read()
    body = gzip.decompress(raw) if r.getheader("Content-Encoding") == "gzip" else raw
    if conn is None:
        c.close()
    return r.status, body, raw


class Fake:
    def __init__(self, binary, n, logdir):
        self.proc = Proc(f"fake-tts-{n}", [binary, "--listen", "127.0.0.1:0", "--gateways", str(n)],
                         stdout=subprocess.PIPE, logdir=logdir)
        line = self.proc.p.stdout.readline().decode()
        if not line.startswith("listening on "):
            raise RuntimeError(f"fake-tts said {line!r}")
        self.url = line.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def counts(self):
        with urllib.request.urlopen(self.url + "/_fake/counts", timeout=10) as r:
            c = json.load(r)
        return {k: c[k] for k in ("list", "batch", "single", "auth", "total")}

    def reset(self):
        req = urllib.request.Request(self.url + "/_fake/reset", method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def stop(self):
        self.proc.stop()


# --------------------------------------------------------------------------
# wrk


def wrk(port, args, gzip_ok):
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "5s",
           "-s", os.path.join(HERE, "report.lua")]
    if gzip_ok:
        cmd += ["-H", "Accept-Encoding: gzip"]
    cmd.append(f"http://127.0.0.1:{port}/metrics")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = sum(r[k] for k in r if k.startswith("err_"))
    return r


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def load(servers, args):
    """wrk against each of `servers` [(port, res, proc)], gzip then plain,
    `args.reps` rounds with the servers interleaved (so that noise from the
    other engineers on the machine hits all alike); the run with the median
    scrapes/s is kept, all runs are in res["runs_<mode>"]."""
    for mode, gz in (("gzip", True), ("plain", False)):
        for _, res, _ in servers:
            res[f"runs_{mode}"] = []
        for rep in range(args.reps):
            for port, res, _ in servers if rep % 2 == 0 else servers[::-1]:
                res[f"runs_{mode}"].append(wrk(port, args, gz))
        for _, res, proc in servers:
            runs = res[f"runs_{mode}"]
            mid = median([w["rps"] for w in runs])
            w = res[f"wrk_{mode}"] = next(w for w in runs if w["rps"] == mid)
            res[f"hwm_after_{mode}_kb"] = proc.status()["VmHWM"]
            log(f"  {res['target']} wrk {mode}: {w['rps']:.0f}/s (runs: {', '.join(str(round(x['rps'])) for x in runs)}) "
                f"p50 {w['p50_us']/1000:.2f} ms p99 {w['p99_us']/1000:.2f} ms errors {sum(x['errors'] for x in runs)}")


# --------------------------------------------------------------------------
# the three servers


def notify_socket(tmp):
    path = os.path.join(tmp, f"notify-{time.monotonic_ns()}.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    return s, path


def start_rust(bins, fake, ttl, tmp, logdir, tag):
    port = free_port()
    sock, path = notify_socket(tmp)
    env = dict(os.environ, TTN_EXPORTER_API_KEY=FAKE_KEY, NOTIFY_SOCKET=path, RUST_LOG="warn")
    for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "CREDENTIALS_DIRECTORY", "WATCHDOG_USEC"):
        env.pop(k, None)
    argv = [bins["ttn-exporter"], "--listen", f"127.0.0.1:{port}", "--api-url", fake.url,
            "--cache-ttl", ttl, "--log-format", "text"]
    proc = Proc(f"ttn-exporter-{tag}", argv, env=env, logdir=logdir)
    sock.settimeout(30)
    ready = None
    while ready is None:
        msg = sock.recv(4096).decode()
        if "READY=1" in msg.split("\n"):
            ready = time.monotonic()
    sock.close()
    os.unlink(path)
    return proc, port, ready


def good_rust(status, body, n):
    return status == 200 and b"\nttn_up 1\n" in b"\n" + body and f"\nttn_exporter_gateways {n}\n".encode() in body


def run_rust_and_static(bins, fake, n, args, tmp, logdir, with_static):
    """The exporter (cache_ttl 30s) and, serving the bodies captured from it,
    the static-bytes server, loaded in turns."""
    res = {"target": "rust", "n": n}
    sres = {"target": "static", "n": n}
    fake.reset()
    proc, port, ready = start_rust(bins, fake, "30s", tmp, logdir, f"{n}")
    sproc = None
    try:
        status, body, raw = get(port)
        first = time.monotonic()
        if not good_rust(status, body, n):
            raise RuntimeError(f"first scrape not good: {status} {body[:300]!r}")
        res["ready_ms"] = (ready - proc.t0) * 1000
        res["first_good_ms"] = (first - proc.t0) * 1000
        res["first_refresh_upstream"] = fake.counts()
        res["gateways_seen"] = n
        res["hwm_after_first_kb"] = proc.status()["VmHWM"]
        # bodies for the static server
        gz_path = os.path.join(tmp, f"body-{n}.gz")
        plain_path = os.path.join(tmp, f"body-{n}.txt")
        with open(gz_path, "wb") as f:
            f.write(raw)
        _, plain, _ = get(port, gzip_ok=False)
        with open(plain_path, "wb") as f:
            f.write(plain)
        res["body_gzip_bytes"], res["body_plain_bytes"] = len(raw), len(plain)
        servers = [(port, res, proc)]
        if with_static:
            sport = free_port()
            sproc = Proc(f"static-{n}", [bins["static_server"], "--listen", f"127.0.0.1:{sport}",
                                         "--gzip", gz_path, "--plain", plain_path], logdir=logdir)
            sres["ready_ms"] = (wait_port(sport, sproc) - sproc.t0) * 1000
            servers.append((sport, sres, sproc))
        fake.reset()
        t_load = time.monotonic()
        load(servers, args)
        res["upstream_during_load"] = fake.counts()
        res["refreshes_during_load"] = res["upstream_during_load"]["list"] / max(1, math.ceil(n / 1000))
        res["load_seconds"] = time.monotonic() - t_load
        st = proc.status()
        res["peak_rss_kb"], res["rss_end_kb"], res["threads"] = st["VmHWM"], st["VmRSS"], st["Threads"]
        if sproc:
            sres["peak_rss_kb"] = sproc.status()["VmHWM"]
    finally:
        proc.stop()
        if sproc:
            sproc.stop()
    log(f"  rust N={n}: ready {res['ready_ms']:.1f} ms, first good scrape {res['first_good_ms']:.1f} ms, "
        f"peak RSS {res['peak_rss_kb']/1024:.1f} MiB, refreshes during load {res['refreshes_during_load']:.0f}")
    return res, (sres if with_static else None)


def refresh_loop(bins, fake, n, refreshes, warmup=1, sample_every=0, timeout=600):
    """benches/refresh.rs against `fake`: `warmup` refreshes, the fake's
    counters reset, then `refreshes` back-to-back refreshes of the library's
    cache (ttl zero) in a process of its own; returns its JSON."""
    argv = [bins["refresh"], "--api-url", fake.url, "--gateways", str(n), "--refreshes", str(refreshes),
            "--warmup", str(warmup), "--sample-every", str(sample_every), "--timeout", str(timeout)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 120)
    if out.returncode != 0:
        raise RuntimeError(f"refresh bench exited {out.returncode}: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def rust_refresh_cpu(bins, fake, n, args, tmp, logdir, res):
    """CPU and upstream requests per refresh: K back-to-back refreshes of the
    library's cache with a zero ttl (benches/refresh.rs), each a refresh."""
    k = max(20, min(400, 200_000 // max(n, 1)))
    out = refresh_loop(bins, fake, n, k)
    refreshes = out["refreshes"]
    counts = out["counts"]
    hwm = out["end"]["hwm_kb"]
    res["refresh"] = {
        "refreshes": refreshes,
        "cpu_s_per_refresh": out["cpu_s"] / refreshes,
        "wall_ms_per_refresh": out["wall_s"] / refreshes * 1000,
        "upstream_per_refresh": counts["total"] / refreshes,
        "upstream_per_gateway": counts["total"] / refreshes / n,
        "peak_rss_kb": hwm,
        "counts": counts,
    }
    r = res["refresh"]
    log(f"  rust N={n}: {r['cpu_s_per_refresh']*1000:.2f} ms CPU/refresh, {r['upstream_per_refresh']:.1f} upstream/refresh "
        f"over {refreshes:.0f} refreshes, then peak RSS {hwm/1024:.1f} MiB")


def run_python(py, fake, n, args, logdir):
    res = {"target": "python", "n": n}
    port = free_port()
    argv = [py, os.path.join(HERE, "python-exporter", "ttn_gateway_exporter.py"), "--listen", f"127.0.0.1:{port}",
            "--key", FAKE_KEY, "--base_url", fake.url]
    fake.reset()
    proc = Proc(f"python-{n}", argv, logdir=logdir)
    try:
        listening = wait_port(port, proc)
        status, body, _ = get(port)
        first = time.monotonic()
        seen = body.count(b"\nttn_gateway_messages_uplink_count{")
        if status != 200 or seen == 0 and n > 0:
            raise RuntimeError(f"python first scrape: {status} {body[:200]!r}")
        res["ready_ms"] = (listening - proc.t0) * 1000
        res["first_good_ms"] = (first - proc.t0) * 1000
        res["gateways_seen"] = seen
        res["hwm_after_first_kb"] = proc.status()["VmHWM"]
        res["first_refresh_upstream"] = fake.counts()
        fake.reset()
        t_load = time.monotonic()
        load([(port, res, proc)], args)
        res["upstream_during_load"] = fake.counts()
        res["load_seconds"] = time.monotonic() - t_load
        # Refresh = a scrape after the 10 s TTL expired (every entry stale).
        cold = []
        for _ in range(args.python_cold):
            time.sleep(PY_TTL + 0.5)
            fake.reset()
            c0, t0 = proc.cpu(), time.monotonic()
            get(port)
            c1, t1 = proc.cpu(), time.monotonic()
            cold.append((c1 - c0, (t1 - t0) * 1000, fake.counts()))
        # and a cached scrape, for comparison
        c0 = proc.cpu()
        for _ in range(50):
            get(port)
        warm_cpu = (proc.cpu() - c0) / 50
        cpu = sum(c[0] for c in cold) / len(cold)
        total = sum(c[2]["total"] for c in cold) / len(cold)
        res["refresh"] = {
            "refreshes": len(cold),
            "cpu_s_per_refresh": cpu,
            "cpu_s_per_cached_scrape": warm_cpu,
            "wall_ms_per_scrape": sum(c[1] for c in cold) / len(cold),
            "upstream_per_refresh": total,
            "upstream_per_gateway": total / max(seen, 1),
            "counts": [c[2] for c in cold],
        }
        st = proc.status()
        res["peak_rss_kb"], res["rss_end_kb"], res["threads"] = st["VmHWM"], st["VmRSS"], st["Threads"]
        res["refresh"]["peak_rss_kb"] = st["VmHWM"]
    finally:
        proc.stop()
    r = res["refresh"]
    log(f"  python N={n} (sees {seen}): listening {res['ready_ms']:.0f} ms, {r['cpu_s_per_refresh']*1000:.0f} ms CPU/refresh, {r['upstream_per_refresh']:.0f} upstream/refresh, peak RSS {res['peak_rss_kb']/1024:.1f} MiB")
    return res


def soak(bins, fake_bin, args, tmp, logdir):
    """Memory growth over args.soak_refreshes refreshes (N = args.soak_n),
    after 200 warm-up refreshes (benches/refresh.rs)."""
    n = args.soak_n
    fake = Fake(fake_bin, n, logdir)
    try:
        out = refresh_loop(bins, fake, n, args.soak_refreshes, warmup=200, sample_every=125,
                           timeout=args.soak_timeout)
    finally:
        fake.stop()
    samples = out["samples"]
    if samples[-1]["refreshes"] != out["end"]["refreshes"]:
        samples.append(out["end"])
    first, last = samples[0], samples[-1]
    res = {
        "n": n, "refreshes": last["refreshes"] - first["refreshes"],
        "seconds": last["t"] - first["t"],
        "rss_start_kb": first["rss_kb"], "rss_end_kb": last["rss_kb"],
        "rss_max_kb": max(s["rss_kb"] for s in samples),
        "hwm_start_kb": first["hwm_kb"], "hwm_end_kb": last["hwm_kb"],
        "fds_start": first["fds"], "fds_end": last["fds"],
        "upstream": out["counts"],
        "samples": samples,
    }
    log(f"  soak: {res['refreshes']} refreshes in {res['seconds']:.0f} s: RSS {res['rss_start_kb']} -> {res['rss_end_kb']} kB "
        f"(max {res['rss_max_kb']}), fds {res['fds_start']} -> {res['fds_end']}")
    return res


# --------------------------------------------------------------------------
# build, environment


def build(args):
    """cargo build the four binaries; returns their paths."""
    env = dict(os.environ)
    bins = {}
    for cmd in (["cargo", "build", "--release", "-p", "ttn-exporter", "-p", "fake-tts", "--bins"],
                ["cargo", "bench", "--no-run", "--bench", "static_server", "--bench", "refresh"]):
        out = subprocess.run(cmd + ["--message-format=json-render-diagnostics"], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, check=True, text=True).stdout
        for line in out.splitlines():
            m = json.loads(line)
            if m.get("reason") == "compiler-artifact" and m.get("executable"):
                bins[m["target"]["name"]] = m["executable"]
    missing = {"ttn-exporter", "fake-tts", "static_server", "refresh"} - bins.keys()
    if missing:
        raise RuntimeError(f"build did not produce {missing}")
    return bins


def ensure_venv(path):
    py = os.path.join(path, "bin", "python")
    check = [py, "-c", "import prometheus_client, requests, absl, cachetools"]
    if os.path.exists(py) and subprocess.run(check, capture_output=True).returncode == 0:
        return py
    log(f"creating the Python exporter's venv in {path}")
    subprocess.run([sys.executable, "-m", "venv", path], check=True)
    subprocess.run([py, "-m", "pip", "install", "-q", "-r",
                    os.path.join(HERE, "python-exporter", "requirements.txt")], check=True)
    return py


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    def cmd(*c):
        try:
            return subprocess.run(c, capture_output=True, text=True, cwd=REPO).stdout.strip()
        except OSError:
            return "?"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
        "os": cmd("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"),
        "rustc": cmd("rustc", "--version"), "python": platform.python_version(),
        "wrk": cmd("sh", "-c", "wrk -v 2>&1 | head -1"),
        "commit": cmd("git", "rev-parse", "--short", "HEAD"),
        "dirty": bool(cmd("git", "status", "--porcelain", "src")),
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --------------------------------------------------------------------------
# report


def table(results, soak_res):
    rows = []
    def fmt(v, f="{:.0f}"):
        return "–" if v is None else f.format(v)
    rows.append("| N | server | gateways seen | start→ready ms | start→first good scrape ms | gzip scrapes/s | gzip p50 / p99 ms "
                "| plain scrapes/s | plain p50 / p99 ms | body gzip / plain KiB | peak RSS MiB: first scrape / load (gzip+plain) / refreshes "
                "| CPU ms / refresh | upstream req / refresh | per gateway |")
    rows.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        g, p = r["wrk_gzip"], r["wrk_plain"]
        ref = r.get("refresh", {})
        body = "–"
        if "body_gzip_bytes" in r:
            body = f"{r['body_gzip_bytes']/1024:.1f} / {r['body_plain_bytes']/1024:.0f}"
        rows.append("| " + " | ".join([
            f"{r['n']:,}", r["target"], fmt(r.get("gateways_seen"), "{:,}"),
            fmt(r.get("ready_ms"), "{:.1f}"), fmt(r.get("first_good_ms"), "{:.0f}"),
            f"{g['rps']:,.0f}", f"{g['p50_us']/1000:.2f} / {g['p99_us']/1000:.2f}",
            f"{p['rps']:,.0f}", f"{p['p50_us']/1000:.2f} / {p['p99_us']/1000:.2f}",
            body, " / ".join([fmt(r.get("hwm_after_first_kb") and r["hwm_after_first_kb"] / 1024, "{:.1f}"),
                              f"{r['peak_rss_kb']/1024:.1f}",
                              fmt(ref.get("peak_rss_kb") and ref["peak_rss_kb"] / 1024, "{:.1f}")]),
            fmt(ref.get("cpu_s_per_refresh") and ref["cpu_s_per_refresh"] * 1000, "{:.1f}"),
            fmt(ref.get("upstream_per_refresh"), "{:.1f}"),
            fmt(ref.get("upstream_per_gateway"), "{:.4f}"),
        ]) + " |")
    out = "\n".join(rows)
    if soak_res:
        s = soak_res
        out += (f"\n\nMemory growth: {s['refreshes']:,} refreshes (N = {s['n']}, benches/refresh.rs, {s['seconds']:.0f} s): "
                f"RSS {s['rss_start_kb']:,} → {s['rss_end_kb']:,} kB (max {s['rss_max_kb']:,}), "
                f"VmHWM {s['hwm_start_kb']:,} → {s['hwm_end_kb']:,} kB, open fds {s['fds_start']} → {s['fds_end']}.")
    return out


def ratios(results):
    by = {(r["target"], r["n"]): r for r in results}
    lines = []
    for n in sorted({r["n"] for r in results}):
        rs, st, py = by.get(("rust", n)), by.get(("static", n)), by.get(("python", n))
        if rs and py:
            lines.append(f"N={n}: gzip throughput rust/python = {rs['wrk_gzip']['rps']/py['wrk_gzip']['rps']:.0f}x; "
                         f"upstream per gateway per refresh rust/python = "
                         f"1/{py['refresh']['upstream_per_gateway']/rs['refresh']['upstream_per_gateway']:.0f}")
        if rs and st:
            lines.append(f"N={n}: rust/static gzip = {rs['wrk_gzip']['rps']/st['wrk_gzip']['rps']*100:.0f}%, "
                         f"plain = {rs['wrk_plain']['rps']/st['wrk_plain']['rps']*100:.0f}%")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ns", default="10,100,1000,10000", help="gateway counts (default %(default)s)")
    ap.add_argument("--targets", default="rust,static,python", help="which servers (default %(default)s)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default %(default)s)")
    ap.add_argument("--reps", type=int, default=3, help="wrk runs per server and mode, interleaved; the median "
                    "is reported (default %(default)s)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default %(default)s)")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections (default %(default)s)")
    ap.add_argument("--python-cold", type=int, default=2, help="cold (refreshing) Python scrapes per N")
    ap.add_argument("--soak-refreshes", type=int, default=10_000, help="0 skips the memory-growth check")
    ap.add_argument("--soak-n", type=int, default=10)
    ap.add_argument("--soak-timeout", type=int, default=300, help="seconds at most for the check")
    ap.add_argument("--venv", default=None, help="venv for the Python exporter (created if needed; "
                    "default $CARGO_TARGET_DIR/bench-venv)")
    ap.add_argument("--exporter-bin", default=None, help="measure this ttn-exporter binary instead of the "
                    "release build (e.g. a prototype of a change)")
    ap.add_argument("--out", default=None, help="write all numbers as JSON here")
    ap.add_argument("--logs", default=None, help="keep the servers' stderr here (default: a temp dir)")
    args = ap.parse_args()
    ns = [int(x) for x in args.ns.split(",") if x]
    targets = set(args.targets.split(","))
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")

    bins = build(args)
    if args.exporter_bin:
        bins["ttn-exporter"] = os.path.abspath(args.exporter_bin)
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    py = ensure_venv(args.venv or os.path.join(target_dir, "bench-venv")) if "python" in targets else None
    info = machine()
    info["load_start"] = loadavg()
    log("machine:", json.dumps(info))
    results, soak_res = [], None
    with tempfile.TemporaryDirectory(prefix="ttn-bench-") as tmp:
        logdir = args.logs or tmp
        os.makedirs(logdir, exist_ok=True)
        for n in ns:
            log(f"N = {n} (load {loadavg()})")
            fake = Fake(bins["fake-tts"], n, logdir)
            try:
                if "rust" in targets or "static" in targets:
                    rust, static = run_rust_and_static(bins, fake, n, args, tmp, logdir, "static" in targets)
                    if "rust" in targets:
                        rust_refresh_cpu(bins, fake, n, args, tmp, logdir, rust)
                        results.append(rust)
                    if static:
                        results.append(static)
                if "python" in targets:
                    results.append(run_python(py, fake, n, args, logdir))
            finally:
                fake.stop()
        if args.soak_refreshes and "rust" in targets:
            log(f"memory growth check (load {loadavg()})")
            soak_res = soak(bins, bins["fake-tts"], args, tmp, logdir)
    info["load_end"] = loadavg()
    print(f"\n{info['date']}, {info['cpu']}, {info['cores']} cores, {info['os']}, {info['rustc']}, "
          f"commit {info['commit']}{' (src modified)' if info['dirty'] else ''}; load {info['load_start']} → {info['load_end']}; "
          f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, median of {args.reps}\n")
    print(table(results, soak_res))
    print()
    print(ratios(results))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": info, "args": vars(args), "results": results, "soak": soak_res}, f, indent=1)


if __name__ == "__main__":
    main()
