//! Issue 21 item 15: the rest of exporter-toolkit's web config, with real
//! certificates made here (rcgen): client certificates by every
//! `client_auth_type` (refused ones too: none, wrong CA, SAN not allowed),
//! versions, suites, curves, headers, and a renewal picked up while serving.

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use fake_tts::FakeGateway;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use ttn_exporter::config::environment::Environment;
use ttn_exporter::server::web;
use ttn_exporter::server::Limits;

/// A test CA: its PEM and what signs with it.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        pem,
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate for `sans`, signed by `ca`: (cert PEM, key PEM).
fn leaf(ca: &Ca, sans: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

struct Setup {
    dir: tempfile::TempDir,
    server_ca: Ca,
    client_ca: Ca,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = ca("server CA");
    let client_ca = ca("client CA");
    let (cert, key) = leaf(&server_ca, &["localhost"]);
    std::fs::write(dir.path().join("tls.crt"), cert).unwrap();
    std::fs::write(dir.path().join("tls.key"), key).unwrap();
    std::fs::write(dir.path().join("client-ca.crt"), &client_ca.pem).unwrap();
    Setup {
        dir,
        server_ca,
        client_ca,
    }
}

/// The web config `tls_server_config` with `extra` lines under it, and `tail`.
fn write_config(dir: &Path, extra: &str, tail: &str) -> std::path::PathBuf {
    let d = dir.display();
    let p = dir.join("web.yml");
    std::fs::write(
        &p,
        format!(
            "tls_server_config:\n  cert_file: {d}/tls.crt\n  key_file: {d}/tls.key\n{extra}{tail}"
        ),
    )
    .unwrap();
    p
}

/// A client trusting `root`, presenting `identity` (cert and key PEM).
fn tls_client(
    root: &str,
    identity: Option<&(String, String)>,
    addr: std::net::SocketAddr,
) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(20));
    if let Some((cert, key)) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    b.build().unwrap()
}

/// GET /-/healthy: the status, or None when TLS refused the connection.
async fn status(c: &reqwest::Client, addr: std::net::SocketAddr) -> Option<u16> {
    let url = format!("https://localhost:{}/-/healthy", addr.port());
    c.get(url).send().await.ok().map(|r| r.status().as_u16())
}

async fn serve(api: &str, path: &Path) -> Exporter {
    let web = web::load(path, &Environment::default()).unwrap();
    Exporter::start_with(config(api), Limits::default(), web).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_by_auth_type() {
    let fake = fake((0..2).map(FakeGateway::synthetic).collect()).await;
    let s = setup();
    let d = s.dir.path().display().to_string();
    let good = leaf(&s.client_ca, &["prometheus.example"]);
    let other_san = leaf(&s.client_ca, &["intruder.example"]);
    let wrong_ca = leaf(&ca("someone else's CA"), &["prometheus.example"]);
    let ip_san = leaf(&s.client_ca, &["192.0.2.7"]);
    let root = s.server_ca.pem.clone();

    // (auth type, client_allowed_sans, [none, good, other SAN, wrong CA, IP SAN] accepted)
    let cases: [(&str, &str, [bool; 5]); 6] = [
        (
            "RequireAndVerifyClientCert",
            "",
            [false, true, true, false, true],
        ),
        (
            "RequireAndVerifyClientCert",
            "  client_allowed_sans: [prometheus.example, 192.0.2.7]\n",
            [false, true, false, false, true],
        ),
        (
            "VerifyClientCertIfGiven",
            "",
            [true, true, true, false, true],
        ),
        ("RequireAnyClientCert", "", [false, true, true, true, true]),
        ("RequestClientCert", "", [true, true, true, true, true]),
        (
            "RequestClientCert",
            "  client_allowed_sans: [prometheus.example]\n",
            [true, true, false, true, false],
        ),
    ];
    for (auth, sans, expect) in cases {
        let path = write_config(
            s.dir.path(),
            &format!("  client_auth_type: {auth}\n  client_ca_file: {d}/client-ca.crt\n{sans}"),
            "",
        );
        let exp = serve(&fake.url(), &path).await;
        let ids = [
            None,
            Some(&good),
            Some(&other_san),
            Some(&wrong_ca),
            Some(&ip_san),
        ];
        for (i, (id, ok)) in ids.iter().zip(expect).enumerate() {
            let got = status(&tls_client(&root, *id, exp.addr), exp.addr).await;
            assert_eq!(got == Some(200), ok, "{auth} {sans:?} client {i}: {got:?}");
        }
        exp.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_suites_curves_and_headers() {
    let fake = fake((0..2).map(FakeGateway::synthetic).collect()).await;
    let s = setup();
    let root = s.server_ca.pem.clone();
    // TLS 1.3 only: a TLS 1.2 client is refused.
    let path = write_config(
        s.dir.path(),
        "  min_version: TLS13\n  curve_preferences: [CurveP384]\n",
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n    X-XSS-Protection: ''\n",
    );
    let exp = serve(&fake.url(), &path).await;
    let url = format!("https://localhost:{}/metrics", exp.addr.port());
    let r = tls_client(&root, None, exp.addr)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "deny");
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    assert!(r.headers().get("x-xss-protection").is_none());
    let old = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .resolve("localhost", exp.addr)
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert!(old.get(&url).send().await.is_err());
    exp.stop().await;

    // TLS 1.2 only, one suite: a TLS 1.2 client gets through.
    let path = write_config(
        s.dir.path(),
        "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n  prefer_server_cipher_suites: true\n",
        "",
    );
    let exp = serve(&fake.url(), &path).await;
    let url = format!("https://localhost:{}/-/healthy", exp.addr.port());
    let c = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .resolve("localhost", exp.addr)
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    exp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_used_without_restart() {
    let fake = fake((0..2).map(FakeGateway::synthetic).collect()).await;
    let s = setup();
    let path = write_config(s.dir.path(), "", "");
    let exp = serve(&fake.url(), &path).await;
    let new_ca = ca("renewal CA");
    let old_client = tls_client(&s.server_ca.pem, None, exp.addr);
    let new_client = tls_client(&new_ca.pem, None, exp.addr);
    assert_eq!(status(&old_client, exp.addr).await, Some(200));
    assert_eq!(status(&new_client, exp.addr).await, None);

    // A broken renewal (half-written certificate): the old one stays.
    std::fs::write(
        s.dir.path().join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        status(&tls_client(&s.server_ca.pem, None, exp.addr), exp.addr).await,
        Some(200)
    );

    // The renewal proper, written as certbot does (new files, renamed in).
    let (cert, key) = leaf(&new_ca, &["localhost"]);
    std::fs::write(s.dir.path().join("tls.key.new"), key).unwrap();
    std::fs::write(s.dir.path().join("tls.crt.new"), cert).unwrap();
    std::fs::rename(
        s.dir.path().join("tls.key.new"),
        s.dir.path().join("tls.key"),
    )
    .unwrap();
    std::fs::rename(
        s.dir.path().join("tls.crt.new"),
        s.dir.path().join("tls.crt"),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let fresh = tls_client(&new_ca.pem, None, exp.addr);
    assert_eq!(status(&fresh, exp.addr).await, Some(200));
    let stale = tls_client(&s.server_ca.pem, None, exp.addr);
    assert_eq!(status(&stale, exp.addr).await, None);
    exp.stop().await;
}

#[test]
fn unsupported_values_are_one_clear_line() {
    let s = setup();
    let d = s.dir.path().display().to_string();
    let ca = format!("  client_ca_file: {d}/client-ca.crt\n");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n".into(),
            "",
            "TLS_RSA_WITH_AES_128_CBC_SHA is not supported",
        ),
        (
            "  cipher_suites: [TLS_NONSENSE]\n".into(),
            "",
            "TLS_NONSENSE is not supported",
        ),
        (
            "  curve_preferences: [CurveP521]\n".into(),
            "",
            "CurveP521 is not supported",
        ),
        (
            "  curve_preferences: [Curve25519]\n".into(),
            "",
            "\"Curve25519\" is not one of",
        ),
        (
            "  min_version: TLS10\n".into(),
            "",
            "min_version TLS10 is not supported",
        ),
        (
            "  max_version: TLS11\n".into(),
            "",
            "max_version TLS11 is not supported",
        ),
        (
            "  min_version: TLS13\n  max_version: TLS12\n".into(),
            "",
            "min_version is above max_version",
        ),
        ("  min_version: SSL3\n".into(), "", "\"SSL3\" is not one of"),
        (
            "  client_auth_type: Maybe\n".into(),
            "",
            "client_auth_type \"Maybe\"",
        ),
        (
            ca.clone(),
            "",
            "client_ca_file is set but client_auth_type is NoClientCert",
        ),
        (
            "  client_auth_type: RequireAndVerifyClientCert\n".into(),
            "",
            "needs client_ca_file",
        ),
        (
            "  client_allowed_sans: [a]\n".into(),
            "",
            "client_allowed_sans is set",
        ),
        (
            "  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: /dev/zero
"
            .to_string(),
            "",
            "/dev/zero: it is a character device",
        ),
        (
            format!(
                "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {d}/tls.key\n"
            ),
            "",
            "no certificate in",
        ),
        ("  cert: inline\n".into(), "", "unknown field `cert`"),
        (
            "".into(),
            "http_server_config:\n  headers:\n    Server: me\n",
            "\"Server\" cannot be configured",
        ),
        (
            "".into(),
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "X-Frame-Options must be one of",
        ),
        (
            "".into(),
            "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
            "must be one of",
        ),
        (
            "".into(),
            "http_server_config:\n  http2: false\n",
            "unknown field `http2`",
        ),
    ];
    for (extra, tail, needle) in cases {
        let p = write_config(s.dir.path(), &extra, tail);
        let msg = web::load(&p, &Environment::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains(needle), "{extra:?} {tail:?}: {msg}");
        assert!(msg.contains("web.yml"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}
