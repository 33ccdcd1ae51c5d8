//! [`EndpointStore`] on one DynamoDB table, defined in [`super::schema`].
//!
//! # Items
//!
//! Every item has partition key `pk = TENANT#<tenant>`, so one tenant's data is one item
//! collection, and a `kind` attribute.
//!
//! | sort key `sk` | kind | content |
//! | --- | --- | --- |
//! | `ENDPOINT#<id>` | `endpoint` | the endpoint's configuration, plus `gsi1pk = TENANT#<tenant>#MODE#<mode>` and `gsi1sk = ENDPOINT#<id>` for the `ByMode` index. Written once with `attribute_not_exists(pk)`; no code path updates it. |
//! | `HEALTH#<id>` | `health` | the latest health, and `checked_at` in epoch milliseconds. Written only when `checked_at` is newer than the stored one. |
//! | `EXTERNAL_ID` | `external_id` | the tenant's External ID. Written once. |
//! | `BUCKET#<bucket>` | `bucket_claims` | `claims`, a map of endpoint id to claimed prefix, and `version`, which grows by one with each change. Never deleted. |
//! | `NAME#<lowercased name>` | `name_claim` | the id of the endpoint that has the name. |
//! | `IDEMPOTENCY#<SHA-256 of key>` | `idempotency` | request hash, state, stored response and `expires_at` (epoch seconds) for TTL. |
//!
//! Revalidation's items are in partition `pk = REVALIDATION` instead: its checkpoint
//! (`sk = CHECKPOINT`, no `kind`) and the events of health changes that EventBridge has not
//! accepted yet (`sk = PENDING_EVENT#<created_at>#<id>`, kind `pending_event`, see
//! `health_events.rs`).
//!
//! # Consistency
//!
//! A create reads the bucket's claims with a consistent read, checks the new prefix against
//! them with [`Prefix::conflicts_with`](crate::domain::Prefix::conflicts_with), and writes the
//! endpoint, the claims (on condition that `version` is still the one read) and the name claim
//! in one transaction. A writer that lost the race reads again and checks again, so two
//! conflicting prefixes never both commit. A delete removes the endpoint, its name claim, its
//! entry in the claims and its health in one transaction. Nothing is ever half-written.
//!
//! # Retries and timeouts
//!
//! The SDK retries each call as [`ClientSettings`] configures it, within its operation timeout.
//! Writes also run in the store's loop ([`RetryPolicy`]), which retries lost races, throttling
//! and transaction conflicts that outlasted the SDK's retries, and then gives up with
//! [`StoreError::Unavailable`]. A call that timed out is not retried by the loop.

mod client;
mod endpoints;
mod errors;
mod health;
mod health_events;
mod items;
mod keys;
mod listing;
mod retry;
mod tenant;

pub use client::ClientSettings;
pub use health_events::REVALIDATION_PK;
pub use listing::MAX_SCAN_LIMIT;
pub use retry::RetryPolicy;

use super::{
    EndpointPage, EndpointStore, HealthSwap, HealthWrite, IdempotencyClaim, ListQuery,
    PendingEvent, ScanPage, StoreError, StoredResponse,
};
use crate::clock::{Clock, SystemClock};
use crate::domain::{Endpoint, EndpointId, ExternalId, Health, TenantId};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;

/// The DynamoDB implementation of [`EndpointStore`].
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl DynamoStore {
    /// Creates a store on `table_name`. Build `client` with [`ClientSettings`] so that calls
    /// time out; a client with the SDK's defaults may wait far longer for a silent DynamoDB.
    pub fn new(client: Client, table_name: String) -> Self {
        Self {
            client,
            table: table_name,
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the bounds of the store's own retry loop.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the clock that decides when idempotency records have expired.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl EndpointStore for DynamoStore {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        endpoints::create(self, endpoint).await
    }

    async fn get_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<Endpoint>, StoreError> {
        endpoints::get(self, tenant, id).await
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        query: &ListQuery,
    ) -> Result<EndpointPage, StoreError> {
        listing::list(self, tenant, query).await
    }

    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Endpoint, StoreError> {
        endpoints::delete(self, tenant, id).await
    }

    async fn get_or_create_external_id(
        &self,
        tenant: &TenantId,
        candidate: ExternalId,
    ) -> Result<ExternalId, StoreError> {
        tenant::get_or_create_external_id(self, tenant, candidate).await
    }

    async fn record_health(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        health: &Health,
    ) -> Result<HealthWrite, StoreError> {
        health::record(self, tenant, id, health).await
    }

    async fn get_health(
        &self,
        tenant: &TenantId,
        ids: &[EndpointId],
    ) -> Result<HashMap<EndpointId, Health>, StoreError> {
        health::get(self, tenant, ids).await
    }

    async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        request_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<IdempotencyClaim, StoreError> {
        tenant::claim_idempotency_key(self, tenant, key, request_hash, expires_at).await
    }

    async fn complete_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        tenant::complete_idempotency_key(self, tenant, key, response).await
    }

    async fn release_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<(), StoreError> {
        tenant::release_idempotency_key(self, tenant, key).await
    }

    async fn swap_health(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        expected: Option<&Health>,
        health: &Health,
        event: Option<&PendingEvent>,
    ) -> Result<HealthSwap, StoreError> {
        health_events::swap(self, tenant, id, expected, health, event).await
    }

    async fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
        health_events::pending(self, limit).await
    }

    async fn delete_pending_event(&self, event: &PendingEvent) -> Result<(), StoreError> {
        health_events::delete(self, event).await
    }

    async fn scan_endpoints(
        &self,
        segment: u32,
        total_segments: u32,
        position: Option<&str>,
        limit: u32,
    ) -> Result<ScanPage, StoreError> {
        listing::scan(self, segment, total_segments, position, limit).await
    }
}

impl DynamoStore {
    /// Reads one item, with a strongly consistent read when `consistent` is true.
    async fn get_item(
        &self,
        operation: &'static str,
        key: &keys::Key,
        consistent: bool,
    ) -> Result<Option<items::Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::to_item(key, "key")?))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|error| errors::unexpected(operation, errors::classify(error)))?;
        Ok(output.item)
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

/// Turns a request builder's error, which only a missing required field causes, into a store
/// error.
fn built<T>(result: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    result.map_err(|error| StoreError::Unavailable(Box::new(error)))
}
