//! HTTP basic auth against bcrypt hashes (the `basic_auth_users` of a web
//! config file), bounded so that wrong passwords cannot eat the CPU:
//!
//! - one bcrypt verification runs at a time, and the permit is held by the
//!   blocking task itself, so a client that hangs up does not free it early;
//! - at most [`MAX_QUEUED`] requests wait for a verification; more are
//!   refused at once (401) without hashing;
//! - an unknown user is verified against a hash of the same cost as a real
//!   one, so the answer time does not tell which users exist;
//! - a verified `Authorization` value is remembered (a scraper sends the same
//!   header every time), so only new or wrong credentials pay for bcrypt.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use tokio::sync::Semaphore;

/// Requests waiting for (or running) a bcrypt verification at most.
pub const MAX_QUEUED: usize = 8;
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
    /// Verified for unknown users: the costliest of the real hashes.
    dummy: String,
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

impl BasicAuth {
    /// Validate the users: at least one, names without `:`, each hash a
    /// complete bcrypt hash (`$2a$`, `$2b$` or `$2y$`, cost 4 to 16).
    pub fn new(users: Users) -> Result<BasicAuth, String> {
        let users = users.0;
        let mut dummy: Option<(u32, &String)> = None;
        for (user, hash) in &users {
            let shown = user.escape_default();
            if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
                return Err(format!(
                    "user name `{shown}` must be non-empty, without ':' or control characters"
                ));
            }
            let parts = hash
                .parse::<bcrypt::HashParts>()
                .ok()
                .filter(|_| ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)));
            let Some(parts) = parts else {
                return Err(format!(
                    "the password of `{shown}` is not a complete bcrypt hash; make one with: htpasswd -nBC 10 {shown}"
                ));
            };
            let cost = parts.get_cost();
            if !(4..=MAX_COST).contains(&cost) {
                return Err(format!(
                    "the bcrypt cost of `{shown}` is {cost}; use 4 to {MAX_COST} (htpasswd -nBC 10 {shown})"
                ));
            }
            if dummy.map_or(true, |(c, _)| cost > c) {
                dummy = Some((cost, hash));
            }
        }
        let Some((_, dummy)) = dummy else {
            return Err(
                "basic_auth_users is empty; list users, or remove the key to turn basic auth off"
                    .to_owned(),
            );
        };
        Ok(BasicAuth {
            dummy: dummy.clone(),
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
    /// bcrypt hash matches the password.
    pub async fn check(self: &Arc<Self>, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        if self.lock().contains(value) {
            return true;
        }
        let Some((user, password)) = decode(value) else {
            return false;
        };
        let (known, hash) = match self.users.get(&user) {
            Some(h) => (true, h.clone()),
            None => (false, self.dummy.clone()),
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
        let verified = tokio::task::spawn_blocking(move || {
            let now = running.0.fetch_add(1, Ordering::SeqCst) + 1;
            running.1.fetch_max(now, Ordering::SeqCst);
            let ok = bcrypt::verify(password, &hash).unwrap_or(false);
            running.0.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            drop(queued);
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
            let msg = BasicAuth::new(users(&[("p", bad)])).expect_err(bad);
            assert!(msg.contains("not a complete bcrypt hash"), "{msg}");
        }
        let msg = BasicAuth::new(users(&[])).expect_err("empty");
        assert!(msg.contains("basic_auth_users is empty"), "{msg}");
    }

    #[test]
    fn duplicate_users_are_refused() {
        let e = serde_yaml::from_str::<Users>("a: x\nb: y\na: z\n").expect_err("dup");
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
        assert!(!auth.check(Some(&header("nobody:right"))).await);
        assert_eq!(
            auth.peak_verifications(),
            1,
            "no bcrypt for an unknown user"
        );
        assert!(auth.check(Some(&header("p:right"))).await);
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
            let h = tokio::spawn(async move { a.check(Some(&w)).await });
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
            tasks.push(tokio::spawn(async move { a.check(Some(&w)).await }));
        }
        tokio::task::yield_now().await;
        assert!(auth.in_flight() <= MAX_QUEUED);
        for t in tasks {
            assert!(!t.await.expect("task"));
        }
    }
}
