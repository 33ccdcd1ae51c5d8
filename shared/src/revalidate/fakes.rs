//! In-memory stand-ins for the store, checkpoint, tester and publisher, for unit tests of a
//! whole run. The DynamoDB, STS, S3 and EventBridge versions are tested in `tests/`.

use super::checkpoint::{Checkpoint, CheckpointError, CheckpointState, CheckpointStore};
use super::publish::{EntryOutcome, EventPublisher, PublishError};
use super::run::TesterFactory;
use crate::check::{
    CheckName, CheckResult, CheckStatus, ConnectionTester, TestOutcome, TestReport, TestRequest,
};
use crate::clock::Clock;
use crate::domain::{
    Endpoint, EndpointId, EndpointInput, EndpointSpec, ExternalId, Health, HealthFailure, TenantId,
};
use crate::store::{
    EndpointPage, EndpointStore, HealthSwap, HealthWrite, IdempotencyClaim, ListQuery,
    PendingEvent, ScanPage, StoreError, StoredResponse,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use ulid::Ulid;

fn unsupported() -> StoreError {
    StoreError::Unavailable("not supported by the in-memory store".into())
}

/// Builds a read_write endpoint with a distinct id.
pub fn endpoint(tenant: &str, n: u64) -> Endpoint {
    let input = EndpointInput {
        name: Some(format!("endpoint {n}")),
        mode: Some("read_write".to_owned()),
        role_arn: Some("arn:aws:iam::123456789012:role/Platform-Access".to_owned()),
        bucket: Some("acme-billing".to_owned()),
        prefix: Some(format!("exports/{n}")),
        region: Some("us-east-1".to_owned()),
        ..EndpointInput::default()
    };
    let spec = EndpointSpec::parse(&input).unwrap();
    Endpoint {
        id: EndpointId::from_ulid(Ulid::from_parts(
            1_767_225_600_000 + n,
            u128::from(n) * 7919,
        )),
        tenant: TenantId::parse(tenant).unwrap(),
        spec,
        external_id: ExternalId::parse("external-id-of-the-tenant").unwrap(),
        created_at: OffsetDateTime::UNIX_EPOCH,
        created_by: "test".to_owned(),
    }
}

#[derive(Default)]
struct StoreState {
    endpoints: BTreeMap<EndpointId, Endpoint>,
    health: HashMap<EndpointId, Health>,
    pending: BTreeMap<String, PendingEvent>,
    /// Conflicts to return before the next swaps succeed, per endpoint.
    forced_conflicts: HashMap<EndpointId, usize>,
}

/// Endpoints, health and pending events in memory. Scan segments split endpoints by id and
/// a position is the last id of the previous page.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<StoreState>,
}

impl MemoryStore {
    pub fn with_endpoints(endpoints: impl IntoIterator<Item = Endpoint>) -> Self {
        let store = Self::default();
        {
            let mut state = store.state.lock().unwrap();
            for endpoint in endpoints {
                state.endpoints.insert(endpoint.id.clone(), endpoint);
            }
        }
        store
    }

    pub fn health(&self, id: &EndpointId) -> Option<Health> {
        self.state.lock().unwrap().health.get(id).cloned()
    }

    pub fn set_health(&self, id: &EndpointId, health: Health) {
        self.state.lock().unwrap().health.insert(id.clone(), health);
    }

    pub fn pending(&self) -> Vec<PendingEvent> {
        self.state
            .lock()
            .unwrap()
            .pending
            .values()
            .cloned()
            .collect()
    }

    /// Makes the next `count` swaps of `id` fail as if another writer had changed its health.
    pub fn force_conflicts(&self, id: &EndpointId, count: usize) {
        self.state
            .lock()
            .unwrap()
            .forced_conflicts
            .insert(id.clone(), count);
    }
}

fn segment_of(id: &EndpointId, total: u32) -> u32 {
    (id.ulid().random() % u128::from(total)) as u32
}

#[async_trait]
impl EndpointStore for MemoryStore {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        state
            .endpoints
            .insert(endpoint.id.clone(), endpoint.clone());
        Ok(())
    }

    async fn get_endpoint(
        &self,
        _: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<Endpoint>, StoreError> {
        Ok(self.state.lock().unwrap().endpoints.get(id).cloned())
    }

    async fn list_endpoints(
        &self,
        _: &TenantId,
        _: &ListQuery,
    ) -> Result<EndpointPage, StoreError> {
        Err(unsupported())
    }

    async fn delete_endpoint(&self, _: &TenantId, id: &EndpointId) -> Result<Endpoint, StoreError> {
        let mut state = self.state.lock().unwrap();
        state.health.remove(id);
        state
            .endpoints
            .remove(id)
            .ok_or_else(|| StoreError::NotFound(id.clone()))
    }

    async fn get_or_create_external_id(
        &self,
        _: &TenantId,
        _: ExternalId,
    ) -> Result<ExternalId, StoreError> {
        Err(unsupported())
    }

    async fn record_health(
        &self,
        _: &TenantId,
        id: &EndpointId,
        health: &Health,
    ) -> Result<HealthWrite, StoreError> {
        let mut state = self.state.lock().unwrap();
        let previous = state.health.get(id).cloned();
        if previous
            .as_ref()
            .is_some_and(|p| p.last_checked_at >= health.last_checked_at)
        {
            return Ok(HealthWrite::Stale);
        }
        state.health.insert(id.clone(), health.clone());
        Ok(HealthWrite::Written { previous })
    }

    async fn get_health(
        &self,
        _: &TenantId,
        ids: &[EndpointId],
    ) -> Result<HashMap<EndpointId, Health>, StoreError> {
        let state = self.state.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|id| state.health.get(id).map(|h| (id.clone(), h.clone())))
            .collect())
    }

    async fn claim_idempotency_key(
        &self,
        _: &TenantId,
        _: &str,
        _: &str,
        _: OffsetDateTime,
    ) -> Result<IdempotencyClaim, StoreError> {
        Err(unsupported())
    }

    async fn complete_idempotency_key(
        &self,
        _: &TenantId,
        _: &str,
        _: &StoredResponse,
    ) -> Result<(), StoreError> {
        Err(unsupported())
    }

    async fn release_idempotency_key(&self, _: &TenantId, _: &str) -> Result<(), StoreError> {
        Err(unsupported())
    }

    async fn swap_health(
        &self,
        _: &TenantId,
        id: &EndpointId,
        expected: Option<&Health>,
        health: &Health,
        event: Option<&PendingEvent>,
    ) -> Result<HealthSwap, StoreError> {
        let mut state = self.state.lock().unwrap();
        if !state.endpoints.contains_key(id) {
            return Err(StoreError::NotFound(id.clone()));
        }
        let current = state.health.get(id).cloned();
        let forced = state
            .forced_conflicts
            .get_mut(id)
            .filter(|count| **count > 0);
        if let Some(count) = forced {
            *count -= 1;
            return Ok(HealthSwap::Conflict { current });
        }
        let matches =
            current.as_ref().map(|h| h.last_checked_at) == expected.map(|h| h.last_checked_at);
        if !matches {
            return Ok(HealthSwap::Conflict { current });
        }

        state.health.insert(id.clone(), health.clone());
        if let Some(event) = event {
            state.pending.insert(event.id.clone(), event.clone());
        }
        Ok(HealthSwap::Swapped)
    }

    async fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
        let state = self.state.lock().unwrap();
        let mut events: Vec<PendingEvent> = state.pending.values().cloned().collect();
        events.sort_by_key(|event| event.created_at);
        events.truncate(limit as usize);
        Ok(events)
    }

    async fn delete_pending_event(&self, event: &PendingEvent) -> Result<(), StoreError> {
        self.state.lock().unwrap().pending.remove(&event.id);
        Ok(())
    }

    async fn scan_endpoints(
        &self,
        segment: u32,
        total_segments: u32,
        position: Option<&str>,
        limit: u32,
    ) -> Result<ScanPage, StoreError> {
        let state = self.state.lock().unwrap();
        let after = position.map(|p| EndpointId::parse(p).unwrap());
        let mut matching = state
            .endpoints
            .values()
            .filter(|e| segment_of(&e.id, total_segments) == segment)
            .filter(|e| after.as_ref().is_none_or(|after| e.id > *after));
        let endpoints: Vec<Endpoint> = matching.by_ref().take(limit as usize).cloned().collect();
        let more = matching.next().is_some();
        let next_position = match (more, endpoints.last()) {
            (true, Some(last)) => Some(last.id.to_string()),
            _ => None,
        };
        Ok(ScanPage {
            endpoints,
            next_position,
        })
    }
}

/// A checkpoint in memory with the same version check as the DynamoDB one.
#[derive(Default)]
pub struct MemoryCheckpoints {
    stored: Mutex<Checkpoint>,
    /// A state that another run stores just before the next save, which then conflicts.
    rival: Mutex<Option<CheckpointState>>,
}

impl MemoryCheckpoints {
    pub fn stored(&self) -> Checkpoint {
        self.stored.lock().unwrap().clone()
    }

    pub fn replace(&self, checkpoint: Checkpoint) {
        *self.stored.lock().unwrap() = checkpoint;
    }

    /// Makes another run store `state` right before this run's next save.
    pub fn race_next_save(&self, state: CheckpointState) {
        *self.rival.lock().unwrap() = Some(state);
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpoints {
    async fn load(&self) -> Result<Checkpoint, CheckpointError> {
        Ok(self.stored())
    }

    async fn save(
        &self,
        expected_version: u64,
        state: &CheckpointState,
    ) -> Result<Checkpoint, CheckpointError> {
        let mut stored = self.stored.lock().unwrap();
        if let Some(rival) = self.rival.lock().unwrap().take() {
            *stored = Checkpoint {
                version: stored.version + 1,
                state: rival,
            };
        }
        if stored.version != expected_version {
            return Err(CheckpointError::Conflict {
                expected: expected_version,
            });
        }
        *stored = Checkpoint {
            version: expected_version + 1,
            state: state.clone(),
        };
        Ok(stored.clone())
    }
}

/// A tester that fails the endpoints named in `failures`, after `delay`, and counts tests.
#[derive(Default)]
pub struct ScriptedTester {
    pub failures: Mutex<HashMap<EndpointId, HealthFailure>>,
    /// Endpoints whose test never returns.
    pub hangs: Mutex<HashSet<EndpointId>>,
    pub delay: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    tested: Mutex<Vec<EndpointId>>,
}

impl ScriptedTester {
    pub fn with_delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    pub fn fail(&self, id: &EndpointId, check: &str) {
        let failure = HealthFailure {
            check: check.to_owned(),
            error_code: Some("AccessDenied".to_owned()),
            message: format!("{check} was denied"),
        };
        self.failures.lock().unwrap().insert(id.clone(), failure);
    }

    pub fn heal(&self, id: &EndpointId) {
        self.failures.lock().unwrap().remove(id);
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn tested(&self) -> Vec<EndpointId> {
        self.tested.lock().unwrap().clone()
    }
}

fn check_named(name: &str) -> CheckName {
    match name {
        "assume_role" => CheckName::AssumeRole,
        "list" => CheckName::List,
        "read" => CheckName::Read,
        "write" => CheckName::Write,
        _ => CheckName::Region,
    }
}

/// Hands every run the same scripted tester.
pub struct SharedTester(pub Arc<ScriptedTester>);

impl TesterFactory for SharedTester {
    fn tester_for_run(&self) -> Arc<dyn ConnectionTester> {
        self.0.clone()
    }
}

#[async_trait]
impl ConnectionTester for ScriptedTester {
    async fn test(&self, request: &TestRequest) -> TestReport {
        let id = request.endpoint_id.clone().unwrap();
        let running = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(running, Ordering::SeqCst);

        if self.hangs.lock().unwrap().contains(&id) {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.tested.lock().unwrap().push(id.clone());

        let failure = self.failures.lock().unwrap().get(&id).cloned();
        let checks = match &failure {
            None => vec![],
            Some(failure) => vec![CheckResult {
                check: check_named(&failure.check),
                status: CheckStatus::Failed,
                duration_ms: 1,
                error_code: failure.error_code.clone(),
                message: Some(failure.message.clone()),
                hint: None,
            }],
        };
        TestReport {
            outcome: if failure.is_some() {
                TestOutcome::Failed
            } else {
                TestOutcome::Passed
            },
            duration_ms: 1,
            checks,
        }
    }
}

/// A publisher that keeps what it accepted and rejects the first `reject_next` entries.
#[derive(Default)]
pub struct RecordingPublisher {
    pub accepted: Mutex<Vec<PendingEvent>>,
    pub reject_next: AtomicUsize,
}

impl RecordingPublisher {
    pub fn accepted(&self) -> Vec<PendingEvent> {
        self.accepted.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventPublisher for RecordingPublisher {
    async fn publish(&self, events: &[PendingEvent]) -> Result<Vec<EntryOutcome>, PublishError> {
        let mut outcomes = Vec::new();
        for event in events {
            let reject = self
                .reject_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if reject {
                outcomes.push(EntryOutcome::Rejected {
                    code: "ThrottlingException".to_owned(),
                    message: "rate exceeded".to_owned(),
                });
            } else {
                self.accepted.lock().unwrap().push(event.clone());
                outcomes.push(EntryOutcome::Accepted);
            }
        }
        Ok(outcomes)
    }
}

/// A clock that moves forward one millisecond per reading, so results are strictly ordered.
pub struct SteppingClock {
    millis: Mutex<i64>,
}

impl Default for SteppingClock {
    fn default() -> Self {
        Self {
            millis: Mutex::new(1_767_225_600_000),
        }
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> OffsetDateTime {
        let mut millis = self.millis.lock().unwrap();
        *millis += 1;
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(*millis) * 1_000_000).unwrap()
    }
}
