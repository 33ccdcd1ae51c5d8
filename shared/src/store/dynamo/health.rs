//! Newer-only health writes and batched health reads.

use super::errors::{classify, unexpected, Failure};
use super::items::{self, HealthItem, Item};
use super::keys::{self, Key};
use super::retry::{self, Attempt};
use super::{built, DynamoStore};
use crate::domain::{EndpointId, Health, TenantId};
use crate::store::{HealthWrite, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use std::collections::{BTreeSet, HashMap};

/// DynamoDB's maximum number of keys in one BatchGetItem request.
const MAX_BATCH_GET_KEYS: usize = 100;

pub(super) async fn record(
    store: &DynamoStore,
    tenant: &TenantId,
    id: &EndpointId,
    health: &Health,
) -> Result<HealthWrite, StoreError> {
    let item = HealthItem::new(tenant, id, health);
    let checked_at = AttributeValue::N(item.checked_at.to_string());
    let item = items::to_item(&item, "health")?;

    // NOTE: nothing stops a test that finishes after its endpoint was deleted from writing a
    // health item again. Such an item is never read, because health is only read for listed
    // endpoints, but it stays in the table. And when an attempt times out after DynamoDB
    // stored the health, the SDK's retry fails the condition on that very write and returns
    // `Stale`, so that one transition goes unreported.
    retry::run(&store.retry, "record health", id.as_str(), || {
        attempt_record(store, &item, &checked_at)
    })
    .await
}

async fn attempt_record(
    store: &DynamoStore,
    item: &Item,
    checked_at: &AttributeValue,
) -> Result<Attempt<HealthWrite>, StoreError> {
    let result = store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(item.clone()))
        .condition_expression("attribute_not_exists(pk) OR #checked_at < :checked_at")
        .expression_attribute_names("#checked_at", "checked_at")
        .expression_attribute_values(":checked_at", checked_at.clone())
        .return_values(ReturnValue::AllOld)
        .send()
        .await;

    let failure = match result {
        Ok(output) => {
            let previous = previous_health(output.attributes);
            return Ok(Attempt::Done(HealthWrite::Written { previous }));
        }
        Err(error) => classify(error),
    };
    match failure {
        Failure::ConditionFailed => Ok(Attempt::Done(HealthWrite::Stale)),
        Failure::Retryable { code } => Ok(Attempt::Retry { reason: code }),
        other => Err(unexpected("record health", other)),
    }
}

/// Reads the health that a write replaced. The new health is already stored, so an invalid
/// old item is logged (by [`items::from_item`]) and reported as no previous health rather than
/// as a failed write.
fn previous_health(old: Option<Item>) -> Option<Health> {
    let old = old.filter(|old| !old.is_empty())?;
    let old: HealthItem = items::from_item(old, "health").ok()?;
    Some(old.health)
}

pub(super) async fn get(
    store: &DynamoStore,
    tenant: &TenantId,
    ids: &[EndpointId],
) -> Result<HashMap<EndpointId, Health>, StoreError> {
    let unique: BTreeSet<&EndpointId> = ids.iter().collect();
    let keys = unique
        .into_iter()
        .map(|id| {
            let key = Key {
                pk: keys::tenant_pk(tenant),
                sk: keys::health_sk(id),
            };
            items::to_item(&key, "key")
        })
        .collect::<Result<Vec<Item>, StoreError>>()?;

    let mut found = HashMap::new();
    for chunk in keys.chunks(MAX_BATCH_GET_KEYS) {
        batch_get(store, tenant, chunk.to_vec(), &mut found).await?;
    }
    Ok(found)
}

/// Reads one batch of health items, reading again the keys that DynamoDB left unprocessed,
/// which it does when throttled.
async fn batch_get(
    store: &DynamoStore,
    tenant: &TenantId,
    keys: Vec<Item>,
    found: &mut HashMap<EndpointId, Health>,
) -> Result<(), StoreError> {
    let mut pending = keys;
    let mut attempt = 1;
    loop {
        let request = built(KeysAndAttributes::builder().set_keys(Some(pending)).build())?;
        let mut output = store
            .client
            .batch_get_item()
            .request_items(&store.table, request)
            .send()
            .await
            .map_err(|error| unexpected("get health", classify(error)))?;

        let stored = output
            .responses
            .as_mut()
            .and_then(|responses| responses.remove(&store.table))
            .unwrap_or_default();
        for item in stored {
            let (id, health) = parse_health(tenant, item)?;
            found.insert(id, health);
        }

        pending = output
            .unprocessed_keys
            .and_then(|mut unprocessed| unprocessed.remove(&store.table))
            .map(|request| request.keys)
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok(());
        }
        let reason = format!("{} keys unprocessed", pending.len());
        retry::pause(&store.retry, "get health", tenant.as_str(), attempt, reason).await?;
        attempt += 1;
    }
}

fn parse_health(tenant: &TenantId, item: Item) -> Result<(EndpointId, Health), StoreError> {
    let item: HealthItem = items::from_item(item, "health")?;
    let expected_sk = keys::health_sk(&item.endpoint_id);
    if item.pk != keys::tenant_pk(tenant) || item.sk != expected_sk {
        return Err(items::corrupt(
            &item.pk,
            &item.sk,
            "its keys do not match its tenant and endpoint id",
        ));
    }
    Ok((item.endpoint_id, item.health))
}
