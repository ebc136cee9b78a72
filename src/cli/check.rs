//! The `check` command: one round trip to the API with the configured key
//! (and one per named target), a summary on stdout, an error if the
//! exporter could not work. The command-line side; it serves nothing.

use anyhow::Context;

use crate::cache::Source;
use crate::config::{Config, Target};
use crate::metrics::self_metrics::SelfMetrics;
use crate::tts;

/// `ttn-exporter check`: one round trip, a summary on stdout.
pub async fn check(config: Config) -> anyhow::Result<()> {
    let own = SelfMetrics::new().context("cannot register metrics")?;
    let client = Source::from_config(&config, &own)?.client;
    println!(
        "config: {}",
        config
            .config_file
            .as_ref()
            .map_or("defaults (no config file)".to_owned(), |p| p
                .display()
                .to_string())
    );
    println!("api: {}", config.api_url);
    println!("key: from {}", config.api_key_source);
    let traffic = match client.auth_info_and_traffic().await {
        Ok((info, traffic, missing)) => {
            println!("key accepted ({info})");
            for r in &missing {
                println!(
                    "the key lacks \"{}\" ({}): {}",
                    r.console, r.names[0], r.lost
                );
            }
            Some(traffic)
        }
        // Gateway-scoped keys may not read auth_info; the fetch decides.
        Err(tts::Error::Status { status: 403, .. }) => None,
        Err(e) => anyhow::bail!("{e}"),
    };
    let fetched = client.fetch_counted(&config.scope).await?;
    let gateways = fetched.gateways;
    let connected = gateways.iter().filter(|g| g.is_connected()).count();
    println!("{} gateways, {connected} connected", gateways.len());
    let refused: Vec<&str> = gateways
        .iter()
        .filter(|g| g.stats_refused)
        .map(|g| g.id.as_str())
        .collect();
    if !refused.is_empty() {
        let shown = refused[..refused.len().min(20)].join(", ");
        let more = refused.len().saturating_sub(20);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        println!(
            "the key lacks \"View gateway status\" on {} gateway(s), exported without status: {shown}{tail}",
            refused.len()
        );
    }
    traffic_line(config.events, traffic)?;
    targets(&config.targets).await?;
    if !fetched.not_found.is_empty() {
        anyhow::bail!(
            "{} gateway ID(s) of `gateways` not found in the registry: {}; correct or remove them",
            fetched.not_found.len(),
            fetched.not_found.join(", ")
        );
    }
    Ok(())
}

/// Whether the key may read gateway traffic, from `/auth_info` (the events
/// stream needs it).
fn traffic_line(events: bool, traffic: Option<bool>) -> anyhow::Result<()> {
    let on = if events { "on" } else { "off" };
    match traffic {
        Some(true) => println!("events ({on}): the key can read gateway traffic"),
        Some(false) if events => anyhow::bail!(
            "events is on but the key lacks \"Read gateway traffic\" (RIGHT_GATEWAY_TRAFFIC_READ): radio metrics would stay empty; add the right or set events = false"
        ),
        Some(false) => println!(
            "events ({on}): the key cannot read gateway traffic (no RIGHT_GATEWAY_TRAFFIC_READ)"
        ),
        None => println!(
            "events ({on}): unknown whether the key can read gateway traffic (it may not read auth_info)"
        ),
    }
    Ok(())
}

/// `ttn-exporter check` for the named targets: one round trip each, a line
/// each on stdout; an error naming the targets that failed. Each target has
/// the daemon's deadline for a refresh, its `refresh_timeout`.
pub async fn targets(targets: &[Target]) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for t in targets {
        let c = &t.config;
        let own = SelfMetrics::for_target()?;
        let client = Source::from_config(c, &own)?.client;
        let fetched = tokio::time::timeout(c.refresh_timeout, client.fetch(&c.scope)).await;
        let fetched = match fetched {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "the refresh did not finish within {}s (refresh_timeout); check the API or raise refresh_timeout",
                c.refresh_timeout.as_secs_f64()
            )),
        };
        match fetched {
            Ok(gateways) => {
                let connected = gateways.iter().filter(|g| g.is_connected()).count();
                println!(
                    "target {}: {} (key from {}): {} gateways, {connected} connected",
                    t.name,
                    c.api_url,
                    c.api_key_source,
                    gateways.len()
                );
            }
            Err(e) => {
                println!(
                    "target {}: {} (key from {}): FAILED: {e}",
                    t.name, c.api_url, c.api_key_source
                );
                failed.push(t.name.as_str());
            }
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("target(s) failed: {}", failed.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::config;

    #[tokio::test]
    async fn check_reads_at_most_max_gateways() {
        let fleet = ["gw-1", "gw-2"].map(fake_tts::FakeGateway::new).to_vec();
        let fake = fake_tts::FakeTts::start(fleet).await;
        let mut c = config("");
        c.api_url = fake.url().parse().unwrap();
        c.api_key = crate::config::ApiKey::parse(fake_tts::DEFAULT_KEY).unwrap();
        c.max_gateways = 1;
        let e = check(c).await.unwrap_err().to_string();
        assert!(e.contains("more than 1 gateways (max_gateways)"), "{e}");
    }

    #[tokio::test]
    async fn check_names_listed_ids_the_registry_does_not_know() {
        let fake = fake_tts::FakeTts::start(vec![fake_tts::FakeGateway::new("gw-1")]).await;
        let mut c = config("gateways = [\"gw-1\", \"gw-typo\"]\n");
        c.api_url = fake.url().parse().unwrap();
        c.api_key = crate::config::ApiKey::parse(fake_tts::DEFAULT_KEY).unwrap();
        let e = check(c).await.unwrap_err().to_string();
        assert!(
            e.contains("1 gateway ID(s) of `gateways` not found in the registry: gw-typo"),
            "{e}"
        );
    }
}
