//! The `fake-tts` binary: its arguments, and the `/_fake/` control API it serves.

use std::net::SocketAddr;

use fake_tts::DEFAULT_KEY;
use serde_json::json;

use crate::client::{stats_path, Client};

async fn control(c: &mut Client, path: &str) {
    let r = c.send("POST", path, None, None).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json(), json!({"ok": true}));
}

/// Runs the binary and drives it through the control API, then stops it with SIGTERM.
#[tokio::test]
async fn binary_and_control_api() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-tts"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--gateways",
            "150",
            "--key",
            "NNSXS.BIN.KEY",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        line
    })
    .await
    .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr: SocketAddr = url.parse().unwrap();
    let key = Some("NNSXS.BIN.KEY");

    let mut c = Client::connect(addr).await;
    let r = c
        .send("GET", "/api/v3/gateways?limit=1000", key, None)
        .await;
    assert_eq!((r.status, r.total()), (200, 150));
    let r = c.get("/api/v3/gateways").await;
    assert_eq!(r.status, 401);

    control(
        &mut c,
        "/_fake/fault?route=list&kind=status&code=503&times=1",
    )
    .await;
    let r = c.send("GET", "/api/v3/gateways", key, None).await;
    assert_eq!(r.status, 503);
    let r = c.send("GET", "/api/v3/gateways", key, None).await;
    assert_eq!(r.status, 200);
    control(&mut c, "/_fake/fault?route=auth&kind=rate_limited&retry=3").await;
    let r = c.send("GET", "/api/v3/auth_info", key, None).await;
    assert_eq!((r.status, r.header("x-rate-limit-retry")), (429, Some("3")));
    control(&mut c, "/_fake/fault?route=all&kind=clear").await;
    let r = c.send("GET", "/api/v3/auth_info", key, None).await;
    assert_eq!(r.status, 200);
    control(&mut c, "/_fake/fault?route=single&kind=huge&bytes=1000").await;
    let r = c.send("GET", &stats_path("gw-000000"), key, None).await;
    assert_eq!(r.body.len(), 1000);
    control(&mut c, "/_fake/fault?route=single&kind=delay&ms=1").await;
    control(&mut c, "/_fake/fault?route=single&kind=hang").await;
    control(&mut c, "/_fake/fault?route=single&kind=malformed").await;
    control(&mut c, "/_fake/fault?route=single&kind=truncated").await;
    control(&mut c, "/_fake/fault?route=list&kind=repeat_page").await;
    control(&mut c, "/_fake/fault?route=batch&kind=close").await;
    control(&mut c, "/_fake/fault?route=all&kind=clear").await;

    control(&mut c, "/_fake/keys?key=NNSXS.A.A&key=NNSXS.B.B").await;
    assert_eq!(
        c.send("GET", "/api/v3/auth_info", key, None).await.status,
        401
    );
    let r = c
        .send("GET", "/api/v3/auth_info", Some("NNSXS.B.B"), None)
        .await;
    assert_eq!(r.status, 200);
    control(&mut c, "/_fake/gateway_key?key=NNSXS.G.G&id=gw-000001").await;
    let r = c
        .send("GET", &stats_path("gw-000001"), Some("NNSXS.G.G"), None)
        .await;
    assert_eq!(r.status, 200);
    control(&mut c, "/_fake/gateways?n=3").await;
    let r = c
        .send("GET", "/api/v3/gateways", Some("NNSXS.A.A"), None)
        .await;
    assert_eq!(r.total(), 3);

    let counts = c.send("GET", "/_fake/counts", None, None).await.json();
    assert_eq!(counts["list"], 5);
    assert_eq!(counts["auth"], 4);
    assert_eq!(counts["single"], 2);
    assert_eq!(counts["batch"], 0);
    assert_eq!(counts["total"], 11);
    assert_eq!(
        counts["seen_tokens"],
        json!([
            "NNSXS.BIN.KEY",
            DEFAULT_KEY,
            "NNSXS.B.B",
            "NNSXS.G.G",
            "NNSXS.A.A"
        ])
    );
    control(&mut c, "/_fake/reset").await;
    let counts = c.send("GET", "/_fake/counts", None, None).await.json();
    assert_eq!(counts["total"], 0);

    for bad in [
        "/_fake/fault?route=nope&kind=hang",
        "/_fake/fault?route=list&kind=nope",
        "/_fake/fault?route=list&kind=status&code=x",
        "/_fake/gateways?n=x",
    ] {
        let r = c.send("POST", bad, None, None).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    assert_eq!(c.send("GET", "/_fake/fault", None, None).await.status, 405);
    assert_eq!(c.send("GET", "/_fake/nope", None, None).await.status, 404);

    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn binary_rejects_bad_arguments() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fake-tts"))
        .args(["--gateways", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fake-tts"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--gateways"));
}
