//! HTTP basic auth against bcrypt hashes (the `basic_auth_users` of a web
//! config file), bounded so that wrong passwords cannot eat the CPU:
//!
//! - one bcrypt verification runs at a time, and the permit is held by the
//!   blocking task itself, so a client that hangs up does not free it early;
//! - at most [`MAX_QUEUED`] requests wait for a verification, and at most
//!   [`MAX_QUEUED_PER_CLIENT`] of them from one client address (an IPv6
//!   client by its /64); more are
//!   refused at once (401) without hashing, so a wrong-password flood from
//!   one address cannot lock out the others (the verifications run in
//!   arrival order: a login from elsewhere waits behind at most
//!   `MAX_QUEUED - 1` of them);
//! - an unknown user is verified against the hash of a real user, chosen
//!   per user name by a keyed hash (fixed for the process, secret, weighted
//!   by how many users have each cost), so an unknown name always costs
//!   what one of the real users costs and the answer time does not tell
//!   which users exist, whatever the mix of bcrypt costs;
//! - a verified `Authorization` value is remembered (a scraper sends the same
//!   header every time), so only new or wrong credentials pay for bcrypt.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use tokio::sync::Semaphore;

use super::limits::{ClientSlot, PerClient};

/// Requests waiting for (or running) a bcrypt verification at most.
pub const MAX_QUEUED: usize = 8;
/// Of those, requests from one client address at most.
pub const MAX_QUEUED_PER_CLIENT: usize = 2;
/// Remembered accepted header values at most (then the memory is reset).
const ACCEPTED_MAX: usize = 64;
/// Highest bcrypt cost accepted (each step doubles the time).
const MAX_COST: u32 = 16;

/// User names to bcrypt hashes, as in the file; a name given twice is an
/// error (a YAML mapping would otherwise keep one of them silently).
#[derive(Debug, Default)]
pub struct Users(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Users {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Users, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Users;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of user names to bcrypt hashes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Users, A::Error> {
                let mut users = BTreeMap::new();
                while let Some((user, hash)) = map.next_entry::<String, String>()? {
                    if users.contains_key(&user) {
                        return Err(serde::de::Error::custom(format!(
                            "user `{}` is listed twice",
                            user.escape_default()
                        )));
                    }
                    users.insert(user, hash);
                }
                Ok(Users(users))
            }
        }
        d.deserialize_map(V)
    }
}

/// Basic auth for every request.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// The hashes in user order (with their cost), one of which an unknown
    /// user is verified against.
    dummies: Vec<(u32, String)>,
    /// Keys the choice of dummy per unknown user name (random per process).
    dummy_key: std::collections::hash_map::RandomState,
    /// Requests queued per client address ([`client_key`]).
    per_client: PerClient,
    /// bcrypt verifications done, by cost (for tests and diagnostics).
    rounds: Arc<Mutex<BTreeMap<u32, u64>>>,
    accepted: Mutex<HashSet<String>>,
    /// bcrypt checks at once.
    verifying: Arc<Semaphore>,
    /// Requests waiting for or running a check.
    queued: Arc<Semaphore>,
    /// Verifications running now, and the most ever at once.
    running: Arc<(AtomicUsize, AtomicUsize)>,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.len())
            .finish()
    }
}

/// Why `basic_auth_users` was refused; one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsersError {
    /// An empty name, or one with `:` or control characters (shown escaped).
    #[error("user name `{0}` must be non-empty, without ':' or control characters")]
    BadName(String),
    /// The password of the user (shown escaped) is not a bcrypt hash.
    #[error(
        "the password of `{0}` is not a complete bcrypt hash; make one with: htpasswd -nBC 10 {0}"
    )]
    NotBcrypt(String),
    /// The hash's cost is out of range.
    #[error(
        "the bcrypt cost of `{user}` is {cost}; use 4 to {MAX_COST} (htpasswd -nBC 10 {user})"
    )]
    Cost {
        /// The user (shown escaped).
        user: String,
        /// The hash's cost.
        cost: u32,
    },
    /// No users listed.
    #[error("basic_auth_users is empty; list users, or remove the key to turn basic auth off")]
    Empty,
}

impl BasicAuth {
    /// Validate the users: at least one, names without `:`, each hash a
    /// complete bcrypt hash (`$2a$`, `$2b$` or `$2y$`, cost 4 to 16).
    pub fn new(users: Users) -> Result<BasicAuth, UsersError> {
        let users = users.0;
        let mut dummies = Vec::with_capacity(users.len());
        for (user, hash) in &users {
            let shown = || user.escape_default().to_string();
            if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
                return Err(UsersError::BadName(shown()));
            }
            let parts = hash
                .parse::<bcrypt::HashParts>()
                .ok()
                .filter(|_| ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)));
            let Some(parts) = parts else {
                return Err(UsersError::NotBcrypt(shown()));
            };
            let cost = parts.get_cost();
            if !(4..=MAX_COST).contains(&cost) {
                return Err(UsersError::Cost {
                    user: shown(),
                    cost,
                });
            }
            dummies.push((cost, hash.clone()));
        }
        if dummies.is_empty() {
            return Err(UsersError::Empty);
        }
        Ok(BasicAuth {
            dummies,
            dummy_key: std::collections::hash_map::RandomState::new(),
            per_client: PerClient::default(),
            rounds: Arc::default(),
            users,
            accepted: Mutex::new(HashSet::new()),
            verifying: Arc::new(Semaphore::new(1)),
            queued: Arc::new(Semaphore::new(MAX_QUEUED)),
            running: Arc::default(),
        })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Never true: [`BasicAuth::new`] refuses an empty list.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// True when `authorization` (the header value) names a user whose
    /// bcrypt hash matches the password. `client` is the peer's address,
    /// for the per-client share of the queue.
    pub async fn check(self: &Arc<Self>, authorization: Option<&str>, client: IpAddr) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        if self.lock().contains(value) {
            return true;
        }
        let Some((user, password)) = decode(value) else {
            return false;
        };
        let (known, (cost, hash)) = match self.users.get(&user) {
            Some(h) => (true, (cost_of(h), h.clone())),
            None => (false, self.dummy_for(&user).clone()),
        };
        let Some(slot) = queue_slot(&self.per_client, client) else {
            tracing::debug!(%client, "too many basic auth checks waiting from this address; refusing without one");
            return false;
        };
        let Ok(queued) = self.queued.clone().try_acquire_owned() else {
            tracing::debug!("too many basic auth checks waiting; refusing without one");
            return false;
        };
        let Ok(permit) = self.verifying.clone().acquire_owned().await else {
            return false;
        };
        // The permits move into the blocking task: they are released when
        // bcrypt is done, not when this request's future is dropped.
        let running = self.running.clone();
        let rounds = self.rounds.clone();
        let verified = tokio::task::spawn_blocking(move || {
            let now = running.0.fetch_add(1, Ordering::SeqCst) + 1;
            running.1.fetch_max(now, Ordering::SeqCst);
            let ok = bcrypt::verify(password, &hash).unwrap_or(false);
            running.0.fetch_sub(1, Ordering::SeqCst);
            *rounds
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(cost)
                .or_default() += 1;
            drop(permit);
            drop(queued);
            drop(slot);
            ok
        })
        .await
        .unwrap_or(false);
        let ok = known && verified;
        if ok {
            let mut accepted = self.lock();
            if accepted.len() >= ACCEPTED_MAX {
                accepted.clear();
            }
            accepted.insert(value.to_owned());
        }
        ok
    }

    /// The cost and hash an unknown `user` is verified against: the same
    /// for every request naming it, one of the real users' (each user as
    /// likely as another, so each cost as likely as its share of users).
    fn dummy_for(&self, user: &str) -> &(u32, String) {
        let i = self.dummy_key.hash_one(user) % self.dummies.len() as u64;
        // `i` < len, and `new` refuses an empty list.
        &self.dummies[usize::try_from(i).unwrap_or(0)]
    }

    /// The bcrypt cost an unknown `user` is checked at (for tests).
    pub fn dummy_cost(&self, user: &str) -> u32 {
        self.dummy_for(user).0
    }

    /// bcrypt verifications done so far, by cost (for tests and
    /// diagnostics).
    pub fn verifications_by_cost(&self) -> BTreeMap<u32, u64> {
        self.rounds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Checks running or waiting now (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        MAX_QUEUED - self.queued.available_permits()
    }

    /// The most bcrypt verifications that ever ran at once (for tests).
    pub fn peak_verifications(&self) -> usize {
        self.running.1.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.accepted.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The cost of a hash that [`BasicAuth::new`] validated.
fn cost_of(hash: &str) -> u32 {
    hash.parse::<bcrypt::HashParts>()
        .map_or(MAX_COST, |p| p.get_cost())
}

/// The address a share of the queue belongs to: IPv4 as is, IPv6 by its
/// /64 (one host usually has a whole /64 to pick addresses from).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !((1u128 << 64) - 1),
        )),
        v4 => v4,
    }
}

/// A slot of the queue for `ip`'s [`client_key`], unless it holds
/// [`MAX_QUEUED_PER_CLIENT`] already; given back on drop.
fn queue_slot(per_client: &PerClient, ip: IpAddr) -> Option<ClientSlot> {
    per_client.take(client_key(ip), MAX_QUEUED_PER_CLIENT)
}

/// `Basic base64(user:password)` into its parts.
fn decode(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let pair = String::from_utf8(decoded).ok()?;
    let (user, password) = pair.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn users(pairs: &[(&str, &str)]) -> Users {
        Users(
            pairs
                .iter()
                .map(|(u, h)| (u.to_string(), h.to_string()))
                .collect(),
        )
    }

    #[test]
    fn hashes_are_validated_fully() {
        let good = bcrypt::hash("pw", 4).expect("hash");
        assert!(BasicAuth::new(users(&[("p", &good)])).is_ok());
        for bad in ["$2y$10$short", "plaintext", &good.replace("$2b$", "$2x$")] {
            let msg = BasicAuth::new(users(&[("p", bad)]))
                .expect_err(bad)
                .to_string();
            assert!(msg.contains("not a complete bcrypt hash"), "{msg}");
        }
        let msg = BasicAuth::new(users(&[])).expect_err("empty").to_string();
        assert!(msg.contains("basic_auth_users is empty"), "{msg}");
    }

    #[test]
    fn duplicate_users_are_refused() {
        let e = serde_yaml_ng::from_str::<Users>("a: x\nb: y\na: z\n").expect_err("dup");
        assert!(e.to_string().contains("user `a` is listed twice"), "{e}");
    }

    /// Timing must not reveal users: an unknown user costs a bcrypt check
    /// (against the costliest real hash) just like a wrong password.
    #[tokio::test]
    async fn unknown_users_cost_a_verification_too() {
        let hash = bcrypt::hash("right", 4).expect("hash");
        let auth = Arc::new(BasicAuth::new(users(&[("p", &hash)])).expect("valid"));
        let header = |pair: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        };
        assert!(!auth.check(Some(&header("nobody:right")), LOCAL).await);
        assert_eq!(
            auth.peak_verifications(),
            1,
            "no bcrypt for an unknown user"
        );
        assert!(auth.check(Some(&header("p:right")), LOCAL).await);
    }

    fn header(pair: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// Issue 21 item 3: with users at cost 4 and 12, an unknown user was
    /// checked at 12 and answered 150 times slower than a wrong password
    /// of the cost-4 user. Now each unknown name is checked at the cost of
    /// one real user, the same every time, each cost as often as its users.
    #[test]
    fn an_unknown_user_costs_what_one_of_the_real_users_costs() {
        let (c4, c12) = (
            bcrypt::hash("x", 4).expect("hash"),
            "$2y$12$".to_owned() + &bcrypt::hash("x", 4).expect("hash")[7..],
        );
        let auth = BasicAuth::new(users(&[("a", &c4), ("b", &c4), ("c", &c12)])).expect("valid");
        let mut at = BTreeMap::<u32, usize>::new();
        for i in 0..600 {
            let name = format!("nobody-{i}");
            let cost = auth.dummy_cost(&name);
            assert_eq!(cost, auth.dummy_cost(&name), "the same name, the same cost");
            *at.entry(cost).or_default() += 1;
        }
        assert_eq!(at.keys().copied().collect::<Vec<_>>(), [4, 12], "{at:?}");
        // Two users of three have cost 4: so do about two unknown names of three.
        assert!((300..500).contains(&at[&4]), "{at:?}");
    }

    /// The check itself runs at the chosen cost (counted per cost).
    #[tokio::test]
    async fn the_dummy_check_runs_at_the_chosen_cost() {
        let (c4, c5) = (
            bcrypt::hash("x", 4).expect("hash"),
            bcrypt::hash("x", 5).expect("hash"),
        );
        let auth = Arc::new(BasicAuth::new(users(&[("four", &c4), ("five", &c5)])).expect("valid"));
        let name = |cost| {
            (0..)
                .map(|i| format!("nobody-{i}"))
                .find(|n| auth.dummy_cost(n) == cost)
                .expect("some name")
        };
        let (n4, n5) = (name(4), name(5));
        assert!(!auth.check(Some(&header(&format!("{n5}:x"))), LOCAL).await);
        assert_eq!(auth.verifications_by_cost(), BTreeMap::from([(5, 1)]));
        assert!(!auth.check(Some(&header(&format!("{n4}:x"))), LOCAL).await);
        assert!(!auth.check(Some(&header("four:wrong")), LOCAL).await);
        assert!(auth.check(Some(&header("five:x")), LOCAL).await);
        assert_eq!(
            auth.verifications_by_cost(),
            BTreeMap::from([(4, 2), (5, 2)])
        );
    }

    #[test]
    fn ipv6_clients_share_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::7".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let map = PerClient::default();
        let _held = [queue_slot(&map, a), queue_slot(&map, b)];
        assert!(queue_slot(&map, a).is_none());
        assert!(queue_slot(&map, c).is_some());
        assert!(queue_slot(&map, LOCAL).is_some());
    }

    /// Issue 21 item 1: one address holds at most its share of the queue;
    /// a login from another address is verified while it floods.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_address_cannot_take_every_slot() {
        let hash = bcrypt::hash("right", 8).expect("hash");
        let auth = Arc::new(BasicAuth::new(users(&[("p", &hash)])).expect("valid"));
        let flooder: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (a, stop) = (auth.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    assert!(!a.check(Some(&header("p:wrong")), flooder).await);
                    tokio::task::yield_now().await;
                }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            auth.in_flight() <= MAX_QUEUED_PER_CLIENT,
            "{}",
            auth.in_flight()
        );
        for i in 0..5 {
            // A new header value each time (trailing spaces), so none is
            // answered from memory: each needs a verification.
            let h = format!("{}{}", header("p:right"), " ".repeat(i));
            assert!(
                auth.check(Some(&h), other).await,
                "login {i} refused during the flood"
            );
        }
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.expect("flood task");
        }
        assert!(auth.verifications_by_cost()[&8] > 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropped_requests_keep_the_bound() {
        let hash = bcrypt::hash("right", 10).expect("hash");
        let auth = Arc::new(BasicAuth::new(users(&[("p", &hash)])).expect("valid"));
        let wrong = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("p:wrong")
        );
        // Start many checks and drop them at once, like clients that hang
        // up: the verification already running keeps its permit.
        for _ in 0..20 {
            let a = auth.clone();
            let w = wrong.clone();
            let h = tokio::spawn(async move { a.check(Some(&w), LOCAL).await });
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            h.abort();
        }
        // Let what was started finish.
        while auth.in_flight() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(auth.peak_verifications(), 1);
        // Flood: at most MAX_QUEUED wait; the rest are refused at once.
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let a = auth.clone();
            let w = wrong.clone();
            tasks.push(tokio::spawn(async move { a.check(Some(&w), LOCAL).await }));
        }
        tokio::task::yield_now().await;
        assert!(auth.in_flight() <= MAX_QUEUED);
        for t in tasks {
            assert!(!t.await.expect("task"));
        }
    }
}
