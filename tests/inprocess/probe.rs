//! Named targets at `/probe?target=NAME` and hash sharding
//! (`shard=I&shards=N`) of `/metrics` and `/probe`, against the fake TTS.

use std::collections::BTreeSet;
use std::io::Read;

use crate::common::*;
use fake_tts::FakeGateway;
use ttn_exporter::cache::Source;
use ttn_exporter::config::Scope;

use crate::common::probe::*;

/// Gateway IDs in a body (from `ttn_gateway_info`).
pub fn ids(text: &str) -> BTreeSet<String> {
    series(text, "ttn_gateway_info")
        .iter()
        .filter_map(|l| {
            let rest = l.split("gateway_id=\"").nth(1)?;
            Some(rest.split('"').next()?.to_owned())
        })
        .collect()
}

pub async fn get(url: &str, gzip: bool) -> (u16, String) {
    let mut req = client().get(url);
    if gzip {
        req = req.header("Accept-Encoding", "gzip");
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let zipped = resp
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    assert_eq!(zipped, gzip && status == 200, "{url}");
    let bytes = resp.bytes().await.unwrap();
    let text = if zipped {
        let mut t = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut t)
            .unwrap();
        t
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_targets_with_their_own_keys_see_their_own_gateways() {
    let (fake, exp) = acme_and_beta(
        (0..12).map(FakeGateway::synthetic).collect(),
        &[("wrong", WRONG_KEY, Scope::All)],
    )
    .await;

    let (s, acme) = get(&exp.url("/probe?target=acme"), false).await;
    assert_eq!(s, 200);
    let want: BTreeSet<String> = ["gw-000002", "gw-000005", "gw-000008", "gw-000011"]
        .map(String::from)
        .into();
    assert_eq!(ids(&acme), want, "{acme}");
    assert_eq!(value(&acme, "ttn_up"), Some(1.0));

    let (s, beta) = get(&exp.url("/probe?target=beta"), true).await;
    assert_eq!(s, 200);
    let want: BTreeSet<String> = ["gw-000000", "gw-000001"].map(String::from).into();
    assert_eq!(ids(&beta), want, "{beta}");
    assert_eq!(value(&beta, "ttn_up"), Some(1.0));

    // Each target's requests carried its own key.
    let tokens = fake.seen_tokens();
    assert!(tokens.iter().any(|t| t == ACME_KEY), "{tokens:?}");
    assert!(tokens.iter().any(|t| t == BETA_KEY), "{tokens:?}");

    // A target whose key is refused is down on its own; others are not.
    let (s, wrong) = get(&exp.url("/probe?target=wrong"), false).await;
    assert_eq!(s, 200);
    assert_eq!(value(&wrong, "ttn_up"), Some(0.0));
    assert_eq!(
        value(
            &wrong,
            "ttn_exporter_refresh_errors_total{reason=\"unauthorized\"}"
        ),
        Some(1.0)
    );
    assert!(ids(&wrong).is_empty());
    assert_eq!(
        value(
            &acme,
            "ttn_exporter_refresh_errors_total{reason=\"unauthorized\"}"
        ),
        Some(0.0)
    );

    // The exporter's own process and build info are on /metrics only.
    let main = exp.scrape().await;
    assert_eq!(ids(&main).len(), 12);
    assert!(main.contains("ttn_exporter_build_info{"), "{main}");
    for probe in [&acme, &beta, &wrong] {
        assert!(!probe.contains("ttn_exporter_build_info"), "{probe}");
        assert!(!probe.contains("process_"), "{probe}");
        assert!(
            probe.contains("ttn_exporter_api_requests_total{"),
            "{probe}"
        );
    }
    #[cfg(target_os = "linux")]
    assert!(main.contains("process_resident_memory_bytes"));
    exp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reapplying_targets_keeps_adds_and_drops() {
    let fake = fake((0..6).map(FakeGateway::synthetic).collect()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let url = fake.url();
    let targets = &exp.targets;
    targets
        .apply(&[
            target("acme", &url, WRONG_KEY, Scope::All),
            target("gone", &url, KEY, Scope::All),
        ])
        .unwrap();
    let (_, before) = get(&exp.url("/probe?target=acme"), false).await;
    assert_eq!(value(&before, "ttn_up"), Some(0.0));
    let acme = targets.get("acme").unwrap();
    // Reload: acme gets a good key, gone goes, new comes.
    targets
        .apply(&[
            target("acme", &url, KEY, Scope::All),
            target("new", &url, KEY, Scope::All),
        ])
        .unwrap();
    assert_eq!(targets.names(), ["acme", "new"]);
    let (_, after) = get(&exp.url("/probe?target=acme"), false).await;
    assert_eq!(value(&after, "ttn_up"), Some(1.0));
    assert_eq!(ids(&after).len(), 6);
    // The same cache, so the counters go on.
    assert_eq!(acme.refreshes(), 2);
    assert_eq!(
        value(
            &after,
            "ttn_exporter_refresh_errors_total{reason=\"unauthorized\"}"
        ),
        Some(1.0)
    );
    let r = client()
        .get(exp.url("/probe?target=gone"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, _) = get(&exp.url("/probe?target=new"), false).await;
    assert_eq!(s, 200);
    exp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_one_line_400() {
    let fake = fake((0..8).map(FakeGateway::synthetic).collect()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    exp.targets
        .apply(&[target("acme", &fake.url(), KEY, Scope::All)])
        .unwrap();
    let cases: &[(&str, &str)] = &[
        ("/probe", "missing parameter target"),
        ("/probe?target=nope", "unknown target nope"),
        ("/probe?target=ACME", "invalid target name"),
        ("/probe?target=%0A%1B", "invalid target name"),
        (
            "/probe?target=acme&target=acme",
            "target given more than once",
        ),
        (
            "/probe?target=acme&shard=4&shards=4",
            "shard must be less than shards",
        ),
        (
            "/probe?target=acme&shard=0&shards=0",
            "shards must be from 1",
        ),
        (
            "/probe?target=acme&shard=0&shards=1025",
            "shards must be from 1 to 1024",
        ),
        (
            "/probe?target=acme&shard=x&shards=4",
            "shard must be a whole number",
        ),
        (
            "/probe?target=acme&shard=1&shards=four",
            "shards must be a whole number",
        ),
        ("/probe?target=acme&shard=1", "shard given without shards"),
        ("/metrics?shards=4", "shards given without shard"),
        (
            "/metrics?shard=1&shard=2&shards=4",
            "shard given more than once",
        ),
        ("/metrics?shard=-1&shards=4", "shard must be a whole number"),
        ("/metrics?shard=5&shards=4", "less than shards"),
        ("/metrics?target=acme", "target is for /probe"),
    ];
    for (path, needle) in cases {
        let resp = client().get(exp.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{path}");
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        let body = resp.text().await.unwrap();
        assert!(body.contains(needle), "{path}: {body}");
        assert_eq!(body.lines().count(), 1, "{path}: {body}");
        assert!(!body.contains("ttn_"), "{path}: data served: {body}");
        assert!(
            !body.chars().any(|c| c.is_control() && c != '\n'),
            "{body:?}"
        );
    }
    // Unknown parameters are ignored; the good forms answer 200.
    for path in [
        "/metrics?foo=bar",
        "/metrics?shard=0&shards=1",
        "/probe?target=acme&shard=3&shards=4",
    ] {
        let (s, text) = get(&exp.url(path), false).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(value(&text, "ttn_up"), Some(1.0), "{path}");
    }
    let r = client()
        .post(exp.url("/probe?target=acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    exp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_are_disjoint_complete_and_built_once_per_refresh() {
    let fake = fake(fake_tts::synthetic_fleet(400)).await;
    let exp = Exporter::start(config(&fake.url())).await;
    exp.targets
        .apply(&[target("acme", &fake.url(), KEY, Scope::All)])
        .unwrap();
    let full = exp.scrape().await;
    let everything = ids(&full);
    assert_eq!(everything.len(), 400);
    let upstream = fake.total_requests();
    assert!(upstream > 0);

    for (base, cache) in [
        ("/metrics?", exp.cache.clone()),
        ("/probe?target=acme&", exp.targets.get("acme").unwrap()),
    ] {
        let mut union = BTreeSet::new();
        let mut total = 0;
        for i in 0..4 {
            let url = exp.url(&format!("{base}shard={i}&shards=4"));
            let (s, plain) = get(&url, false).await;
            assert_eq!(s, 200);
            let (_, zipped) = get(&url, true).await;
            assert_eq!(plain, zipped, "{url}: gzip and plain differ");
            let (_, again) = get(&url, false).await;
            assert_eq!(plain, again);
            let mine = ids(&plain);
            assert!(
                (50..150).contains(&mine.len()),
                "{url}: {} gateways",
                mine.len()
            );
            // Health in every shard; the gateway count is the shard's.
            assert_eq!(value(&plain, "ttn_up"), Some(1.0), "{url}");
            assert_eq!(
                value(&plain, "ttn_exporter_gateways"),
                Some(mine.len() as f64)
            );
            assert!(plain.contains("ttn_exporter_refresh_errors_total{"));
            assert!(mine.iter().all(|id| ttn_exporter::metrics::shard::Shard {
                index: i,
                count: 4
            }
            .keeps(id)));
            total += mine.len();
            union.extend(mine);
        }
        assert_eq!(total, 400, "{base}: shards overlap");
        assert_eq!(union, everything, "{base}");
        // One refresh served every shard; each shard was built once.
        assert_eq!(cache.refreshes(), 1, "{base}");
        assert_eq!(cache.peek().unwrap().shards.built(), 4, "{base}");
    }
    // The default target's refresh was not repeated for its shards (the
    // probe target made its own single refresh on top).
    let probe_full = get(&exp.url("/probe?target=acme"), false).await.1;
    assert_eq!(ids(&probe_full), everything);
    assert_eq!(fake.total_requests(), 2 * upstream);
    exp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_bodies_are_bounded_and_rebuilt_after_a_refresh() {
    let fake = fake(fake_tts::synthetic_fleet(40)).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let mut union = BTreeSet::new();
    // Three layouts in one refresh: the third is served right, not kept.
    for n in [2u32, 3, 5] {
        for i in 0..n {
            let (_, t) = get(&exp.url(&format!("/metrics?shard={i}&shards={n}")), false).await;
            union.extend(ids(&t));
        }
    }
    assert_eq!(union.len(), 40);
    assert_eq!(exp.cache.refreshes(), 1);
    let e = exp.cache.peek().unwrap();
    assert_eq!(e.shards.built(), 2 + 3 + 5);
    let _ = get(&exp.url("/metrics?shard=0&shards=2"), false).await;
    let _ = get(&exp.url("/metrics?shard=0&shards=5"), false).await;
    // Layout 2 is kept, layout 5 is built again for each request.
    assert_eq!(e.shards.built(), 2 + 3 + 5 + 1);
    // A new refresh starts with no shard bodies.
    let own = exp.cache.self_metrics();
    exp.cache
        .set_source(Source::from_config(&config(&fake.url()), own).unwrap());
    let (_, t) = get(&exp.url("/metrics?shard=0&shards=2"), false).await;
    assert!(!ids(&t).is_empty());
    assert_eq!(exp.cache.refreshes(), 2);
    assert_eq!(exp.cache.peek().unwrap().shards.built(), 1);
    exp.stop().await;
}

/// Issue 21 item 2: a scraper asking for `shards=1024` and `shards=1023`
/// right after each refresh took both kept layouts, and a real
/// `shards=4` scrape waited behind uncached builds. Now the layouts in use
/// keep their places in the next refresh, and unknown ones get what is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_shard_layouts_cannot_evict_the_ones_in_use() {
    let fake = fake(fake_tts::synthetic_fleet(40)).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let scrape_all = |n: u32| {
        let exp = &exp;
        async move {
            let mut union = BTreeSet::new();
            for i in 0..n {
                let (_, t) = get(&exp.url(&format!("/metrics?shard={i}&shards={n}")), false).await;
                union.extend(ids(&t));
            }
            union
        }
    };
    assert_eq!(scrape_all(4).await.len(), 40);
    for refresh in 2..=5 {
        let own = exp.cache.self_metrics();
        exp.cache
            .set_source(Source::from_config(&config(&fake.url()), own).unwrap());
        // The squatter comes first, from a fresh refresh.
        for n in [1024u32, 1023] {
            let _ = get(&exp.url(&format!("/metrics?shard=0&shards={n}")), false).await;
        }
        assert_eq!(exp.cache.refreshes(), refresh);
        let e = exp.cache.peek().unwrap();
        assert_eq!(e.shards.layouts(), [4, 1024], "refresh {refresh}");
        assert_eq!(scrape_all(4).await.len(), 40);
        // Layout 4 was built once per shard, from the cache; 1023 alone
        // was built for its request.
        assert_eq!(e.shards.built(), 1 + 1 + 4, "refresh {refresh}");
    }
    // A layout nobody asks for any more gives its place up.
    for refresh in 6..=9 {
        let own = exp.cache.self_metrics();
        exp.cache
            .set_source(Source::from_config(&config(&fake.url()), own).unwrap());
        let _ = get(&exp.url("/metrics?shard=0&shards=1024"), false).await;
        assert_eq!(exp.cache.refreshes(), refresh);
    }
    let e = exp.cache.peek().unwrap();
    assert_eq!(e.shards.layouts(), [1024]);
    exp.stop().await;
}

/// Issue 21 item 2: the wait for a shard build ignored
/// `X-Prometheus-Scrape-Timeout-Seconds` (15.5 s for a 10 s scrape). With
/// uncached builds of a large fleet queued ahead, a scrape is answered by
/// its timeout with `ttn_up 0` and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_for_a_shard_build_honours_the_scrape_timeout() {
    let fake = fake(fake_tts::synthetic_fleet(10_000)).await;
    let exp = Exporter::start(config(&fake.url())).await;
    // Both kept layouts taken, then uncached builds queued.
    for n in [2u32, 3] {
        let _ = get(&exp.url(&format!("/metrics?shard=0&shards={n}")), false).await;
    }
    let mut queued = Vec::new();
    for n in 5..37u32 {
        let url = exp.url(&format!("/metrics?shard=0&shards={n}"));
        queued.push(tokio::spawn(async move { get(&url, false).await }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let out = client()
        .get(exp.url("/metrics?shard=1&shards=4"))
        .header("X-Prometheus-Scrape-Timeout-Seconds", "0.2")
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .unwrap();
    assert_eq!(
        value(&out, "ttn_up"),
        Some(0.0),
        "{}",
        &out[..out.len().min(2000)]
    );
    assert!(
        out.contains("the shard was not built within the scrape's 0.1s"),
        "{}",
        &out[..out.len().min(2000)]
    );
    assert_eq!(value(&out, "ttn_exporter_scrape_timeouts_total"), Some(1.0));
    assert!(ids(&out).is_empty());
    for q in queued {
        assert_eq!(q.await.unwrap().0, 200);
    }
    exp.stop().await;
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

    /// Any query string: a valid request or a one-line reason, never a panic.
    #[test]
    fn any_query_parses_or_says_why(q in "(target|shard|shards|x|%[0-9A-F]{2}|[=&0-9a-z+-]){0,40}") {
        match ttn_exporter::server::probe::parse_query(Some(&q)) {
            Ok(parsed) => {
                if let Some(s) = parsed.shard {
                    proptest::prop_assert!(s.count >= 1 && s.count <= 1024 && s.index < s.count);
                }
            }
            Err(e) => {
                let e = e.to_string();
                proptest::prop_assert!(!e.is_empty() && !e.contains('\n'))
            }
        }
    }
}
