//! One revalidation run: claim the checkpoint, redeliver leftover events, scan the segments
//! in parallel and test their endpoints with bounded concurrency, then store the checkpoint.

use super::budget::{Budget, TimeLimits};
use super::checkpoint::{
    claim, Checkpoint, CheckpointError, CheckpointState, CheckpointStore, Claim, Cycle,
    SegmentProgress,
};
use super::outbox::Outbox;
use super::publish::EventPublisher;
use super::recorder::HealthRecorder;
use super::report::{RunIssue, RunReport, RunStatus, Tally};
use super::trigger::RunRequest;
use crate::check::ConnectionTester;
use crate::clock::Clock;
use crate::store::EndpointStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

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
    pub(super) services: Services,
    pub(super) recorder: HealthRecorder,
    outbox: Outbox,
    pub(super) settings: Settings,
}

/// State shared by the tasks of one run.
pub(super) struct RunState {
    pub(super) run_id: String,
    pub(super) budget: Budget,
    pub(super) tester: Arc<dyn ConnectionTester>,
    pub(super) permits: Semaphore,
    pub(super) tally: Mutex<Tally>,
    pub(super) progress: tokio::sync::Mutex<Checkpoint>,
    pub(super) checkpoint_lost: AtomicBool,
}

impl RunState {
    pub(super) fn should_stop(&self) -> bool {
        self.checkpoint_lost.load(Ordering::Relaxed)
    }

    pub(super) fn update(&self, change: impl FnOnce(&mut Tally)) {
        // A poisoned lock only means another task panicked mid-update; the counts stay usable.
        let mut tally = match self.tally.lock() {
            Ok(tally) => tally,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut tally);
    }

    pub(super) fn issue(&self, segment: Option<u32>, message: String) {
        self.update(|tally| tally.issues.push(RunIssue { segment, message }));
    }
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

        let Some(checkpoint) = self
            .claim_checkpoint(run_id, &budget, request.restart)
            .await?
        else {
            let tally = Tally::default();
            let status = RunStatus::SkippedBusy;
            return Ok(RunReport::new(run_id, &request.source, status, tally, 0));
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

    /// Claims the checkpoint for this run. Returns the claimed checkpoint, or `None` when
    /// another run has claimed it.
    async fn claim_checkpoint(
        &self,
        run_id: &str,
        budget: &Budget,
        restart: bool,
    ) -> Result<Option<Checkpoint>, RunError> {
        // A lost race means another run stored its claim between our read and write, so the
        // second attempt reads that claim and skips.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_claim(run_id, budget, restart).await {
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
        budget: &Budget,
        restart: bool,
    ) -> Result<Option<Checkpoint>, CheckpointError> {
        let current = self.services.checkpoints.load().await?;
        let now = self.services.clock.now();
        let lease_until =
            now + budget.remaining(Instant::now()) + self.settings.limits.wrap_up_reserve;

        let state = match claim(
            &current.state,
            run_id,
            now,
            lease_until,
            restart,
            self.settings.scan_segments.max(1),
        ) {
            Claim::Granted(state) => state,
            Claim::Busy(lease) => {
                tracing::info!(run_id, holder = %lease.owner, expires_at = %lease.expires_at, "skipped the run because another revalidation run has claimed the checkpoint");
                return Ok(None);
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
        Ok(Some(claimed))
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

    /// Records that `segment` finished a page and continues at `next`. Returns `false` when
    /// another run took the checkpoint, which stops every segment of this run.
    pub(super) async fn advance(
        &self,
        state: &RunState,
        segment: u32,
        next: Option<String>,
    ) -> bool {
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

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
