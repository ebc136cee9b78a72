//! Scraper abuse: slowloris, idle connection floods, oversized requests,
//! HTTP/1.0, pipelining. The exporter keeps serving others and bounds what
//! each abuser costs.

use std::time::Duration;

use crate::common::*;
use crate::helpers::in_own_process;
use fake_tts::FakeGateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use ttn_exporter::server::Limits;

const BOUND: Duration = Duration::from_secs(20);

async fn start(limits: Limits) -> (fake_tts::FakeTts, Exporter) {
    let fake = fake((0..8).map(FakeGateway::synthetic).collect()).await;
    let exp = Exporter::start_with_limits(config(&fake.url()), limits).await;
    (fake, exp)
}

/// Read until the peer closes; bounded.
async fn read_to_close(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    timeout(BOUND, s.read_to_end(&mut buf))
        .await
        .expect("server did not close the connection")
        .ok();
    String::from_utf8_lossy(&buf).into_owned()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_cut_off_and_others_are_served() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(800),
        ..Limits::default()
    };
    let (_fake, exp) = start(limits).await;
    let mut slow = TcpStream::connect(exp.addr).await.unwrap();
    let trickle = async {
        for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        {
            if slow.write_all(&[*b]).await.is_err() {
                return true; // closed by the server
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    // While the trickle goes on, a normal scrape works.
    let (closed, scraped) = tokio::join!(trickle, exp.scrape());
    assert!(scraped.contains("ttn_up 1"));
    assert!(closed, "a client trickling headers for 6 s was not cut off");
    exp.stop().await;
}

/// In a process of its own: the RSS it bounds is the whole process's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_do_not_block_scrapes() {
    if !in_own_process("abuse::a_thousand_idle_connections_do_not_block_scrapes") {
        return;
    }
    let (_fake, exp) = start(Limits::default()).await;
    exp.scrape().await; // warm the cache and the allocator
    let before = rss_kib();
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(exp.addr).await.unwrap());
    }
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let out = exp.scrape().await;
        assert!(out.contains("ttn_up 1"));
    }
    let grown = rss_kib().saturating_sub(before);
    // 1000 idle connections on both ends of loopback in this one process:
    // generous bound, it catches per-connection buffers of megabytes.
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
    drop(idle);
    exp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_and_the_limit_recovers() {
    let limits = Limits {
        max_connections: 10,
        ..Limits::default()
    };
    let (_fake, exp) = start(limits).await;
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(TcpStream::connect(exp.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(exp.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_to_close(&mut extra).await;
    assert!(answer.is_empty(), "over the limit but answered: {answer}");
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(exp.scrape().await.contains("ttn_up 1"));
    exp.stop().await;
}

#[tokio::test]
async fn oversized_request_head_is_refused_and_others_served() {
    let (_fake, exp) = start(Limits::default()).await;
    let mut s = TcpStream::connect(exp.addr).await.unwrap();
    let big = "a".repeat(64 * 1024);
    let req = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let _ = s.write_all(req.as_bytes()).await;
    let answer = read_to_close(&mut s).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    let mut s = TcpStream::connect(exp.addr).await.unwrap();
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let req = format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let _ = s.write_all(req.as_bytes()).await;
    let answer = read_to_close(&mut s).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "too many headers accepted"
    );
    assert!(exp.scrape().await.contains("ttn_up 1"));
    exp.stop().await;
}

#[tokio::test]
async fn http_1_0_and_unknown_paths() {
    let (_fake, exp) = start(Limits::default()).await;
    let mut s = TcpStream::connect(exp.addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.unwrap();
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.contains("ttn_up 1"));
    let mut s = TcpStream::connect(exp.addr).await.unwrap();
    s.write_all(b"GET /../../etc/passwd HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.0 404"), "{answer}");
    let mut s = TcpStream::connect(exp.addr).await.unwrap();
    s.write_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut s).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    exp.stop().await;
}

#[tokio::test]
async fn pipelined_requests_get_answers_in_order() {
    let (_fake, exp) = start(Limits::default()).await;
    let mut s = TcpStream::connect(exp.addr).await.unwrap();
    s.write_all(
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut s).await;
    let statuses: Vec<&str> = answer
        .lines()
        .filter(|l| l.starts_with("HTTP/1.1 "))
        .collect();
    assert_eq!(
        statuses,
        vec![
            "HTTP/1.1 200 OK",
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 200 OK"
        ]
    );
    assert!(answer.contains("ttn_up 1"));
    exp.stop().await;
}
