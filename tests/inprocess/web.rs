//! TLS and basic auth from an exporter-toolkit style web config, tested
//! with real clients (reqwest with rustls, and curl).

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use fake_tts::FakeGateway;
use ttn_exporter::server::Limits;
use ttn_exporter::systemd::Environment;
use ttn_exporter::web;

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
}
