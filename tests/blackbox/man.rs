//! One source for the options: the man page's OPTIONS are generated from
//! the clap definitions (with the defaults and ranges `--help` shows) by
//! clap_mangen, and checked in; this test fails when they drift.
//! `UPDATE_MAN_PAGE=1 cargo test --test blackbox man::` rewrites them.
//! The shipped `config.toml` parses, and every key in it, the clap flags
//! and the options tables (docs/configuration.md, and README.md's if it
//! has one) name the same options.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use figment::providers::Format;

const BEGIN: &str = ".\\\" BEGIN GENERATED OPTIONS (tests/blackbox/man.rs; do not edit)\n";
const END: &str = ".\\\" END GENERATED OPTIONS\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The OPTIONS items clap_mangen renders from the clap command, without
/// its section heading.
fn generated_options() -> String {
    let man = clap_mangen::Man::new(ttn_exporter::cli::command());
    let mut out = Vec::new();
    man.render_options_section(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    // The heading is the page's own, above the markers.
    let body = text.replacen(".SH OPTIONS\n", "", 1);
    assert!(body.contains("cache\\-ttl"), "{body}");
    body
}

#[test]
fn the_man_page_options_are_generated_from_the_clap_definitions() {
    let path = root().join("packaging/ttn-exporter.1");
    let page = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = page
        .split_once(BEGIN)
        .expect("BEGIN marker in the man page");
    let (current, tail) = rest.split_once(END).expect("END marker in the man page");
    let want = generated_options();
    if current != want {
        if std::env::var_os("UPDATE_MAN_PAGE").is_some() {
            std::fs::write(&path, format!("{head}{BEGIN}{want}{END}{tail}")).unwrap();
        } else {
            panic!(
                "packaging/ttn-exporter.1's OPTIONS are out of date with the clap definitions; \
                 run UPDATE_MAN_PAGE=1 cargo test --test blackbox man:: and commit the result"
            );
        }
    }
}

/// The long flags of the clap command, as config keys (`cache-ttl` ->
/// `cache_ttl`), without those that are no config keys.
fn flag_keys() -> BTreeSet<String> {
    ttn_exporter::cli::command()
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| !["config", "log-format", "help", "version"].contains(l))
        .map(|l| l.replace('-', "_"))
        .collect()
}

/// The first-column keys of the markdown table whose header's first cell
/// is `key`: `` `a` `` and `` `a` / `b` `` give a and b; `[targets.NAME]`
/// gives `targets`.
fn table_keys(markdown: &str) -> Option<BTreeSet<String>> {
    let mut lines = markdown.lines().skip_while(|l| {
        !l.trim_start()
            .strip_prefix('|')
            .is_some_and(|r| r.split('|').next().is_some_and(|c| c.trim() == "key"))
    });
    lines.next()?;
    let mut keys = BTreeSet::new();
    for l in lines.skip(1) {
        let Some(row) = l.trim_start().strip_prefix('|') else {
            break;
        };
        let cell = row.split('|').next().unwrap_or("");
        for part in cell.split('/') {
            let k = part.trim().trim_matches('`');
            let k = k.strip_prefix("[targets.").map_or(k, |_| "targets");
            if !k.is_empty() {
                keys.insert(k.to_owned());
            }
        }
    }
    Some(keys)
}

/// The top-level keys of a TOML text, commented out (`# key = ...`) or
/// not, and `[targets.NAME]` tables as `targets`.
fn config_keys(toml: &str) -> BTreeSet<String> {
    toml.lines()
        .filter_map(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            if l.starts_with("[targets.") {
                return Some("targets".to_owned());
            }
            let (k, _) = l.split_once(" = ")?;
            let ok = !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            ok.then(|| k.to_owned())
        })
        .collect()
}

#[test]
fn the_shipped_config_parses_and_every_option_is_documented_once_everywhere() {
    // It parses as it is shipped (everything commented) and with every
    // top-level example line switched on.
    let shipped = root().join("packaging/config.toml");
    let env = ttn_exporter::config::environment::Environment {
        vars: vec![(
            "TTN_EXPORTER_API_KEY".into(),
            "NNSXS.FAKE-TEST-KEY.NOT-A-SECRET".into(),
        )],
    };
    let load =
        |p: &Path| ttn_exporter::config::load(Some(p), &Default::default(), &env).map(|_| ());
    load(&shipped).unwrap_or_else(|e| panic!("shipped config.toml: {e}"));
    let text = read("packaging/config.toml");
    // Every top-level line shows the default, or its comment says it is
    // an example; switched on (all but the other scopes and the web config
    // file, which must exist), they parse.
    let defaults = serde_json::to_value(ttn_exporter::config::RawConfig::default()).unwrap();
    let mut on = String::new();
    let mut comment = String::new();
    for line in text.lines().take_while(|l| !l.starts_with("#[targets.")) {
        let Some(setting) = line.strip_prefix('#').filter(|l| l.contains(" = ")) else {
            comment = if line.starts_with("# ") {
                line.to_owned()
            } else {
                String::new()
            };
            continue;
        };
        let (key, value) = setting.split_once(" = ").unwrap();
        let shown: serde_json::Value =
            figment::Figment::from(figment::providers::Toml::string(&format!("v = {value}")))
                .extract_inner("v")
                .unwrap();
        let default = &defaults[key];
        let is_default = &shown == default
            || default.as_str().is_some_and(|d| {
                humantime::parse_duration(d).ok()
                    == shown
                        .as_str()
                        .and_then(|s| humantime::parse_duration(s).ok())
            });
        assert!(
            is_default || comment.ends_with("Example:") || key == "user",
            "config.toml: {key} = {value} is not the default ({default}) and not marked Example:"
        );
        if !["organization", "user", "web_config_file"].contains(&key) {
            on.push_str(setting);
            on.push('\n');
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("config.toml");
    std::fs::write(&all, &on).unwrap();
    load(&all).unwrap_or_else(|e| panic!("config.toml with its lines on: {e}\n{on}"));
    let flags = flag_keys();
    let mut in_config = config_keys(&text);
    // `targets` is a table of its own, with no flag.
    assert!(
        in_config.remove("targets"),
        "config.toml shows no [targets.NAME]"
    );
    assert_eq!(in_config, flags, "config.toml keys vs the clap flags");
    let mut documented = table_keys(&read("docs/configuration.md")).expect("options table");
    assert!(documented.remove("targets"));
    assert_eq!(
        documented, flags,
        "docs/configuration.md's table vs the clap flags"
    );
    if let Some(mut readme) = table_keys(&read("README.md")) {
        readme.remove("targets");
        assert_eq!(readme, flags, "README.md's options table vs the clap flags");
    }
    let page = read("packaging/ttn-exporter.1");
    for k in &flags {
        let flag = format!("\\-\\-{}", k.replace('_', "\\-"));
        assert!(page.contains(&flag), "man page lacks {flag}");
    }
}

/// docs/configuration.md's options table gives each count option the range
/// the check uses (`ttn_exporter::config::COUNTS`), as `--help` does.
#[test]
fn the_options_table_shows_the_count_ranges() {
    let doc = read("docs/configuration.md");
    for (key, range) in ttn_exporter::config::COUNTS {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for {key}"));
        let want = format!("({})", ttn_exporter::config::range_text(range));
        assert!(row.contains(&want), "{key}: want {want} in {row}");
    }
}
