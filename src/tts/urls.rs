//! URLs of the API: `<base>/api/v3/<path>`, the cluster that serves a
//! gateway's stats, and a base URL fit for a log line.

use url::Url;

pub(super) fn redact_url(u: &Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// `<base>/api/v3/<path>?<query>`.
pub(super) fn join(base: &Url, path: &str, query: &[(&str, &str)]) -> Url {
    let mut u = base.clone();
    let prefix = base.path().trim_end_matches('/');
    u.set_path(&format!("{prefix}/api/v3/{path}"));
    if query.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(query);
    }
    u
}

/// Which base URL serves a gateway's stats. On The Things Network and The
/// Things Industries cloud, Gateway Servers are regional: a gateway whose
/// `gateway_server_address` names another cluster of the same cloud is
/// asked there. Anywhere else (self-hosted, tests) everything goes to `api`.
pub fn stats_base(api: &Url, gateway_server_address: Option<&str>) -> Url {
    const CLOUDS: [&str; 2] = [".cloud.thethings.network", ".cloud.thethings.industries"];
    let Some(api_host) = api.host_str() else {
        return api.clone();
    };
    let Some(addr) = gateway_server_address else {
        return api.clone();
    };
    // The address may carry a scheme or a port: keep the host.
    let addr = addr.split("://").last().unwrap_or(addr);
    let host = addr
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let same_cloud = CLOUDS
        .iter()
        .any(|c| api_host.ends_with(c) && host.ends_with(c));
    if host.is_empty() || host == api_host || !same_cloud || api.scheme() != "https" {
        return api.clone();
    }
    let mut u = api.clone();
    if u.set_host(Some(&host)).is_err() {
        return api.clone();
    }
    let _ = u.set_port(None);
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_builds_api_paths() {
        let b = Url::parse("http://127.0.0.1:1885/").unwrap();
        assert_eq!(
            join(&b, "gateways", &[("limit", "1000"), ("page", "2")]).as_str(),
            "http://127.0.0.1:1885/api/v3/gateways?limit=1000&page=2"
        );
        let b = Url::parse("https://tts.example/prefix").unwrap();
        assert_eq!(
            join(&b, "gs/gateways/gw-1/connection/stats", &[]).as_str(),
            "https://tts.example/prefix/api/v3/gs/gateways/gw-1/connection/stats"
        );
    }

    #[test]
    fn stats_go_to_the_gateways_cluster_on_the_cloud_only() {
        let eu1 = Url::parse("https://eu1.cloud.thethings.network").unwrap();
        assert_eq!(
            stats_base(&eu1, Some("nam1.cloud.thethings.network")).as_str(),
            "https://nam1.cloud.thethings.network/"
        );
        assert_eq!(
            stats_base(&eu1, Some("au1.cloud.thethings.network:1700")).as_str(),
            "https://au1.cloud.thethings.network/"
        );
        assert_eq!(stats_base(&eu1, Some("eu1.cloud.thethings.network")), eu1);
        assert_eq!(stats_base(&eu1, None), eu1);
        assert_eq!(stats_base(&eu1, Some("evil.example.com")), eu1);
        let own = Url::parse("http://127.0.0.1:1885").unwrap();
        assert_eq!(stats_base(&own, Some("eu1.cloud.thethings.network")), own);
    }
}
