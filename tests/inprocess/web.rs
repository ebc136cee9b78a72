//! TLS and basic auth from an exporter-toolkit style web config, tested
//! with real clients (reqwest with rustls, and curl).

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use fake_tts::FakeGateway;
use ttn_exporter::config::environment::Environment;
use ttn_exporter::server::web;
use ttn_exporter::server::Limits;

struct Tls {
    dir: tempfile::TempDir,
    cert_pem: String,
}

fn make_tls() -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    std::fs::write(dir.path().join("tls.crt"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    Tls { dir, cert_pem }
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("web.yml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A server with TLS and basic auth (`prometheus:s3cret-scraper`); its
/// `https://localhost:PORT/metrics` URL.
async fn tls_auth_server(api: &str) -> (Tls, std::net::SocketAddr, Exporter, String) {
    let tls = make_tls();
    let hash = bcrypt::hash("s3cret-scraper", 4).unwrap();
    let path = write_config(
        tls.dir.path(),
        &format!(
            "tls_server_config:\n  cert_file: {d}/tls.crt\n  key_file: {d}/tls.key\nbasic_auth_users:\n  prometheus: '{hash}'\n",
            d = tls.dir.path().display()
        ),
    );
    let web = web::load(&path, &Environment::default()).unwrap();
    assert!(web.tls.is_some() && web.auth.is_some());
    let exp = Exporter::start_with(config(api), Limits::default(), web).await;
    let addr = exp.addr;
    let url = format!("https://localhost:{}/metrics", addr.port());
    (tls, addr, exp, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_with_reqwest() {
    let fake = fake((0..4).map(FakeGateway::synthetic).collect()).await;
    let (tls, addr, exp, url) = tls_auth_server(&fake.url()).await;
    let tls_client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(tls.cert_pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    let get = |auth: Option<(&str, &str)>| {
        let mut req = tls_client.get(&url);
        if let Some((user, password)) = auth {
            req = req.basic_auth(user, Some(password));
        }
        async { req.send().await.unwrap() }
    };

    let r = get(Some(("prometheus", "s3cret-scraper"))).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("ttn_up 1"));
    // Again: served from the accepted-credentials memory, same answer.
    let r = get(Some(("prometheus", "s3cret-scraper"))).await;
    assert_eq!(r.status(), 200);

    let r = get(None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"ttn-exporter\""
    );
    let r = get(Some(("prometheus", "wrong"))).await;
    assert_eq!(r.status(), 401);
    let r = get(Some(("nobody", "s3cret-scraper"))).await;
    assert_eq!(r.status(), 401);

    // Plain HTTP on the TLS port gets no metrics.
    let plain = client()
        .get(format!("http://127.0.0.1:{}/metrics", addr.port()))
        .send()
        .await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
    exp.stop().await;
}

/// curl, a real independent client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs curl (apt install curl)"]
async fn tls_and_basic_auth_with_curl() {
    let fake = fake((0..4).map(FakeGateway::synthetic).collect()).await;
    let (tls, addr, exp, url) = tls_auth_server(&fake.url()).await;
    let ca = tls.dir.path().join("tls.crt");
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let ca = ca.display().to_string();
    // Over TLS with the test CA, to `url` (after `args`).
    let curl = |args: &[&str]| {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", "--cacert", &ca])
            .args(["--resolve", &resolve])
            .args(args)
            .arg(&url);
        tokio::task::spawn_blocking(move || cmd.output().expect("curl not found: apt install curl"))
    };
    let out = curl(&["-u", "prometheus:s3cret-scraper", "--compressed"])
        .await
        .unwrap();
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ttn_up 1"));
    let out = curl(&["-o", "/dev/null", "-w", "%{http_code}"])
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    exp.stop().await;
}

#[test]
fn bad_web_configs_are_refused_with_a_clear_line() {
    let tls = make_tls();
    let d = tls.dir.path().display().to_string();
    let cases: Vec<(String, &str)> = vec![
        ("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n".into(), "/nonexistent.crt"),
        (format!("tls_server_config:\n  cert_file: {d}/tls.crt\n  key_file: {d}/tls.crt\n"), "private key"),
        (format!("tls_server_config:\n  cert_file: {d}/tls.crt\n  key_file: {d}/tls.key\n  client_auth_type: RequireAndVerifyClientCert\n"), "client_auth_type"),
        ("basic_auth_users:\n  prometheus: plaintext\n".into(), "not a complete bcrypt hash"),
        ("http_server_config:\n  http2: true\n".into(), "http_server_config"),
        ("tls_server_config: [\n".into(), "web.yml"),
        // Issue 9 item 4: these turned auth off or passed before.
        ("".into(), "configures neither"),
        ("# nothing\n".into(), "configures neither"),
        ("basic_auth_users:\n".into(), "configures neither"),
        ("basic_auth_users: {}\n".into(), "basic_auth_users is empty"),
        ("basic_auth_users:\n  prometheus: $2y$10$short\n".into(), "not a complete bcrypt hash"),
        (format!("basic_auth_users:\n  p: '{h}'\n  p: '{h}'\n", h = bcrypt::hash("x", 4).unwrap()), "listed twice"),
        // Issue 21 item 13: the parser took 10.3 s (quadratic in depth).
        ("[".repeat(64_000), "line 1 is nested deeper than 32"),
        ("{a: ".repeat(64_000), "nested deeper than 32"),
        ("- ".repeat(64_000), "nested deeper than 32"),
        ((0..40).map(|i| format!("{}a{i}:\n", " ".repeat(2 * i))).collect(), "line 34 is nested deeper"),
        (format!("basic_auth_users: {}\n", "[".repeat(33)), "nested deeper than 32"),
    ];
    for (text, needle) in cases {
        let p = write_config(tls.dir.path(), &text);
        let msg = web::load(&p, &Environment::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains(needle), "{text:?}: {msg}");
        assert!(msg.contains("web.yml"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
    // Brackets in quotes and comments are not nesting.
    let h = bcrypt::hash("x", 4).unwrap();
    let text = format!("# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\nbasic_auth_users:\n  'p[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[': '{h}'\n  \"q{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\\\"\": '{h}'\n");
    let p = write_config(tls.dir.path(), &text);
    let web = web::load(&p, &Environment::default()).unwrap();
    assert_eq!(web.auth.unwrap().len(), 2);
}

/// Issue 21 item 1: 16 keep-alive clients from one address sending a wrong
/// password over and over took every slot of the bcrypt queue, and 0 of 20
/// correct logins from another address got through. Now one address holds
/// at most its share: every new correct login from elsewhere is answered
/// 200 within a 10 s scrape timeout while the flood runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_flood_from_one_address_does_not_lock_out_the_others() {
    let fake = fake((0..4).map(FakeGateway::synthetic).collect()).await;
    let dir = tempfile::tempdir().unwrap();
    // 20 users, so each correct login is new (none served from memory).
    let users: String = (0..20)
        .map(|i| {
            format!(
                "  u{i}: '{}'\n",
                bcrypt::hash(format!("pw-{i}"), 6).unwrap()
            )
        })
        .collect();
    let path = write_config(dir.path(), &format!("basic_auth_users:\n{users}"));
    let web = web::load(&path, &Environment::default()).unwrap();
    let exp = Exporter::start_with(config(&fake.url()), Limits::default(), web).await;
    let url = exp.url("/metrics");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut flood = Vec::new();
    for _ in 0..16 {
        let (url, stop, refused) = (url.clone(), stop.clone(), refused.clone());
        flood.push(tokio::spawn(async move {
            // One keep-alive connection per flooder, all from 127.0.0.1.
            let c = reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, 1]))
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let r = c
                    .get(&url)
                    .basic_auth("u0", Some("wrong"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 401);
                refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    while refused.load(std::sync::atomic::Ordering::SeqCst) < 50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..20 {
        let c = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let r = c
            .get(&url)
            .header("X-Prometheus-Scrape-Timeout-Seconds", "10")
            .basic_auth(format!("u{i}"), Some(format!("pw-{i}")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("login {i} not answered within the scrape timeout: {e}"));
        assert_eq!(r.status(), 200, "login {i} during the flood");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in flood {
        t.await.unwrap();
    }
    exp.stop().await;
}
