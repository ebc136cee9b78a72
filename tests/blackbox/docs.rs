//! The documents hold together: every relative link of README.md and
//! docs/*.md reaches a file and, with `#anchor`, a heading of it; the
//! README stays short and names the test command CI runs; every metric
//! family the exporter serves is documented.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::*;
use fake_tts::{FakeEvent, FakeGateway};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn documents() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

/// GitHub's anchor of a heading: lower case, spaces to dashes, other
/// punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for l in text.lines() {
        if l.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && l.starts_with('#') {
            out.insert(slug(l.trim_start_matches('#').trim()));
        }
    }
    out
}

/// The targets of `](target)` links that are not URLs.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = &rest[..end];
        if !target.contains("://") && !target.starts_with("mailto:") {
            out.push(target.to_owned());
        }
        rest = &rest[end..];
    }
    out
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("\"Offline since\" beyond the server's 48 hours"),
        "offline-since-beyond-the-servers-48-hours"
    );
    assert_eq!(
        slug("Several keys and large fleets: /probe and shards"),
        "several-keys-and-large-fleets-probe-and-shards"
    );
}

#[test]
fn every_link_reaches_its_file_and_heading() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let dir = doc.parent().unwrap();
        for target in links(&text) {
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path: PathBuf = if file.is_empty() {
                doc.clone()
            } else {
                dir.join(file)
            };
            checked += 1;
            if !path.exists() {
                bad.push(format!("{}: {target}: no such file", doc.display()));
                continue;
            }
            if let Some(a) = anchor {
                let there = std::fs::read_to_string(&path).unwrap_or_default();
                if !anchors(&there).contains(a) {
                    bad.push(format!("{}: {target}: no such heading", doc.display()));
                }
            }
        }
    }
    assert!(checked >= 20, "{checked}");
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_readme_is_short_and_gives_the_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let n = readme.lines().count();
    assert!(n <= 200, "README.md has {n} lines; details go to docs/");
    // .ci/run runs the README's test command.
    assert!(readme.contains("cargo test --workspace --locked"));
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(ci.contains("\ncargo test --workspace --locked\n"));
    // The quick start comes first, the demo later.
    let quick = readme.find("## Quick start").unwrap();
    assert!(readme.find("cargo run --example demo").unwrap() > quick);
}

#[tokio::test]
async fn every_served_family_is_documented() {
    let fake = fake((0..12).map(FakeGateway::synthetic).collect()).await;
    let mut cfg = config(&fake.url());
    cfg.events = true;
    let exp = Exporter::start(cfg.clone()).await;
    let t = 1_700_000_000_000_000_000;
    let _events = exp
        .stream_events(
            &cfg,
            &fake,
            vec![
                FakeEvent::uplink("gw-000000", "u1", t, -100.0, 5.0, 7, 20),
                FakeEvent::tx_fail("gw-000000", "t2", t + 2, "TOO_LATE"),
                FakeEvent::schedule_fail("gw-000000", "s1", t + 3, "too_late", "duty_cycle"),
            ],
        )
        .await;
    let out = exp.scrape().await;
    exp.stop().await;
    let docs: String = ["docs/metrics.md", "docs/events.md"]
        .iter()
        .map(|p| std::fs::read_to_string(Path::new(&root()).join(p)).unwrap())
        .collect();
    let families: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(families.len() >= 40, "{families:?}");
    let missing: Vec<&&str> = families.iter().filter(|f| !documented(&docs, f)).collect();
    assert!(
        missing.is_empty(),
        "not in docs/metrics.md or docs/events.md: {missing:?}"
    );
}

/// `name` appears in the docs (alone, with its labels, or as a brace group
/// such as `ttn_gateway_round_trip_{min,median,max}_seconds`); the
/// standard process metrics as `process_*`.
fn documented(docs: &str, name: &str) -> bool {
    if docs.contains(&format!("`{name}`")) || docs.contains(&format!("`{name}{{")) {
        return true;
    }
    if name.starts_with("process_") {
        return docs.contains("`process_*`");
    }
    docs.split('`').any(|w| {
        let Some((head, rest)) = w.split_once('{') else {
            return false;
        };
        let Some((alts, tail)) = rest.split_once('}') else {
            return false;
        };
        alts.split(',').any(|a| format!("{head}{a}{tail}") == name)
    })
}

/// On The Things Network `api_url` stays eu1 (gateway lists come from its
/// Identity Server; nam1/au1 gateways are followed by their
/// `gateway_server_address`): no shipped document points it elsewhere.
#[test]
fn no_document_points_api_url_at_a_regional_cluster() {
    let mut files = documents();
    files.extend(
        [
            "packaging/README.Debian",
            "packaging/ttn-exporter.1",
            "packaging/config.toml",
        ]
        .map(|p| root().join(p)),
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            let l = line.to_ascii_lowercase();
            let sets_url = l.contains("api_url") || l.contains("--api-url");
            let regional = l.contains("nam1.cloud.thethings.network")
                || l.contains("au1.cloud.thethings.network");
            assert!(
                !(sets_url && regional),
                "{}: api_url at a regional cluster: {line}",
                f.display()
            );
        }
    }
}

/// Every source file, as `folder/file.rs` or `file.rs` under `src/`.
fn source_files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if p.is_dir() {
            source_files(&p, &format!("{prefix}{name}/"), out);
        } else if name.ends_with(".rs") {
            out.push(format!("{prefix}{name}"));
        }
    }
}

#[test]
fn the_layout_names_every_source_file_in_its_folder() {
    let dev = std::fs::read_to_string(root().join("docs/development.md")).unwrap();
    let tree = dev
        .split("## Layout")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .expect("docs/development.md: a Layout section with the src/ tree");
    // Each line of the tree names its folder (`name/`) first or continues
    // the folder above.
    let mut listed = BTreeSet::new();
    let mut folder = String::new();
    for line in tree.lines().skip(2) {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        let indent = line.len() - line.trim_start().len();
        if indent == 2 {
            folder = if first.ends_with('/') {
                first.to_owned()
            } else {
                String::new()
            };
            if !first.ends_with('/') {
                listed.insert(first.to_owned());
            }
        }
        for w in line.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')') {
            if w.ends_with(".rs") && !(indent == 2 && w == first) {
                listed.insert(format!("{folder}{w}"));
            }
        }
    }
    let mut files = Vec::new();
    source_files(&root().join("src"), "", &mut files);
    files.sort();
    let missing: Vec<_> = files.iter().filter(|f| !listed.contains(*f)).collect();
    let stale: Vec<_> = listed.iter().filter(|l| !files.contains(l)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/development.md Layout: missing {missing:?}, names files that are gone {stale:?}"
    );
}
