//! Real Prometheus servers (Debian's `prometheus`) with the shipped
//! `packaging/prometheus/` configs: two split the shards of a 400-gateway
//! fake between them, a third probes two named targets.

use std::collections::BTreeSet;

use crate::common::probe::*;
use crate::prometheus_server::Prometheus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus (apt install prometheus)"]
async fn prometheus_servers_split_shards_and_probe_targets() {
    let (_fake, exp) = acme_and_beta(fake_tts::synthetic_fleet(400), &[]).await;
    let addr = exp.addr.to_string();
    let keep = |n: &'static str| {
        move |t: String| {
            assert_eq!(t.matches("regex: '0'").count(), 1);
            t.replace("regex: '0'", &format!("regex: '{n}'"))
        }
    };
    let first = Prometheus::shipped("sharded.yml", &addr, keep("0"));
    let second = Prometheus::shipped("sharded.yml", &addr, keep("1"));
    let third = Prometheus::shipped("probe.yml", &addr, |t| t);

    let q = "ttn_gateway_info{job=\"ttn_sharded\"}";
    let a = first.gateways(q, 150).await;
    let b = second.gateways(q, 150).await;
    // Let a few more scrapes land, then compare complete sets.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let a2 = first.gateways(q, 0).await;
    let b2 = second.gateways(q, 0).await;
    assert_eq!(
        (a.len(), b.len()),
        (a2.len(), b2.len()),
        "sets still growing"
    );
    assert!(a2.is_disjoint(&b2), "servers share gateways");
    let all: BTreeSet<String> = (0..400).map(|i| format!("gw-{i:06}")).collect();
    assert_eq!(&a2 | &b2, all);
    // Each server holds two of the four shard targets, each with health.
    let up = "ttn_up{job=\"ttn_sharded\"} == 1";
    let s0 = first.labels(up, "shard").await.unwrap();
    let s1 = second.labels(up, "shard").await.unwrap();
    assert_eq!(s0, ["0", "2"].map(String::from).into());
    assert_eq!(s1, ["1", "3"].map(String::from).into());

    let acme = third
        .gateways("ttn_gateway_info{target=\"acme\"}", 133)
        .await;
    let want: BTreeSet<String> = (0..400)
        .filter(|i| i % 3 == 2)
        .map(|i| format!("gw-{i:06}"))
        .collect();
    assert_eq!(acme, want);
    let beta = third.gateways("ttn_gateway_info{target=\"beta\"}", 2).await;
    assert_eq!(beta, ["gw-000000", "gw-000001"].map(String::from).into());
    let ups = third
        .labels("ttn_up{job=\"ttn_probe\"} == 1", "instance")
        .await
        .unwrap();
    assert_eq!(ups, ["acme", "beta"].map(String::from).into());
    drop((first, second, third));
    exp.stop().await;
}
