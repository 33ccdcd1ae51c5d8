//! Delivery of pending events: publish, then delete each event EventBridge accepted.
//!
//! An event is stored in the same transaction as the health change it announces (see
//! [`EndpointStore::swap_health`]), so a change is never stored without its event. An event
//! stays stored until EventBridge accepts it and the delete succeeds. A failed entry, a failed
//! request or a crash in between leaves the event for [`Outbox::redeliver`] in a later run.
//! Delivery is therefore at least once: an event is sent twice only when the process stops, or
//! the delete fails, after EventBridge accepted it. Subscribers drop such a copy by its
//! `transition_id`.

use super::publish::{EntryOutcome, EventPublisher, MAX_ENTRIES_PER_REQUEST};
use crate::store::{EndpointStore, PendingEvent, StoreError};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Requests per batch of events: the first one and two retries of the entries that failed.
const MAX_PUBLISH_ATTEMPTS: u32 = 3;

/// The wait before the first retry of failed entries, doubled for each further retry.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(200);

/// Maximum number of leftover events that one redelivery pass reads from the store.
const REDELIVERY_PAGE_SIZE: u32 = 100;

/// The outcome of handing events to the outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub published: u64,
    /// Events still stored, for a later run.
    pub pending: u64,
}

impl Delivery {
    fn add(&mut self, other: Delivery) {
        self.published += other.published;
        self.pending += other.pending;
    }
}

#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn EndpointStore>,
    publisher: Arc<dyn EventPublisher>,
}

impl Outbox {
    pub fn new(store: Arc<dyn EndpointStore>, publisher: Arc<dyn EventPublisher>) -> Self {
        Self { store, publisher }
    }

    /// Publishes `events` and deletes each one EventBridge accepted.
    pub async fn deliver(&self, events: Vec<PendingEvent>) -> Delivery {
        let mut delivery = Delivery::default();
        for batch in events.chunks(MAX_ENTRIES_PER_REQUEST) {
            delivery.add(self.deliver_batch(batch.to_vec()).await);
        }
        delivery
    }

    /// Publishes the events that earlier runs stored but did not deliver. Events younger than
    /// `min_age` are left alone, because the run that stored them may still be publishing them.
    /// Stops at `stop_at` or when a pass delivers nothing, so a bus that rejects everything
    /// cannot keep the run here.
    pub async fn redeliver(
        &self,
        now: OffsetDateTime,
        min_age: Duration,
        stop_at: tokio::time::Instant,
    ) -> Result<Delivery, StoreError> {
        let mut delivery = Delivery::default();
        loop {
            let stored = self.store.pending_events(REDELIVERY_PAGE_SIZE).await?;
            let page_was_full = stored.len() == REDELIVERY_PAGE_SIZE as usize;
            let due: Vec<PendingEvent> = stored
                .into_iter()
                .filter(|event| now - event.created_at >= min_age)
                .collect();
            if due.is_empty() {
                return Ok(delivery);
            }

            let pass = self.deliver(due).await;
            delivery.add(pass);
            let more_may_follow = page_was_full && pass.published > 0;
            if !more_may_follow || tokio::time::Instant::now() >= stop_at {
                return Ok(delivery);
            }
        }
    }

    async fn deliver_batch(&self, mut remaining: Vec<PendingEvent>) -> Delivery {
        let mut delivery = Delivery::default();
        for attempt in 0..MAX_PUBLISH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(FIRST_RETRY_DELAY * 2u32.pow(attempt - 1)).await;
            }

            let outcomes = match self.publisher.publish(&remaining).await {
                Ok(outcomes) => outcomes,
                Err(error) => {
                    tracing::warn!(error = %error, source = ?std::error::Error::source(&error), events = remaining.len(), "failed to publish health change events; they stay pending");
                    break;
                }
            };

            let mut rejected = Vec::new();
            for (event, outcome) in remaining.into_iter().zip(outcomes) {
                match outcome {
                    EntryOutcome::Accepted => {
                        self.forget(&event).await;
                        delivery.published += 1;
                    }
                    EntryOutcome::Rejected { code, message } => {
                        tracing::warn!(tenant = %event.tenant, endpoint_id = %event.endpoint_id, transition_id = %event.id, attempt, %code, %message, "EventBridge rejected a health change event");
                        rejected.push(event);
                    }
                }
            }
            remaining = rejected;
            if remaining.is_empty() {
                break;
            }
        }
        delivery.pending += remaining.len() as u64;
        delivery
    }

    /// Deletes a published event. A failed delete only risks one duplicate delivery later, so
    /// it is logged and not retried here.
    async fn forget(&self, event: &PendingEvent) {
        if let Err(error) = self.store.delete_pending_event(event).await {
            tracing::warn!(tenant = %event.tenant, endpoint_id = %event.endpoint_id, transition_id = %event.id, %error, "failed to delete a published event; a later run will send it again");
        }
    }
}
