//! The key never appears in log output, at any level, on any path.
//!
//! The capture is the process-wide log subscriber, so the test runs in a
//! process of its own (the other tests of this binary neither feed it nor
//! meet a subscriber already set).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use crate::helpers::in_own_process;
use fake_tts::{FakeGateway, Fault, Route};
use ttn_exporter::config::{ApiKey, Scope};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_never_in_logs_or_metrics() {
    if !in_own_process("secrets::key_never_in_logs_or_metrics") {
        return;
    }
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let fake = fake((0..30).map(FakeGateway::synthetic).collect()).await;
    let scoped = "NNSXS.FAKE-SCOPED-KEY.NOT-A-SECRET";
    fake.set_gateway_key(scoped, &["gw-000001"]);
    let mut all_text = String::new();

    // Good path, then each failure.
    let mut cfg = config(&fake.url());
    cfg.request_timeout = Duration::from_millis(300);
    let exp = Exporter::start(cfg).await;
    all_text.push_str(&exp.scrape().await);
    for fault in [
        Fault::Status {
            code: 401,
            body: r#"{"code":16,"message":"error:pkg/auth:api_key_not_found (API key not found)"}"#
                .into(),
            headers: Vec::new(),
        },
        Fault::RateLimited { retry_secs: 0 },
        Fault::Malformed,
        Fault::Hang,
    ] {
        fake.set_fault(Route::ListGateways, Some(fault));
        // Refresh now: past cache_ttl and any back-off the last fault asked.
        exp.cache.clear_backoff();
        exp.cache.expire();
        all_text.push_str(&exp.scrape().await);
    }
    fake.set_fault(Route::ListGateways, None);
    exp.stop().await;

    // Wrong key, and the gateway-scoped key's batch refusal.
    let mut cfg = config(&fake.url());
    cfg.api_key = ApiKey::parse("NNSXS.FAKE-WRONG-KEY.NOT-A-SECRET").unwrap();
    let exp = Exporter::start(cfg).await;
    all_text.push_str(&exp.scrape().await);
    exp.stop().await;
    let mut cfg = config(&fake.url());
    cfg.api_key = ApiKey::parse(scoped).unwrap();
    cfg.scope = Scope::Explicit(vec!["gw-000001".into()]);
    let exp = Exporter::start(cfg).await;
    all_text.push_str(&exp.scrape().await);
    exp.stop().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The capture works and saw the failures (so this test can fail).
    assert!(logs.contains("refresh failed"), "{logs}");
    assert!(logs.contains("401"), "{logs}");
    assert!(logs.contains("batch stats refused"), "{logs}");
    for secret in [KEY, "NNSXS.FAKE-WRONG-KEY.NOT-A-SECRET", scoped] {
        assert!(!logs.contains(secret), "key in logs");
        // Nor the secret part alone.
        let tail = secret.rsplit('.').next().unwrap();
        assert!(!logs.contains(tail), "key part in logs");
        assert!(!all_text.contains(secret), "key in metrics");
    }
}
