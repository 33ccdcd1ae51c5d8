//! Persistence of endpoints, their health, the tenants' External IDs and idempotency records.
//!
//! The handlers depend on the [`EndpointStore`] trait; [`dynamo`] implements it on one
//! DynamoDB table whose definition is in [`schema`] and in `template.yaml`.

pub mod dynamo;
pub mod schema;

use crate::domain::{AccessMode, Endpoint, EndpointId, ExternalId, Health, Prefix, TenantId};
use async_trait::async_trait;
use std::collections::HashMap;
use time::OffsetDateTime;

/// The most endpoints one list call returns.
pub const MAX_PAGE_SIZE: u32 = 100;

/// Failures of the store, named after the condition that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `name` is the holder's name as saved, which may differ in case from `requested`.
    #[error("an endpoint named {name:?} already exists: {existing}")]
    NameTaken {
        requested: String,
        name: String,
        existing: EndpointId,
    },

    #[error("prefix {prefix:?} conflicts with endpoint {existing} on prefix {existing_prefix:?} of the same bucket")]
    PrefixConflict {
        prefix: Prefix,
        existing: EndpointId,
        existing_prefix: Prefix,
    },

    #[error("an endpoint with id {0} already exists")]
    IdExists(EndpointId),

    #[error("endpoint {0} was not found")]
    NotFound(EndpointId),

    #[error("the pagination cursor is invalid; request the first page again without a cursor")]
    InvalidCursor,

    /// DynamoDB could not be reached, timed out, kept throttling or conflicting after the
    /// bounded retries, or rejected the request. The source error names the cause.
    #[error("the endpoint store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// An argument is outside the range the method accepts, such as a page size of 0. This is
    /// a bug in the caller, not in the client's request.
    #[error("invalid store argument: {0}")]
    InvalidArgument(String),

    /// A stored item failed validation, which means it was written by something else.
    #[error("a stored item is invalid: {0}")]
    Corrupt(String),
}

/// Filters and paging of a list call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only endpoints of this mode; a feature filter becomes the mode it needs.
    pub mode: Option<AccessMode>,
    /// Page size, 1 to [`MAX_PAGE_SIZE`].
    pub limit: u32,
    /// The opaque cursor returned with the previous page.
    pub cursor: Option<String>,
}

/// One page of a tenant's endpoints, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointPage {
    pub endpoints: Vec<Endpoint>,
    /// Present when more endpoints follow; pass it back as [`ListQuery::cursor`].
    pub next_cursor: Option<String>,
}

/// The result of a newer-only health write.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthWrite {
    /// The health was stored; `previous` is what it replaced.
    Written { previous: Option<Health> },
    /// A result checked at the same time or later is already stored, so nothing changed.
    Stale,
}

/// The result of a compare-and-set health write.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthSwap {
    /// The health, and the event if one was given, were stored.
    Swapped,
    /// The stored health was not the expected one, so nothing changed; `current` is what is
    /// stored now.
    Conflict { current: Option<Health> },
}

/// An event recorded in the same write as the health change it announces, and kept until
/// EventBridge accepts it (a transactional outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// Unique per health change; also the event's `transition_id`.
    pub id: String,
    pub tenant: TenantId,
    pub endpoint_id: EndpointId,
    /// The event's `detail`, as JSON text.
    pub detail: String,
    pub created_at: OffsetDateTime,
}

/// A response kept under an `Idempotency-Key`, replayed when the same request comes again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// What the store holds for an `Idempotency-Key` when a request claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key was free and now belongs to this request.
    Claimed,
    /// Another request with this key is still running.
    InProgress { request_hash: String },
    /// A request with this key finished; replay its response if the hashes match.
    Completed {
        request_hash: String,
        response: StoredResponse,
    },
}

/// One page of a scan over every tenant's endpoints, for revalidation.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanPage {
    pub endpoints: Vec<Endpoint>,
    /// Where the next page of this segment starts; `None` when the segment is done.
    pub next_position: Option<String>,
}

#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Stores a new endpoint together with its name claim and its prefix claim on the bucket,
    /// in one transaction. Names and prefixes are claimed per tenant, so a `NameTaken` or
    /// `PrefixConflict` error names an endpoint of `endpoint.tenant`.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError>;

    async fn get_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<Endpoint>, StoreError>;

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        query: &ListQuery,
    ) -> Result<EndpointPage, StoreError>;

    /// Removes an endpoint, its name claim, its prefix claim and its health in one
    /// transaction, and returns what was removed.
    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Endpoint, StoreError>;

    /// Returns the tenant's External ID, storing `candidate` first if the tenant has none.
    /// Concurrent first calls all return the one value that was stored.
    async fn get_or_create_external_id(
        &self,
        tenant: &TenantId,
        candidate: ExternalId,
    ) -> Result<ExternalId, StoreError>;

    /// Stores `health` unless a result checked at the same time or later is already stored.
    async fn record_health(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        health: &Health,
    ) -> Result<HealthWrite, StoreError>;

    /// Returns the stored health of each endpoint in `ids` that has one.
    async fn get_health(
        &self,
        tenant: &TenantId,
        ids: &[EndpointId],
    ) -> Result<HashMap<EndpointId, Health>, StoreError>;

    /// Claims `key` for a request whose canonical form hashes to `request_hash`, or returns
    /// what an earlier request with the same key left.
    async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        request_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<IdempotencyClaim, StoreError>;

    /// Records the response of the request that claimed `key`. When the claim expired or was
    /// released meanwhile, nothing is stored and the call still succeeds, because the request
    /// itself succeeded. Only the replay of its response is lost.
    async fn complete_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;

    /// Frees `key` after its request failed in a way that a retry may fix.
    async fn release_idempotency_key(&self, tenant: &TenantId, key: &str)
        -> Result<(), StoreError>;

    /// Stores `health` only if the stored health is still `expected`, compared by
    /// `last_checked_at` (`None`: no health stored yet), and stores `event` in the same
    /// transaction when given. Returns [`StoreError::NotFound`] when the endpoint is gone.
    async fn swap_health(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        expected: Option<&Health>,
        health: &Health,
        event: Option<&PendingEvent>,
    ) -> Result<HealthSwap, StoreError>;

    /// Returns up to `limit` events stored by [`EndpointStore::swap_health`] and not yet
    /// deleted, oldest first.
    async fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>, StoreError>;

    /// Deletes a pending event after EventBridge accepted it. Deleting an event that is
    /// already gone succeeds.
    async fn delete_pending_event(&self, event: &PendingEvent) -> Result<(), StoreError>;

    /// Returns one page of `segment` (of `total_segments`) of all endpoints of all tenants.
    /// `limit` counts the stored items read, of every kind, before endpoints are picked out,
    /// so a page may hold fewer than `limit` endpoints, or none, while more follow.
    async fn scan_endpoints(
        &self,
        segment: u32,
        total_segments: u32,
        position: Option<&str>,
        limit: u32,
    ) -> Result<ScanPage, StoreError>;
}
