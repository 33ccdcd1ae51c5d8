//! The work of a run once it has claimed the checkpoint: scan the segments in parallel, test
//! each page's endpoints under the run's concurrency limit, and record each result.

use super::checkpoint::SegmentProgress;
use super::recorder::{RecordError, Recorded};
use super::report::{ErrorExample, ErrorReason};
use super::run::{Revalidator, RunState};
use crate::check::{error_code, TestRequest};
use crate::domain::{Endpoint, EndpointId, Health, HealthFailure, TenantId};
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, HashMap};
use tokio::time::Instant;
use tracing::Instrument;

/// Whether every endpoint of a page was handled, so the segment may move past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndpointOutcome {
    Handled,
    Deferred,
}

impl Revalidator {
    pub(super) async fn scan_all_segments(&self, state: &RunState) {
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
        // Held for the test only, so that `concurrency` bounds calls to customer accounts
        // across all segments while the health write to the table overlaps the next test. The
        // page waits for every write before its checkpoint. The semaphore is never closed.
        let Ok(permit) = state.permits.acquire().await else {
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
        let tested = tokio::time::timeout(limit, state.tester.test(&request)).await;
        drop(permit);
        let Ok(report) = tested else {
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
