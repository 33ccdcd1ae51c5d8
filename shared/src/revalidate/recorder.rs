//! Recording one test result: compute the new health from the stored one, store it with a
//! compare-and-set write, and announce a state change exactly when this write made it.

use super::outbox::{Delivery, Outbox};
use super::transition::{detect_change, HealthChanged};
use crate::domain::{EndpointId, Health, HealthFailure, TenantId};
use crate::store::{EndpointStore, HealthSwap, PendingEvent, StoreError};
use std::sync::Arc;
use time::OffsetDateTime;

/// Compare-and-set attempts before giving up on an endpoint whose health keeps changing.
/// Each conflict means another writer stored a result in between. That is rare, because the
/// checkpoint lease serializes runs, so only an on-demand test can interleave.
const MAX_SWAP_ATTEMPTS: u32 = 4;

/// The stored outcome of one test result.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The new health was stored. `change` is the state change this write made, if any, and
    /// `delivery` counts its event as published or left pending.
    Stored {
        health: Health,
        change: Option<Box<HealthChanged>>,
        delivery: Delivery,
    },
    /// A result checked at the same time or later is stored, so this one was dropped.
    Superseded,
    /// The endpoint was deleted after the scan read it.
    EndpointDeleted,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("failed to store the health")]
    Store(#[from] StoreError),

    #[error("the stored health changed during each of {MAX_SWAP_ATTEMPTS} write attempts")]
    Contended,

    #[error("failed to encode the health change event")]
    Encode(#[from] serde_json::Error),
}

#[derive(Clone)]
pub struct HealthRecorder {
    store: Arc<dyn EndpointStore>,
    outbox: Outbox,
}

impl HealthRecorder {
    pub fn new(store: Arc<dyn EndpointStore>, outbox: Outbox) -> Self {
        Self { store, outbox }
    }

    /// Stores the health after a test that ran at `checked_at`, computed from `expected` (the
    /// stored health as last read). When another writer stored a health in between, the new
    /// health is computed again from that one, so failure counts and first-failure times stay
    /// consistent and only the write that really changed the state stores an event.
    pub async fn record(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        expected: Option<Health>,
        checked_at: OffsetDateTime,
        failure: Option<HealthFailure>,
    ) -> Result<Recorded, RecordError> {
        let mut expected = expected;
        for _ in 0..MAX_SWAP_ATTEMPTS {
            if is_newer_or_same(expected.as_ref(), checked_at) {
                return Ok(Recorded::Superseded);
            }

            let health = Health::after(expected.as_ref(), checked_at, failure.clone());
            let change = detect_change(tenant, id, expected.as_ref(), &health);
            let event = change
                .as_ref()
                .map(|change| pending_event(change, checked_at))
                .transpose()?;

            let swap = self
                .store
                .swap_health(tenant, id, expected.as_ref(), &health, event.as_ref())
                .await;
            match swap {
                Ok(HealthSwap::Swapped) => {
                    let delivery = match event {
                        Some(event) => self.outbox.deliver(vec![event]).await,
                        None => Delivery::default(),
                    };
                    return Ok(Recorded::Stored {
                        health,
                        change: change.map(Box::new),
                        delivery,
                    });
                }
                Ok(HealthSwap::Conflict { current }) => {
                    tracing::debug!("stored health changed since it was read; computing again");
                    expected = current;
                }
                Err(StoreError::NotFound(_)) => return Ok(Recorded::EndpointDeleted),
                Err(error) => return Err(error.into()),
            }
        }
        Err(RecordError::Contended)
    }
}

fn is_newer_or_same(stored: Option<&Health>, checked_at: OffsetDateTime) -> bool {
    stored.is_some_and(|health| health.last_checked_at >= checked_at)
}

fn pending_event(
    change: &HealthChanged,
    created_at: OffsetDateTime,
) -> Result<PendingEvent, serde_json::Error> {
    Ok(PendingEvent {
        id: change.transition_id.clone(),
        tenant: change.tenant.clone(),
        endpoint_id: change.endpoint_id.clone(),
        detail: serde_json::to_string(change)?,
        created_at,
    })
}
