//! Plain text and gzip from the one kept body: the exporter keeps only the
//! gzip of a refresh and inflates it as it is sent to a client that does not
//! ask for gzip. Every client gets the same bytes, with a `Content-Length`
//! that matches them, for GET and HEAD, for every `Accept-Encoding`.

use std::io::Read;

use crate::common::*;

/// Text several times [`ttn_exporter::metrics::body::CHUNK`] long.
const GATEWAYS: usize = 600;

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

struct Answer {
    status: u16,
    encoding: Option<String>,
    length: Option<u64>,
    vary: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn ask(method: reqwest::Method, url: String, accept: Option<&str>) -> Answer {
    let mut req = client().request(method, url);
    if let Some(a) = accept {
        req = req.header("Accept-Encoding", a);
    }
    let resp = req.send().await.unwrap();
    let h = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (encoding, vary, content_type) = (h("content-encoding"), h("vary"), h("content-type"));
    let length = h("content-length").map(|v| v.parse().unwrap());
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap().to_vec();
    Answer {
        status,
        encoding,
        length,
        vary,
        content_type,
        body,
    }
}

async fn get(url: String, accept: Option<&str>) -> Answer {
    ask(reqwest::Method::GET, url, accept).await
}

#[tokio::test]
async fn plain_and_gzip_clients_get_the_same_text() {
    let fake = fake(fake_tts::synthetic_fleet(GATEWAYS)).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let gz = get(exp.url("/metrics"), Some("gzip")).await;
    let plain = get(exp.url("/metrics"), None).await;
    assert_eq!((gz.status, plain.status), (200, 200));
    assert_eq!(gz.encoding.as_deref(), Some("gzip"));
    assert_eq!(plain.encoding, None);
    assert_eq!(gz.length, Some(gz.body.len() as u64));
    assert_eq!(plain.length, Some(plain.body.len() as u64));
    let text = gunzip(&gz.body);
    assert!(
        text.len() > 4 * ttn_exporter::metrics::body::CHUNK,
        "{}",
        text.len()
    );
    assert!(
        text == plain.body,
        "plain body differs from the gzip's text"
    );
    // What the cache holds is the gzip sent, and its text is the plain body.
    let entry = exp.cache.peek().unwrap();
    assert_eq!(&entry.rendered.gzip()[..], &gz.body[..]);
    assert_eq!(entry.rendered.plain_len(), plain.body.len() as u64);
    let body = String::from_utf8(plain.body).unwrap();
    assert_eq!(value(&body, "ttn_exporter_gateways"), Some(GATEWAYS as f64));
    assert!(body.ends_with('\n'));
    // Many plain scrapes at once all get the whole text.
    let many = (0..8).map(|_| get(exp.url("/metrics"), None));
    for a in futures::future::join_all(many).await {
        assert!(a.body == text, "a concurrent plain scrape differs");
    }
    assert_eq!(exp.cache.refreshes(), 1);
    exp.stop().await;
}

#[tokio::test]
async fn every_accept_encoding_gets_the_same_text() {
    let fake = fake(fake_tts::synthetic_fleet(GATEWAYS)).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let text = get(exp.url("/metrics"), None).await.body;
    let cases = [
        ("gzip", true),
        ("GZIP", true),
        ("gzip, deflate, br", true),
        ("deflate, gzip;q=0.5", true),
        ("*", true),
        ("identity", false),
        ("gzip;q=0", false),
        ("gzip; q=0.0, identity", false),
        ("br", false),
        ("deflate", false),
        ("", false),
    ];
    for (accept, gzip) in cases {
        let a = get(exp.url("/metrics"), Some(accept)).await;
        assert_eq!(a.status, 200, "{accept:?}");
        assert_eq!(a.vary.as_deref(), Some("Accept-Encoding"), "{accept:?}");
        assert!(
            a.content_type
                .as_deref()
                .unwrap()
                .starts_with("text/plain; version=0.0.4"),
            "{accept:?}"
        );
        assert_eq!(a.length, Some(a.body.len() as u64), "{accept:?}");
        if gzip {
            assert_eq!(a.encoding.as_deref(), Some("gzip"), "{accept:?}");
            assert!(gunzip(&a.body) == text, "{accept:?}: gzip text differs");
        } else {
            assert_eq!(a.encoding, None, "{accept:?}");
            assert!(a.body == text, "{accept:?}: plain text differs");
        }
    }
    assert_eq!(exp.cache.refreshes(), 1);
    exp.stop().await;
}

#[tokio::test]
async fn head_has_the_headers_of_get_and_no_body() {
    let fake = fake(fake_tts::synthetic_fleet(GATEWAYS)).await;
    let exp = Exporter::start(config(&fake.url())).await;
    for path in ["/metrics", "/metrics?shard=1&shards=3"] {
        for accept in [None, Some("gzip")] {
            let g = get(exp.url(path), accept).await;
            let h = ask(reqwest::Method::HEAD, exp.url(path), accept).await;
            assert_eq!(h.status, 200, "{path} {accept:?}");
            assert!(h.body.is_empty(), "{path} {accept:?}: HEAD sent a body");
            assert_eq!(h.length, Some(g.body.len() as u64), "{path} {accept:?}");
            assert_eq!(h.encoding, g.encoding, "{path} {accept:?}");
            assert_eq!(h.vary, g.vary, "{path} {accept:?}");
            assert_eq!(h.content_type, g.content_type, "{path} {accept:?}");
        }
    }
    assert_eq!(exp.cache.refreshes(), 1);
    exp.stop().await;
}

#[tokio::test]
async fn shard_bodies_are_the_same_text_plain_and_gzip() {
    let fake = fake(fake_tts::synthetic_fleet(GATEWAYS)).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let mut gateways = 0;
    for i in 0..3 {
        let url = exp.url(&format!("/metrics?shard={i}&shards=3"));
        let gz = get(url.clone(), Some("gzip")).await;
        let plain = get(url, None).await;
        assert_eq!(gz.encoding.as_deref(), Some("gzip"));
        assert_eq!(plain.length, Some(plain.body.len() as u64));
        assert!(gunzip(&gz.body) == plain.body, "shard {i}: texts differ");
        let text = String::from_utf8(plain.body).unwrap();
        gateways += value(&text, "ttn_exporter_gateways").unwrap() as usize;
    }
    assert_eq!(gateways, GATEWAYS);
    assert_eq!(exp.cache.refreshes(), 1);
    exp.stop().await;
}
