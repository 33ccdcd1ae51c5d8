//! One revalidation run: claim the checkpoint, redeliver leftover events, scan the segments
//! in parallel and test their endpoints with bounded concurrency, then store the checkpoint.

use super::budget::{Budget, TimeLimits};
use super::checkpoint::{
    claim, Checkpoint, CheckpointError, CheckpointState, CheckpointStore, Claim, Cycle,
    SegmentProgress,
};
use super::outbox::Outbox;
use super::publish::EventPublisher;
use super::recorder::{HealthRecorder, RecordError, Recorded};
use super::report::{ErrorExample, ErrorReason, RunIssue, RunReport, RunStatus, Tally};
use super::trigger::RunRequest;
use crate::check::{error_code, ConnectionTester, TestRequest};
use crate::clock::Clock;
use crate::domain::{Endpoint, EndpointId, Health, HealthFailure, TenantId};
use crate::store::EndpointStore;
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument;

/// Reads of the checkpoint before a run gives up claiming it.
const MAX_CLAIM_ATTEMPTS: u32 = 2;

/// Settings that divide and pace the work of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Connection tests running at the same time, across all segments.
    pub concurrency: usize,
    /// Parallel scan segments of a new cycle.
    pub scan_segments: u32,
    /// Items read per scan page, of every kind, of which the endpoints are kept. A run that
    /// stops mid-page tests that page again next time, so smaller pages repeat less work, at
    /// the cost of more scans and checkpoint writes.
    pub page_size: u32,
    pub limits: TimeLimits,
    /// Extra time a test may take beyond its own timeout before the run gives up on it.
    pub test_grace: Duration,
    /// Pending events younger than this are left to the run that stored them.
    pub redelivery_min_age: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            scan_segments: 4,
            // NOTE: an estimate. Each endpoint has about three items (endpoint, health, name
            // claim) plus a share of its bucket's claims item, so about 20 endpoints a page.
            page_size: 64,
            limits: TimeLimits::default(),
            test_grace: Duration::from_secs(2),
            redelivery_min_age: Duration::from_secs(120),
        }
    }
}

/// Failures that end a run before it tests anything; Lambda retries the invocation.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("failed to claim the revalidation checkpoint")]
    Checkpoint(#[from] CheckpointError),
}

/// Provides the connection tester of each run.
pub trait TesterFactory: Send + Sync {
    /// Returns the tester for a new run. Assumed-role credentials may be cached within a run
    /// but not across runs, so that a trust policy changed since the last run is tested again.
    fn tester_for_run(&self) -> Arc<dyn ConnectionTester>;
}

/// The services a run uses.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn EndpointStore>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub testers: Arc<dyn TesterFactory>,
    pub publisher: Arc<dyn EventPublisher>,
    pub clock: Arc<dyn Clock>,
}

/// Runs revalidation; built once per Lambda process and shared by its invocations.
pub struct Revalidator {
    services: Services,
    recorder: HealthRecorder,
    outbox: Outbox,
    settings: Settings,
}

/// State shared by the tasks of one run.
struct RunState {
    run_id: String,
    budget: Budget,
    tester: Arc<dyn ConnectionTester>,
    permits: Semaphore,
    tally: Mutex<Tally>,
    progress: tokio::sync::Mutex<Checkpoint>,
    checkpoint_lost: AtomicBool,
}

impl RunState {
    fn should_stop(&self) -> bool {
        self.checkpoint_lost.load(Ordering::Relaxed)
    }

    fn update(&self, change: impl FnOnce(&mut Tally)) {
        // A poisoned lock only means another task panicked mid-update; the counts stay usable.
        let mut tally = match self.tally.lock() {
            Ok(tally) => tally,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut tally);
    }

    fn issue(&self, segment: Option<u32>, message: String) {
        self.update(|tally| tally.issues.push(RunIssue { segment, message }));
    }
}

/// Whether every endpoint of a page was handled, so the segment may move past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndpointOutcome {
    Handled,
    Deferred,
}

impl Revalidator {
    pub fn new(services: Services, settings: Settings) -> Self {
        let outbox = Outbox::new(services.store.clone(), services.publisher.clone());
        let recorder = HealthRecorder::new(services.store.clone(), outbox.clone());
        Self {
            services,
            recorder,
            outbox,
            settings,
        }
    }

    /// Runs until the cycle is done or the budget ends, and returns the counts.
    /// `lambda_remaining` is the time until Lambda's deadline, when there is one.
    pub async fn run(
        &self,
        request: &RunRequest,
        run_id: &str,
        lambda_remaining: Option<Duration>,
    ) -> Result<RunReport, RunError> {
        let started = Instant::now();
        let budget = Budget::new(
            started,
            lambda_remaining,
            request.max_duration,
            &self.settings.limits,
        );

        let checkpoint = match self.claim_checkpoint(run_id, request, &budget).await? {
            Ok(checkpoint) => checkpoint,
            Err(report) => return Ok(report),
        };
        let state = RunState {
            run_id: run_id.to_owned(),
            budget,
            tester: self.services.testers.tester_for_run(),
            permits: Semaphore::new(self.settings.concurrency.max(1)),
            tally: Mutex::new(Tally::default()),
            progress: tokio::sync::Mutex::new(checkpoint),
            checkpoint_lost: AtomicBool::new(false),
        };

        self.redeliver_leftovers(&state).await;

        self.scan_all_segments(&state).await;

        let status = self.finish_checkpoint(&state).await;
        let tally = match state.tally.into_inner() {
            Ok(tally) => tally,
            Err(poisoned) => poisoned.into_inner(),
        };
        let duration_ms = millis(started.elapsed());
        Ok(RunReport::new(
            run_id,
            &request.source,
            status,
            tally,
            duration_ms,
        ))
    }

    /// Claims the checkpoint for this run. Returns the claimed checkpoint, or the report of a
    /// skipped run when another run has claimed it.
    async fn claim_checkpoint(
        &self,
        run_id: &str,
        request: &RunRequest,
        budget: &Budget,
    ) -> Result<Result<Checkpoint, RunReport>, RunError> {
        // A lost race means another run stored its claim between our read and write, so the
        // second attempt reads that claim and skips.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_claim(run_id, request, budget).await {
                Err(CheckpointError::Conflict { .. }) if attempt < MAX_CLAIM_ATTEMPTS => {
                    tracing::info!(
                        run_id,
                        "another run changed the checkpoint; reading it again"
                    );
                }
                result => return Ok(result?),
            }
        }
    }

    async fn try_claim(
        &self,
        run_id: &str,
        request: &RunRequest,
        budget: &Budget,
    ) -> Result<Result<Checkpoint, RunReport>, CheckpointError> {
        let current = self.services.checkpoints.load().await?;
        let now = self.services.clock.now();
        let lease_until =
            now + budget.remaining(Instant::now()) + self.settings.limits.wrap_up_reserve;

        let state = match claim(
            &current.state,
            run_id,
            now,
            lease_until,
            request.restart,
            self.settings.scan_segments.max(1),
        ) {
            Claim::Granted(state) => state,
            Claim::Busy(lease) => {
                tracing::info!(run_id, holder = %lease.owner, expires_at = %lease.expires_at, "skipped the run because another revalidation run has claimed the checkpoint");
                let report = RunReport::new(
                    run_id,
                    &request.source,
                    RunStatus::SkippedBusy,
                    Tally::default(),
                    0,
                );
                return Ok(Err(report));
            }
        };

        let claimed = self
            .services
            .checkpoints
            .save(current.version, &state)
            .await?;
        if let Some(cycle) = &claimed.state.cycle {
            tracing::info!(run_id, cycle_started_at = %cycle.started_at, segments = cycle.segments.len(), "claimed the revalidation checkpoint");
        }
        Ok(Ok(claimed))
    }

    async fn redeliver_leftovers(&self, state: &RunState) {
        let now = self.services.clock.now();
        let stop_at = Instant::now() + state.budget.remaining(Instant::now());
        let result = self
            .outbox
            .redeliver(now, self.settings.redelivery_min_age, stop_at)
            .await;
        match result {
            Ok(delivery) => {
                if delivery.published + delivery.pending > 0 {
                    tracing::info!(run_id = %state.run_id, published = delivery.published, pending = delivery.pending, "redelivered events left by earlier runs");
                }
                state.update(|tally| {
                    tally.events_published += delivery.published;
                    tally.events_pending += delivery.pending;
                });
            }
            Err(error) => {
                tracing::warn!(run_id = %state.run_id, %error, "failed to read pending events; the next run tries again");
                state.issue(None, format!("failed to read pending events: {error}"));
            }
        }
    }

    async fn scan_all_segments(&self, state: &RunState) {
        let segments: Vec<(u32, u32, SegmentProgress)> = {
            let progress = state.progress.lock().await;
            let Some(cycle) = &progress.state.cycle else {
                return;
            };
            let total = cycle.segments.len() as u32;
            (0..total)
                .zip(cycle.segments.iter().cloned())
                .map(|(segment, at)| (segment, total, at))
                .collect()
        };

        let scans = segments
            .into_iter()
            .map(|(segment, total, at)| self.scan_segment(state, segment, total, at));
        futures::future::join_all(scans).await;
    }

    async fn scan_segment(&self, state: &RunState, segment: u32, total: u32, at: SegmentProgress) {
        let mut position = match at {
            SegmentProgress::Done => return,
            SegmentProgress::NotStarted => None,
            SegmentProgress::At { position } => Some(position),
        };

        loop {
            if state.should_stop() || !state.budget.can_start_test(Instant::now()) {
                return;
            }

            let page = self
                .services
                .store
                .scan_endpoints(segment, total, position.as_deref(), self.settings.page_size)
                .await;
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(run_id = %state.run_id, segment, %error, "failed to scan endpoints; the segment stops and the next run continues it");
                    state.issue(Some(segment), format!("failed to scan endpoints: {error}"));
                    return;
                }
            };

            if !self.revalidate_page(state, page.endpoints).await {
                return;
            }

            if !self
                .advance(state, segment, page.next_position.clone())
                .await
            {
                return;
            }
            match page.next_position {
                Some(next) => position = Some(next),
                None => return,
            }
        }
    }

    /// Tests every endpoint of a page; returns whether all were handled.
    async fn revalidate_page(&self, state: &RunState, endpoints: Vec<Endpoint>) -> bool {
        let stored = self.read_health(&endpoints).await;
        let concurrency = endpoints.len().max(1);

        let outcomes: Vec<EndpointOutcome> = stream::iter(endpoints)
            .map(|endpoint| {
                let previous = match stored.get(&endpoint.tenant) {
                    Some(Ok(healths)) => Ok(healths.get(&endpoint.id).cloned()),
                    Some(Err(message)) => Err(message.clone()),
                    None => Ok(None),
                };
                let span = tracing::info_span!("revalidate_endpoint", tenant = %endpoint.tenant, endpoint_id = %endpoint.id);
                self.revalidate_endpoint(state, endpoint, previous)
                    .instrument(span)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;

        outcomes
            .iter()
            .all(|outcome| *outcome == EndpointOutcome::Handled)
    }

    /// Reads the stored health of a page's endpoints, one request per tenant. A failed read
    /// is kept per tenant, so it stops only that tenant's endpoints.
    async fn read_health(
        &self,
        endpoints: &[Endpoint],
    ) -> HashMap<TenantId, Result<HashMap<EndpointId, Health>, String>> {
        let mut by_tenant: BTreeMap<&TenantId, Vec<EndpointId>> = BTreeMap::new();
        for endpoint in endpoints {
            by_tenant
                .entry(&endpoint.tenant)
                .or_default()
                .push(endpoint.id.clone());
        }

        let reads = by_tenant.into_iter().map(|(tenant, ids)| async move {
            let result = self.services.store.get_health(tenant, &ids).await;
            (tenant.clone(), result.map_err(|error| describe(&error)))
        });
        futures::future::join_all(reads).await.into_iter().collect()
    }

    async fn revalidate_endpoint(
        &self,
        state: &RunState,
        endpoint: Endpoint,
        previous: Result<Option<Health>, String>,
    ) -> EndpointOutcome {
        // Held for the test and the write, so that `concurrency` bounds calls to customer
        // accounts across all segments. The semaphore is never closed.
        let Ok(_permit) = state.permits.acquire().await else {
            return EndpointOutcome::Deferred;
        };
        if state.should_stop() || !state.budget.can_start_test(Instant::now()) {
            state.update(|tally| tally.deferred += 1);
            return EndpointOutcome::Deferred;
        }

        let previous = match previous {
            Ok(previous) => previous,
            Err(message) => {
                tracing::warn!(%message, "failed to read stored health; the endpoint was not tested");
                self.record_error(state, &endpoint, ErrorReason::HealthReadFailed, message);
                return EndpointOutcome::Handled;
            }
        };

        let checked_at = self.services.clock.now();
        let request = TestRequest {
            tenant: endpoint.tenant.clone(),
            endpoint_id: Some(endpoint.id.clone()),
            spec: endpoint.spec.connection.clone(),
            external_id: endpoint.external_id.clone(),
            deadline: state.budget.endpoint_timeout(),
        };
        let limit = state.budget.endpoint_timeout() + self.settings.test_grace;
        let Ok(report) = tokio::time::timeout(limit, state.tester.test(&request)).await else {
            let message = format!(
                "the connection test did not return within {} ms",
                limit.as_millis()
            );
            tracing::warn!(%message, "connection test timed out; health not recorded");
            self.record_error(state, &endpoint, ErrorReason::TestTimedOut, message);
            return EndpointOutcome::Handled;
        };

        let failure = report.failure();
        if let Some(failure) = failure.as_ref().filter(|failure| is_inconclusive(failure)) {
            let code = failure.error_code.as_deref().unwrap_or_default();
            let message = format!("{} check: {code}: {}", failure.check, failure.message);
            tracing::warn!(%message, "connection test was inconclusive; health not recorded");
            self.record_error(state, &endpoint, ErrorReason::TestInconclusive, message);
            return EndpointOutcome::Handled;
        }

        let recorded = self
            .recorder
            .record(
                &endpoint.tenant,
                &endpoint.id,
                previous,
                checked_at,
                failure,
            )
            .await;
        self.count_recorded(state, &endpoint, recorded);
        EndpointOutcome::Handled
    }

    fn count_recorded(
        &self,
        state: &RunState,
        endpoint: &Endpoint,
        recorded: Result<Recorded, RecordError>,
    ) {
        match recorded {
            Ok(Recorded::Stored {
                health,
                change,
                delivery,
            }) => {
                if let Some(change) = &change {
                    tracing::info!(old_state = ?change.old_state, new_state = ?change.new_state, failing_check = ?change.failing_check, published = delivery.published, "endpoint health changed");
                }
                state.update(|tally| {
                    tally.record_result(health.state);
                    tally.transitions += u64::from(change.is_some());
                    tally.events_published += delivery.published;
                    tally.events_pending += delivery.pending;
                });
            }
            Ok(Recorded::Superseded) => {
                tracing::debug!("a newer result is already stored; this one was dropped");
                state.update(|tally| tally.superseded += 1);
            }
            Ok(Recorded::EndpointDeleted) => {
                tracing::info!("endpoint was deleted during the run; its result was dropped");
            }
            Err(error) => {
                let reason = match error {
                    RecordError::Contended => ErrorReason::HealthWriteContended,
                    RecordError::Store(_) | RecordError::Encode(_) => {
                        ErrorReason::HealthWriteFailed
                    }
                };
                let message = describe(&error);
                tracing::error!(%message, "failed to record health");
                self.record_error(state, endpoint, reason, message);
            }
        }
    }

    fn record_error(
        &self,
        state: &RunState,
        endpoint: &Endpoint,
        reason: ErrorReason,
        message: String,
    ) {
        let example = ErrorExample {
            tenant: endpoint.tenant.clone(),
            endpoint_id: endpoint.id.clone(),
            message,
        };
        state.update(|tally| tally.record_error(reason, example));
    }

    /// Records that `segment` finished a page and continues at `next`. Returns `false` when
    /// another run took the checkpoint, which stops every segment of this run.
    async fn advance(&self, state: &RunState, segment: u32, next: Option<String>) -> bool {
        let mut progress = state.progress.lock().await;
        let mut updated = progress.state.clone();
        let slot = updated
            .cycle
            .as_mut()
            .and_then(|cycle| cycle.segments.get_mut(segment as usize));
        if let Some(slot) = slot {
            *slot = match next {
                Some(position) => SegmentProgress::At { position },
                None => SegmentProgress::Done,
            };
        }

        match self
            .services
            .checkpoints
            .save(progress.version, &updated)
            .await
        {
            Ok(saved) => {
                *progress = saved;
                true
            }
            Err(CheckpointError::Conflict { .. }) => {
                tracing::warn!(run_id = %state.run_id, segment, "another run took the checkpoint; stopping");
                state.checkpoint_lost.store(true, Ordering::Relaxed);
                state.issue(Some(segment), "another run took the checkpoint".to_owned());
                false
            }
            Err(error) => {
                // The position is kept in memory and written with the next save. If no save
                // succeeds, the next run repeats this run's pages, which is safe.
                tracing::warn!(run_id = %state.run_id, segment, %error, "failed to save the checkpoint; continuing");
                progress.state = updated;
                true
            }
        }
    }

    /// Stores the final checkpoint: the cycle closed when every segment is done, or the
    /// positions to continue from. Either way the lease is released.
    async fn finish_checkpoint(&self, state: &RunState) -> RunStatus {
        let mut progress = state.progress.lock().await;
        let cycle_done = progress.state.cycle.as_ref().is_some_and(Cycle::is_done);
        if state.should_stop() {
            return RunStatus::CycleContinues;
        }

        let final_state = if cycle_done {
            CheckpointState {
                cycle: None,
                lease: None,
                last_cycle_completed_at: Some(self.services.clock.now()),
            }
        } else {
            CheckpointState {
                lease: None,
                ..progress.state.clone()
            }
        };

        match self
            .services
            .checkpoints
            .save(progress.version, &final_state)
            .await
        {
            Ok(saved) => *progress = saved,
            Err(error) => {
                tracing::error!(run_id = %state.run_id, %error, "failed to store the final checkpoint; the next run may repeat this run's pages");
                state.issue(
                    None,
                    format!("failed to store the final checkpoint: {error}"),
                );
                return RunStatus::CycleContinues;
            }
        }

        if cycle_done {
            RunStatus::CycleComplete
        } else {
            RunStatus::CycleContinues
        }
    }
}

/// Returns whether a failed check was caused by AWS or the platform rather than by the
/// customer's role or bucket. Recording such a result would announce a change that did not
/// happen, so it is reported as not checked instead.
fn is_inconclusive(failure: &HealthFailure) -> bool {
    const NOT_CAUSED_BY_CONFIGURATION: [&str; 8] = [
        error_code::THROTTLING,
        error_code::TIMEOUT,
        error_code::DEADLINE_EXCEEDED,
        error_code::CONNECTION_ERROR,
        error_code::SERVICE_UNAVAILABLE,
        error_code::INVALID_RESPONSE,
        error_code::INVALID_CREDENTIALS,
        error_code::INTERNAL_ERROR,
    ];
    failure
        .error_code
        .as_deref()
        .is_some_and(|code| NOT_CAUSED_BY_CONFIGURATION.contains(&code))
}

/// Renders an error with its sources, which is what an operator needs to act on it.
fn describe(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
