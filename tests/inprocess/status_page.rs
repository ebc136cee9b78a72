//! The status page at `/` served by the exporter against the fake: built
//! once per refresh however many requests come, escaped, offline first.
//!
//! `status_page::builds()` counts per process and other tests of this binary
//! serve `/` too, so the test runs in a process of its own.

use crate::common::*;
use crate::helpers::in_own_process;
use fake_tts::FakeGateway;
use ttn_exporter::cache::Source;
use ttn_exporter::server::status_page;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10000_gateway_page_is_built_once_per_refresh() {
    if !in_own_process("status_page::a_10000_gateway_page_is_built_once_per_refresh") {
        return;
    }
    let mut fleet: Vec<FakeGateway> = (0..10_000).map(FakeGateway::synthetic).collect();
    fleet[5].name = Some("<script>alert('pwned')</script> & co".into());
    let fake = fake(fleet).await;
    // 10,000 gateways in a debug build beside other tests: more than the
    // default 8 s refresh deadline may pass on a busy machine.
    let mut cfg = config(&fake.url());
    cfg.refresh_timeout = std::time::Duration::from_secs(120);
    cfg.request_timeout = std::time::Duration::from_secs(120);
    cfg.cache_ttl = std::time::Duration::from_secs(600);
    let exp = Exporter::start(cfg.clone()).await;
    let c = client();
    let get_page = || async {
        let r = c.get(exp.url("/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        r.text().await.unwrap()
    };
    let before = status_page::builds();

    let first = get_page().await;
    let pages = futures::future::join_all((0..20).map(|_| get_page())).await;
    assert!(
        pages.iter().all(|p| *p == first),
        "the same bytes each time"
    );
    let _ = exp.scrape().await;
    assert_eq!(exp.cache.refreshes(), 1);
    assert_eq!(status_page::builds() - before, 1);

    // Every gateway is listed once; offline ones (kinds 2 and 3) first.
    assert_eq!(first.matches("<tr class=\"off\">").count(), 5_000);
    assert_eq!(first.matches("<td><code>gw-").count(), 10_000);
    assert!(first.contains("10000 gateways, 5000 connected, 5000 offline"));
    let pos = |id: &str| {
        first
            .find(&format!("<code>{id}</code>"))
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    assert!(pos("gw-009999") < pos("gw-000000"), "offline first");
    assert!(pos("gw-000002") < pos("gw-009998"));
    // The user-chosen name is text, not markup.
    assert!(!first.contains("<script>"));
    assert!(first.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &amp; co"));

    // A new refresh (here: a reload) makes one new page.
    exp.cache
        .set_source(Source::from_config(&cfg, exp.cache.self_metrics()).unwrap());
    let pages = futures::future::join_all((0..20).map(|_| get_page())).await;
    assert!(pages.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(exp.cache.refreshes(), 2);
    assert_eq!(status_page::builds() - before, 2);
    exp.stop().await;
}
