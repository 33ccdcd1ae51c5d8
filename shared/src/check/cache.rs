//! A cache of assumed-role credentials, so that tests of many endpoints that share a role (as
//! in scheduled revalidation) call STS once per role instead of once per endpoint.

use crate::domain::{ExternalId, RoleArn};
use aws_credential_types::Credentials;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// How long before their expiry cached credentials stop being handed out. It is longer than any
/// test's deadline, so credentials taken from the cache stay valid until the test ends.
pub const DEFAULT_REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

type Key = (RoleArn, ExternalId);

/// Assumed-role credentials keyed by role ARN and External ID, reused until shortly before they
/// expire. Safe to share between concurrent tests.
///
/// A cached entry keeps the session name of the test that assumed the role, so CloudTrail shows
/// that endpoint's session for the other endpoints tested with the same credentials.
#[derive(Debug)]
pub struct CredentialsCache {
    refresh_before_expiry: Duration,
    entries: Mutex<HashMap<Key, Credentials>>,
    /// One turn per role, so that concurrent tests of endpoints that share a role send one
    /// AssumeRole and the others wait for its credentials instead of each sending their own.
    turns: Mutex<HashMap<Key, Arc<AsyncMutex<()>>>>,
}

impl Default for CredentialsCache {
    fn default() -> Self {
        Self::new(DEFAULT_REFRESH_BEFORE_EXPIRY)
    }
}

impl CredentialsCache {
    pub fn new(refresh_before_expiry: Duration) -> Self {
        Self {
            refresh_before_expiry,
            entries: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until no other test holds the turn of the role, and keeps the turn until the
    /// returned guard drops. A test takes the turn before it looks in the cache and keeps it
    /// while it assumes the role, so the tests queued behind it find its credentials.
    pub async fn take_turn(
        &self,
        role_arn: &RoleArn,
        external_id: &ExternalId,
    ) -> OwnedMutexGuard<()> {
        let turn = lock(&self.turns)
            .entry((role_arn.clone(), external_id.clone()))
            .or_default()
            .clone();
        turn.lock_owned().await
    }

    /// Returns cached credentials for the role that stay valid for at least the refresh margin.
    pub fn get(&self, role_arn: &RoleArn, external_id: &ExternalId) -> Option<Credentials> {
        self.get_at(role_arn, external_id, SystemTime::now())
    }

    /// Stores credentials that carry an expiry time. Credentials without one are not cached,
    /// because the cache could not tell when to stop handing them out.
    pub fn insert(&self, role_arn: &RoleArn, external_id: &ExternalId, credentials: Credentials) {
        if credentials.expiry().is_none() {
            return;
        }
        let now = SystemTime::now();
        let mut entries = self.lock();
        entries.retain(|_, cached| self.is_fresh(cached, now));
        entries.insert((role_arn.clone(), external_id.clone()), credentials);
    }

    /// Drops the credentials of a role, for example after AWS rejected them.
    pub fn remove(&self, role_arn: &RoleArn, external_id: &ExternalId) {
        self.lock().remove(&(role_arn.clone(), external_id.clone()));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get_at(
        &self,
        role_arn: &RoleArn,
        external_id: &ExternalId,
        now: SystemTime,
    ) -> Option<Credentials> {
        let key = (role_arn.clone(), external_id.clone());
        self.lock()
            .get(&key)
            .filter(|cached| self.is_fresh(cached, now))
            .cloned()
    }

    fn is_fresh(&self, credentials: &Credentials, now: SystemTime) -> bool {
        credentials
            .expiry()
            .and_then(|expiry| expiry.duration_since(now).ok())
            .is_some_and(|left| left > self.refresh_before_expiry)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Credentials>> {
        lock(&self.entries)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a map half-updated (every update is one
    // insert, remove, retain or entry call), so a poisoned lock is safe to keep using.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role() -> RoleArn {
        RoleArn::parse("arn:aws:iam::111122223333:role/Reader").unwrap()
    }

    fn external_id(raw: &str) -> ExternalId {
        ExternalId::parse(raw).unwrap()
    }

    fn credentials(valid_for: Duration) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("token".to_owned()),
            Some(SystemTime::now() + valid_for),
            "test",
        )
    }

    #[test]
    fn cache_returns_fresh_credentials() {
        let cache = CredentialsCache::new(Duration::from_secs(60));
        cache.insert(
            &role(),
            &external_id("tenant-a"),
            credentials(Duration::from_secs(900)),
        );
        let cached = cache.get(&role(), &external_id("tenant-a")).unwrap();
        assert_eq!(cached.access_key_id(), "AKIDEXAMPLE");
    }

    #[test]
    fn cache_keys_by_external_id() {
        let cache = CredentialsCache::new(Duration::from_secs(60));
        cache.insert(
            &role(),
            &external_id("tenant-a"),
            credentials(Duration::from_secs(900)),
        );
        assert!(cache.get(&role(), &external_id("tenant-b")).is_none());
    }

    #[test]
    fn cache_stops_before_expiry() {
        let cache = CredentialsCache::new(Duration::from_secs(60));
        cache.insert(
            &role(),
            &external_id("tenant-a"),
            credentials(Duration::from_secs(900)),
        );
        let later = SystemTime::now() + Duration::from_secs(850);
        assert!(cache
            .get_at(&role(), &external_id("tenant-a"), later)
            .is_none());
    }

    #[test]
    fn cache_skips_credentials_without_expiry() {
        let cache = CredentialsCache::default();
        let static_credentials = Credentials::new("AKID", "secret", None, None, "test");
        cache.insert(&role(), &external_id("tenant-a"), static_credentials);
        assert!(cache.is_empty());
    }

    #[test]
    fn cache_drops_removed_and_expired_entries() {
        let cache = CredentialsCache::new(Duration::from_secs(60));
        cache.insert(
            &role(),
            &external_id("tenant-a"),
            credentials(Duration::from_secs(30)),
        );
        cache.insert(
            &role(),
            &external_id("tenant-b"),
            credentials(Duration::from_secs(900)),
        );
        assert_eq!(cache.len(), 1, "the stale entry is dropped on insert");
        cache.remove(&role(), &external_id("tenant-b"));
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn second_turn_waits_for_first() {
        let cache = Arc::new(CredentialsCache::new(Duration::from_secs(60)));
        let first = cache.take_turn(&role(), &external_id("tenant-a")).await;
        let waiting = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                let _second = cache.take_turn(&role(), &external_id("tenant-a")).await;
            })
        };

        // The test runtime has one thread, so the spawned task runs until it blocks here.
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());

        drop(first);
        waiting.await.unwrap();
    }

    #[tokio::test]
    async fn other_external_id_skips_wait() {
        let cache = CredentialsCache::new(Duration::from_secs(60));
        let _first = cache.take_turn(&role(), &external_id("tenant-a")).await;

        let (role, other_tenant) = (role(), external_id("tenant-b"));

        let other = cache.take_turn(&role, &other_tenant);

        assert!(tokio::time::timeout(Duration::from_secs(1), other)
            .await
            .is_ok());
    }
}
