//! Compare-and-set health writes with their pending events, and reads and deletes of those
//! events (a transactional outbox for revalidation's EventBridge events).
//!
//! A swap is one transaction of two or three items. A condition check proves that the
//! endpoint still exists, and the health put requires that the stored `checked_at` is still the
//! expected one. When the write changes the state, the pending event is the third item. Pending events live
//! in partition `REVALIDATION` under sort keys `PENDING_EVENT#<created_at>#<id>`, so one query
//! returns them oldest first. They are written only on state changes, which keeps that one
//! partition far below DynamoDB's per-partition write limit.

use super::errors::{classify, classify_transaction, unexpected, Failure, Reason};
use super::items::{self, epoch_millis, HealthItem, Item, ItemKind};
use super::keys::{self, Key};
use super::retry::{self, Attempt};
use super::{built, DynamoStore};
use crate::domain::{EndpointId, Health, TenantId};
use crate::store::{HealthSwap, PendingEvent, StoreError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The partition of revalidation's own items: its checkpoint and the pending events.
pub const REVALIDATION_PK: &str = "REVALIDATION";

const PENDING_EVENT_SK_PREFIX: &str = "PENDING_EVENT#";

/// Positions of the swap transaction's items, which DynamoDB's cancellation reasons follow.
mod swap_position {
    pub const ENDPOINT: usize = 0;
    pub const HEALTH: usize = 1;
}

/// A health change event that EventBridge has not accepted yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingEventItem {
    pk: String,
    sk: String,
    kind: ItemKind,
    event_id: String,
    tenant: TenantId,
    endpoint_id: EndpointId,
    detail: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl PendingEventItem {
    fn new(event: &PendingEvent) -> Self {
        let key = pending_event_key(event);
        Self {
            pk: key.pk,
            sk: key.sk,
            kind: ItemKind::PendingEvent,
            event_id: event.id.clone(),
            tenant: event.tenant.clone(),
            endpoint_id: event.endpoint_id.clone(),
            detail: event.detail.clone(),
            created_at: event.created_at,
        }
    }

    fn into_event(self) -> PendingEvent {
        PendingEvent {
            id: self.event_id,
            tenant: self.tenant,
            endpoint_id: self.endpoint_id,
            detail: self.detail,
            created_at: self.created_at,
        }
    }
}

/// Builds the key of a pending event. The creation time is zero-padded milliseconds, so that
/// sort keys order events by age.
fn pending_event_key(event: &PendingEvent) -> Key {
    let millis = epoch_millis(event.created_at).max(0);
    Key {
        pk: REVALIDATION_PK.to_owned(),
        sk: format!("{PENDING_EVENT_SK_PREFIX}{millis:020}#{}", event.id),
    }
}

pub(super) async fn swap(
    store: &DynamoStore,
    tenant: &TenantId,
    id: &EndpointId,
    expected: Option<&Health>,
    health: &Health,
    event: Option<&PendingEvent>,
) -> Result<HealthSwap, StoreError> {
    let transaction = swap_transaction(store, tenant, id, expected, health, event)?;
    retry::run(&store.retry, "swap health", id.as_str(), || {
        attempt_swap(store, id, &transaction)
    })
    .await
}

fn swap_transaction(
    store: &DynamoStore,
    tenant: &TenantId,
    id: &EndpointId,
    expected: Option<&Health>,
    health: &Health,
    event: Option<&PendingEvent>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let endpoint_exists = ConditionCheck::builder()
        .table_name(&store.table)
        .set_key(Some(items::to_item(
            &keys::endpoint_key(tenant, id),
            "key",
        )?))
        .condition_expression("attribute_exists(pk)")
        .build();

    let health_item = items::to_item(&HealthItem::new(tenant, id, health), "health")?;
    let new_checked_at = AttributeValue::N(epoch_millis(health.last_checked_at).to_string());
    let put_health = Put::builder()
        .table_name(&store.table)
        .set_item(Some(health_item))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    let put_health = match expected {
        None => put_health.condition_expression("attribute_not_exists(pk)"),
        Some(expected) => put_health
            .condition_expression("#checked_at = :expected AND #checked_at < :checked_at")
            .expression_attribute_names("#checked_at", "checked_at")
            .expression_attribute_values(
                ":expected",
                AttributeValue::N(epoch_millis(expected.last_checked_at).to_string()),
            )
            .expression_attribute_values(":checked_at", new_checked_at),
    };

    let mut transaction = vec![
        TransactWriteItem::builder()
            .condition_check(built(endpoint_exists)?)
            .build(),
        TransactWriteItem::builder()
            .put(built(put_health.build())?)
            .build(),
    ];
    if let Some(event) = event {
        let put_event = Put::builder()
            .table_name(&store.table)
            .set_item(Some(items::to_item(
                &PendingEventItem::new(event),
                "pending event",
            )?))
            .build();
        transaction.push(TransactWriteItem::builder().put(built(put_event)?).build());
    }
    Ok(transaction)
}

async fn attempt_swap(
    store: &DynamoStore,
    id: &EndpointId,
    transaction: &[TransactWriteItem],
) -> Result<Attempt<HealthSwap>, StoreError> {
    // The SDK fills in the transaction's ClientRequestToken, so its own retry of an attempt
    // whose response was lost does not apply the transaction twice.
    let result = store
        .client
        .transact_write_items()
        .set_transact_items(Some(transaction.to_vec()))
        .send()
        .await;

    let failure = match result {
        Ok(_) => return Ok(Attempt::Done(HealthSwap::Swapped)),
        Err(error) => classify_transaction(error),
    };
    match failure {
        Failure::Canceled(reasons) => swap_canceled(id, &reasons),
        Failure::Retryable { code } => Ok(Attempt::Retry { reason: code }),
        other => Err(unexpected("swap health", other)),
    }
}

fn swap_canceled(id: &EndpointId, reasons: &[Reason]) -> Result<Attempt<HealthSwap>, StoreError> {
    if let Some(Reason::ConditionFailed { .. }) = reasons.get(swap_position::ENDPOINT) {
        return Err(StoreError::NotFound(id.clone()));
    }
    if let Some(Reason::ConditionFailed { item }) = reasons.get(swap_position::HEALTH) {
        let current = stored_health(item.clone())?;
        return Ok(Attempt::Done(HealthSwap::Conflict { current }));
    }

    let retryable = reasons.iter().find_map(|reason| match reason {
        Reason::Retryable { code } => Some(code.clone()),
        _ => None,
    });
    match retryable {
        Some(code) => Ok(Attempt::Retry { reason: code }),
        None => Err(unexpected(
            "swap health",
            Failure::Unavailable(format!("transaction canceled: {reasons:?}").into()),
        )),
    }
}

/// Reads the health that failed the swap's condition; no item means no health is stored.
fn stored_health(item: Option<Item>) -> Result<Option<Health>, StoreError> {
    let Some(item) = item.filter(|item| !item.is_empty()) else {
        return Ok(None);
    };
    let item: HealthItem = items::from_item(item, "health")?;
    Ok(Some(item.health))
}

pub(super) async fn pending(
    store: &DynamoStore,
    limit: u32,
) -> Result<Vec<PendingEvent>, StoreError> {
    let output = store
        .client
        .query()
        .table_name(&store.table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(REVALIDATION_PK.to_owned()))
        .expression_attribute_values(
            ":prefix",
            AttributeValue::S(PENDING_EVENT_SK_PREFIX.to_owned()),
        )
        .consistent_read(true)
        .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
        .send()
        .await
        .map_err(|error| unexpected("read pending events", classify(error)))?;

    output
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|item| {
            let item: PendingEventItem = items::from_item(item, "pending event")?;
            Ok(item.into_event())
        })
        .collect()
}

pub(super) async fn delete(store: &DynamoStore, event: &PendingEvent) -> Result<(), StoreError> {
    let key = items::to_item(&pending_event_key(event), "key")?;
    retry::run(&store.retry, "delete pending event", &event.id, || {
        attempt_delete(store, &key)
    })
    .await
}

async fn attempt_delete(store: &DynamoStore, key: &Item) -> Result<Attempt<()>, StoreError> {
    let result = store
        .client
        .delete_item()
        .table_name(&store.table)
        .set_key(Some(key.clone()))
        .send()
        .await;
    match result {
        Ok(_) => Ok(Attempt::Done(())),
        Err(error) => match classify(error) {
            Failure::Retryable { code } => Ok(Attempt::Retry { reason: code }),
            other => Err(unexpected("delete pending event", other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use ulid::Ulid;

    fn event(created_at: OffsetDateTime, id: &str) -> PendingEvent {
        PendingEvent {
            id: id.to_owned(),
            tenant: TenantId::parse("acme").unwrap(),
            endpoint_id: EndpointId::from_ulid(Ulid::from_parts(1, 2)),
            detail: "{}".to_owned(),
            created_at,
        }
    }

    #[test]
    fn pending_event_keys_sort_by_creation_time() {
        let earlier = pending_event_key(&event(datetime!(2026-01-01 00:00 UTC), "b"));
        let later = pending_event_key(&event(datetime!(2026-01-01 00:00:01 UTC), "a"));
        assert_eq!(earlier.pk, REVALIDATION_PK);
        assert!(earlier.sk < later.sk, "{} !< {}", earlier.sk, later.sk);
        assert!(earlier.sk.starts_with(PENDING_EVENT_SK_PREFIX));
        assert!(earlier.sk.ends_with("#b"));
    }

    #[test]
    fn pending_event_item_round_trips() {
        let original = event(datetime!(2026-01-01 00:00 UTC), "change-1");
        let item = items::to_item(&PendingEventItem::new(&original), "pending event").unwrap();
        assert_eq!(item["kind"], AttributeValue::S("pending_event".to_owned()));
        let back: PendingEventItem = items::from_item(item, "pending event").unwrap();
        assert_eq!(back.into_event(), original);
    }

    #[test]
    fn swap_canceled_by_endpoint_check_is_not_found() {
        let id = EndpointId::from_ulid(Ulid::from_parts(1, 2));
        let reasons = [Reason::ConditionFailed { item: None }, Reason::Passed];
        let result = swap_canceled(&id, &reasons);
        assert!(matches!(result, Err(StoreError::NotFound(found)) if found == id));
    }

    #[test]
    fn swap_canceled_by_health_condition_is_conflict() {
        let id = EndpointId::from_ulid(Ulid::from_parts(1, 2));
        let reasons = [Reason::Passed, Reason::ConditionFailed { item: None }];
        let result = swap_canceled(&id, &reasons);
        assert!(matches!(
            result,
            Ok(Attempt::Done(HealthSwap::Conflict { current: None }))
        ));
    }

    #[test]
    fn swap_canceled_by_conflict_is_retried() {
        let id = EndpointId::from_ulid(Ulid::from_parts(1, 2));
        let reasons = [
            Reason::Passed,
            Reason::Retryable {
                code: "TransactionConflict".to_owned(),
            },
        ];
        let result = swap_canceled(&id, &reasons);
        assert!(matches!(result, Ok(Attempt::Retry { .. })));
    }
}
