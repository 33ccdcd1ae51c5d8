//! In-process stand-ins for the store, the connection test, the clock and the id source, so
//! that handler tests run without DynamoDB Local or moto.
//!
//! NOTE: `MemoryStore` follows the `EndpointStore` contract as its documentation states it;
//! the DynamoDB store's own tests decide what the real one does.

use async_trait::async_trait;
use endpoint_core::check::{
    CheckName, CheckResult, CheckStatus, ConnectionTester, TestOutcome, TestReport, TestRequest,
};
use endpoint_core::clock::{Clock, IdGenerator};
use endpoint_core::domain::{Endpoint, EndpointId, ExternalId, Health, TenantId};
use endpoint_core::store::{
    EndpointPage, EndpointStore, HealthWrite, IdempotencyClaim, ListQuery, ScanPage, StoreError,
    StoredResponse,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug)]
enum KeyState {
    InProgress {
        hash: String,
    },
    Completed {
        hash: String,
        response: StoredResponse,
    },
}

#[derive(Default)]
struct Tables {
    endpoints: Vec<Endpoint>,
    health: HashMap<(TenantId, EndpointId), Health>,
    external_ids: HashMap<TenantId, ExternalId>,
    keys: HashMap<(TenantId, String), KeyState>,
}

/// An `EndpointStore` in memory. Setting `unavailable` makes every call fail with
/// `StoreError::Unavailable`. Prefixes are claimed per tenant, as in the DynamoDB store,
/// unless `claims_across_tenants` is set.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    pub unavailable: AtomicBool,
    pub claims_across_tenants: AtomicBool,
}

impl MemoryStore {
    fn tables(&self) -> Result<std::sync::MutexGuard<'_, Tables>, StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "the memory store is switched off".into(),
            ));
        }
        self.tables
            .lock()
            .map_err(|_| StoreError::Corrupt("a test thread panicked".to_owned()))
    }

    /// Returns every endpoint of every tenant, for assertions.
    pub fn all_endpoints(&self) -> Vec<Endpoint> {
        self.tables.lock().unwrap().endpoints.clone()
    }
}

/// Encodes a cursor with its tenant and filter, so that it pages only the query that produced it.
fn encode_cursor(tenant: &TenantId, query: &ListQuery, last: &EndpointId) -> String {
    let mode = query.mode.map_or("any", |mode| mode.as_str());
    format!("{}~{mode}~{last}", tenant.as_str())
}

fn decode_cursor(
    tenant: &TenantId,
    query: &ListQuery,
    cursor: &str,
) -> Result<EndpointId, StoreError> {
    let mode = query.mode.map_or("any", |mode| mode.as_str());
    let mut parts = cursor.split('~');
    let (Some(owner), Some(cursor_mode), Some(last), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(StoreError::InvalidCursor);
    };
    if owner != tenant.as_str() || cursor_mode != mode {
        return Err(StoreError::InvalidCursor);
    }
    EndpointId::parse(last).map_err(|_| StoreError::InvalidCursor)
}

#[async_trait]
impl EndpointStore for MemoryStore {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        for existing in &tables.endpoints {
            if existing.id == endpoint.id {
                return Err(StoreError::IdExists(endpoint.id.clone()));
            }
            if existing.tenant == endpoint.tenant
                && existing.spec.name.uniqueness_key() == endpoint.spec.name.uniqueness_key()
            {
                return Err(StoreError::NameTaken {
                    name: endpoint.spec.name.as_str().to_owned(),
                    existing: existing.id.clone(),
                });
            }
            let same_claims = existing.tenant == endpoint.tenant
                || self.claims_across_tenants.load(Ordering::SeqCst);
            let same_bucket =
                same_claims && existing.spec.connection.bucket == endpoint.spec.connection.bucket;
            let prefix = &endpoint.spec.connection.prefix;
            let existing_prefix = &existing.spec.connection.prefix;
            if same_bucket && prefix.conflicts_with(existing_prefix) {
                return Err(StoreError::PrefixConflict {
                    prefix: prefix.clone(),
                    existing: existing.id.clone(),
                    existing_prefix: existing_prefix.clone(),
                });
            }
        }
        tables.endpoints.push(endpoint.clone());
        Ok(())
    }

    async fn get_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<Endpoint>, StoreError> {
        let tables = self.tables()?;
        Ok(tables
            .endpoints
            .iter()
            .find(|e| e.tenant == *tenant && e.id == *id)
            .cloned())
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        query: &ListQuery,
    ) -> Result<EndpointPage, StoreError> {
        let after = match &query.cursor {
            Some(cursor) => Some(decode_cursor(tenant, query, cursor)?),
            None => None,
        };
        let tables = self.tables()?;
        let mut matching: Vec<Endpoint> = tables
            .endpoints
            .iter()
            .filter(|e| e.tenant == *tenant)
            .filter(|e| query.mode.is_none_or(|mode| e.spec.connection.mode == mode))
            .filter(|e| after.as_ref().is_none_or(|last| e.id < *last))
            .cloned()
            .collect();
        matching.sort_by(|a, b| b.id.cmp(&a.id));

        let limit = query.limit as usize;
        let more = matching.len() > limit;
        matching.truncate(limit);
        let next_cursor = match (more, matching.last()) {
            (true, Some(last)) => Some(encode_cursor(tenant, query, &last.id)),
            _ => None,
        };
        Ok(EndpointPage {
            endpoints: matching,
            next_cursor,
        })
    }

    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Endpoint, StoreError> {
        let mut tables = self.tables()?;
        let position = tables
            .endpoints
            .iter()
            .position(|e| e.tenant == *tenant && e.id == *id)
            .ok_or_else(|| StoreError::NotFound(id.clone()))?;
        tables.health.remove(&(tenant.clone(), id.clone()));
        Ok(tables.endpoints.remove(position))
    }

    async fn get_or_create_external_id(
        &self,
        tenant: &TenantId,
        candidate: ExternalId,
    ) -> Result<ExternalId, StoreError> {
        let mut tables = self.tables()?;
        Ok(tables
            .external_ids
            .entry(tenant.clone())
            .or_insert(candidate)
            .clone())
    }

    async fn record_health(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        health: &Health,
    ) -> Result<HealthWrite, StoreError> {
        let mut tables = self.tables()?;
        let key = (tenant.clone(), id.clone());
        let previous = tables.health.get(&key).cloned();
        if previous
            .as_ref()
            .is_some_and(|stored| stored.last_checked_at >= health.last_checked_at)
        {
            return Ok(HealthWrite::Stale);
        }
        tables.health.insert(key, health.clone());
        Ok(HealthWrite::Written { previous })
    }

    async fn get_health(
        &self,
        tenant: &TenantId,
        ids: &[EndpointId],
    ) -> Result<HashMap<EndpointId, Health>, StoreError> {
        let tables = self.tables()?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let health = tables.health.get(&(tenant.clone(), id.clone()))?;
                Some((id.clone(), health.clone()))
            })
            .collect())
    }

    async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        request_hash: &str,
        _expires_at: OffsetDateTime,
    ) -> Result<IdempotencyClaim, StoreError> {
        let mut tables = self.tables()?;
        let entry = (tenant.clone(), key.to_owned());
        let claim = match tables.keys.get(&entry) {
            None => IdempotencyClaim::Claimed,
            Some(KeyState::InProgress { hash }) => IdempotencyClaim::InProgress {
                request_hash: hash.clone(),
            },
            Some(KeyState::Completed { hash, response }) => IdempotencyClaim::Completed {
                request_hash: hash.clone(),
                response: response.clone(),
            },
        };
        if claim == IdempotencyClaim::Claimed {
            let hash = request_hash.to_owned();
            tables.keys.insert(entry, KeyState::InProgress { hash });
        }
        Ok(claim)
    }

    async fn complete_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        let entry = (tenant.clone(), key.to_owned());
        let hash = match tables.keys.get(&entry) {
            Some(KeyState::InProgress { hash }) => hash.clone(),
            _ => return Err(StoreError::Corrupt(format!("key {key} is not in progress"))),
        };
        let response = response.clone();
        tables
            .keys
            .insert(entry, KeyState::Completed { hash, response });
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        tables.keys.remove(&(tenant.clone(), key.to_owned()));
        Ok(())
    }

    async fn scan_endpoints(
        &self,
        _segment: u32,
        _total_segments: u32,
        _position: Option<&str>,
        _limit: u32,
    ) -> Result<ScanPage, StoreError> {
        let tables = self.tables()?;
        Ok(ScanPage {
            endpoints: tables.endpoints.clone(),
            next_position: None,
        })
    }
}

/// A connection test that passes or fails as configured, after an optional delay, and counts
/// its runs.
#[derive(Default)]
pub struct ScriptedTester {
    pub fail: AtomicBool,
    pub delay_ms: AtomicU64,
    pub runs: AtomicUsize,
}

impl ScriptedTester {
    pub fn report(failed: bool) -> TestReport {
        let passed = |check| CheckResult {
            check,
            status: CheckStatus::Passed,
            duration_ms: 3,
            error_code: None,
            message: None,
            hint: None,
        };
        let mut checks = vec![passed(CheckName::Region)];
        if failed {
            checks.push(CheckResult {
                check: CheckName::AssumeRole,
                status: CheckStatus::Failed,
                duration_ms: 12,
                error_code: Some("AccessDenied".to_owned()),
                message: Some("the platform is not allowed to assume the role".to_owned()),
                hint: Some(
                    "add the platform principal and the External ID to the role's trust policy"
                        .to_owned(),
                ),
            });
        } else {
            checks.push(passed(CheckName::AssumeRole));
            checks.push(passed(CheckName::List));
            checks.push(passed(CheckName::Read));
        }
        TestReport {
            outcome: if failed {
                TestOutcome::Failed
            } else {
                TestOutcome::Passed
            },
            duration_ms: 20,
            checks,
        }
    }
}

#[async_trait]
impl ConnectionTester for ScriptedTester {
    async fn test(&self, _request: &TestRequest) -> TestReport {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        Self::report(self.fail.load(Ordering::SeqCst))
    }
}

/// A clock that advances one second per call, so that successive health writes are ordered.
pub struct SteppingClock {
    seconds: AtomicU64,
}

impl SteppingClock {
    pub fn starting_at(start: OffsetDateTime) -> Self {
        Self {
            seconds: AtomicU64::new(start.unix_timestamp() as u64),
        }
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> OffsetDateTime {
        let seconds = self.seconds.fetch_add(1, Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp(seconds as i64).unwrap()
    }
}

/// Endpoint ids from ULIDs whose time part is the creation time and whose random part counts
/// up, so that ids are unique and ordered.
#[derive(Default)]
pub struct CountingIds {
    next: AtomicU64,
}

impl IdGenerator for CountingIds {
    fn endpoint_id(&self, now: OffsetDateTime) -> EndpointId {
        let millis = (now.unix_timestamp_nanos() / 1_000_000) as u64;
        let random = u128::from(self.next.fetch_add(1, Ordering::SeqCst));
        EndpointId::from_ulid(ulid::Ulid::from_parts(millis, random))
    }
}
