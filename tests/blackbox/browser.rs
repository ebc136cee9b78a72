//! The status page in a real browser (Debian's headless chromium): the text
//! it renders for 20 gateways, and a screenshot that is a real image.
//!
//! The screenshot is kept in Cargo's per-test temp dir
//! (`target/tmp/status-page.png`) for a human to look at.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use fake_tts::FakeGateway;

/// Run chromium headless with `args` and `url`; kill it after 90 s.
fn chromium(profile: &Path, args: &[String], url: &str) -> Output {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium not found: apt install chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().expect("wait for chromium").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("chromium output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium (apt install chromium)"]
async fn chromium_renders_the_status_page() {
    let mut fleet: Vec<FakeGateway> = (0..20).map(FakeGateway::synthetic).collect();
    fleet[4].name = Some("Roof <script>alert(1)</script>".into());
    let fake = fake(fleet).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let url = exp.url("/");
    let dir = tempfile::tempdir().unwrap();
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&shot);

    let (profile, u) = (dir.path().join("profile-dom"), url.clone());
    let dom =
        tokio::task::spawn_blocking(move || chromium(&profile, &["--dump-dom".to_owned()], &u))
            .await
            .unwrap();
    let text = String::from_utf8_lossy(&dom.stdout);
    assert_success(&dom);
    for needle in [
        "ttn_up 1",
        "20 gateways, 10 connected, 10 offline",
        "Gateway 0<",
        "Gateway 19<",
        "<code>gw-000007</code>",
        ">connected<",
        ">disconnected<",
        ">not connected<",
        "semtechws/lbslns",
        "href=\"/metrics\"",
        "Roof &lt;script&gt;alert(1)&lt;/script&gt;",
    ] {
        assert!(text.contains(needle), "{needle} not in the DOM:\n{text}");
    }
    // The name did not become a script element: the page has none.
    assert!(!text.contains("<script"), "{text}");
    // Offline first: gateway 2 (disconnected) is above gateway 0 (connected).
    let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s}"));
    assert!(pos("<code>gw-000002</code>") < pos("<code>gw-000000</code>"));

    let (profile, s) = (dir.path().join("profile-shot"), shot.clone());
    let out = tokio::task::spawn_blocking(move || {
        chromium(&profile, &[format!("--screenshot={}", s.display())], &url)
    })
    .await
    .unwrap();
    assert_success(&out);
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    // IHDR: width and height as asked.
    assert_eq!(&png[12..16], b"IHDR");
    let dim = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    assert_eq!((dim(16), dim(20)), (1280, 1000));
    // A blank page compresses to a few KB; a table of 20 rows does not.
    assert!(
        png.len() > 30_000,
        "suspiciously small: {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
    exp.stop().await;
}
