//! Per-tenant records: the External ID and idempotency records.

use super::errors::{classify, unexpected, Failure};
use super::items::{
    self, ExternalIdItem, IdempotencyItem, IdempotencyState, Item, ItemKind, ResponseAttribute,
};
use super::keys::{self, Key};
use super::retry::{self, Attempt};
use super::DynamoStore;
use crate::domain::{ExternalId, TenantId};
use crate::store::{IdempotencyClaim, StoreError, StoredResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use time::OffsetDateTime;

pub(super) async fn get_or_create_external_id(
    store: &DynamoStore,
    tenant: &TenantId,
    candidate: ExternalId,
) -> Result<ExternalId, StoreError> {
    let key = Key {
        pk: keys::tenant_pk(tenant),
        sk: keys::EXTERNAL_ID_SK.to_owned(),
    };

    // Every tenant but a new one has an External ID, so a read first saves a failed write.
    if let Some(stored) = read_external_id(store, &key).await? {
        return Ok(stored);
    }

    let item = ExternalIdItem {
        pk: key.pk.clone(),
        sk: key.sk.clone(),
        kind: ItemKind::ExternalId,
        external_id: candidate.clone(),
        created_at: store.now(),
    };
    let item = items::to_item(&item, "External ID")?;
    retry::run(&store.retry, "create External ID", tenant.as_str(), || {
        attempt_create_external_id(store, &key, &item, &candidate)
    })
    .await
}

async fn attempt_create_external_id(
    store: &DynamoStore,
    key: &Key,
    item: &Item,
    candidate: &ExternalId,
) -> Result<Attempt<ExternalId>, StoreError> {
    let result = store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(item.clone()))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;

    let failure = match result {
        Ok(_) => return Ok(Attempt::Done(candidate.clone())),
        Err(error) => classify(error),
    };
    match failure {
        // A concurrent first request stored its candidate first; everyone returns that one.
        Failure::ConditionFailed => match read_external_id(store, key).await? {
            Some(stored) => Ok(Attempt::Done(stored)),
            None => Ok(Attempt::Retry {
                reason: "External ID item was removed after a failed create".to_owned(),
            }),
        },
        Failure::Retryable { code } => Ok(Attempt::Retry { reason: code }),
        other => Err(unexpected("create External ID", other)),
    }
}

async fn read_external_id(
    store: &DynamoStore,
    key: &Key,
) -> Result<Option<ExternalId>, StoreError> {
    let Some(item) = store.get_item("read External ID", key, true).await? else {
        return Ok(None);
    };
    let item: ExternalIdItem = items::from_item(item, "External ID")?;
    Ok(Some(item.external_id))
}

fn idempotency_key(tenant: &TenantId, key: &str) -> Key {
    Key {
        pk: keys::tenant_pk(tenant),
        sk: keys::idempotency_sk(key),
    }
}

fn epoch_seconds(time: OffsetDateTime) -> AttributeValue {
    AttributeValue::N(time.unix_timestamp().to_string())
}

pub(super) async fn claim_idempotency_key(
    store: &DynamoStore,
    tenant: &TenantId,
    key: &str,
    request_hash: &str,
    expires_at: OffsetDateTime,
) -> Result<IdempotencyClaim, StoreError> {
    let item_key = idempotency_key(tenant, key);
    let item = IdempotencyItem {
        pk: item_key.pk.clone(),
        sk: item_key.sk.clone(),
        kind: ItemKind::Idempotency,
        request_hash: request_hash.to_owned(),
        state: IdempotencyState::InProgress,
        response: None,
        expires_at: expires_at.unix_timestamp(),
    };
    let item = items::to_item(&item, "idempotency record")?;

    retry::run(
        &store.retry,
        "claim idempotency key",
        tenant.as_str(),
        || attempt_claim(store, &item_key, &item),
    )
    .await
}

async fn attempt_claim(
    store: &DynamoStore,
    key: &Key,
    item: &Item,
) -> Result<Attempt<IdempotencyClaim>, StoreError> {
    // TTL deletes expired items only eventually, so an expired record counts as absent.
    let now = store.now();
    let result = store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(item.clone()))
        .condition_expression("attribute_not_exists(pk) OR #expires_at <= :now")
        .expression_attribute_names("#expires_at", "expires_at")
        .expression_attribute_values(":now", epoch_seconds(now))
        .send()
        .await;

    let failure = match result {
        Ok(_) => return Ok(Attempt::Done(IdempotencyClaim::Claimed)),
        Err(error) => classify(error),
    };
    match failure {
        Failure::ConditionFailed => read_claim(store, key, now).await,
        Failure::Retryable { code } => Ok(Attempt::Retry { reason: code }),
        other => Err(unexpected("claim idempotency key", other)),
    }
}

/// Reads the record that made a claim fail. A record that is gone or expired by now was
/// released or timed out in between, so the claim is tried again.
async fn read_claim(
    store: &DynamoStore,
    key: &Key,
    now: OffsetDateTime,
) -> Result<Attempt<IdempotencyClaim>, StoreError> {
    let stored = store.get_item("read idempotency record", key, true).await?;
    let stored = match stored {
        Some(item) => items::from_item::<IdempotencyItem>(item, "idempotency record")?,
        None => {
            return Ok(Attempt::Retry {
                reason: "idempotency record was released".to_owned(),
            })
        }
    };
    if stored.expires_at <= now.unix_timestamp() {
        return Ok(Attempt::Retry {
            reason: "idempotency record expired".to_owned(),
        });
    }

    let claim = match (stored.state, stored.response) {
        (IdempotencyState::InProgress, _) => IdempotencyClaim::InProgress {
            request_hash: stored.request_hash,
        },
        (IdempotencyState::Completed, Some(response)) => IdempotencyClaim::Completed {
            request_hash: stored.request_hash,
            response: response.into(),
        },
        (IdempotencyState::Completed, None) => {
            return Err(items::corrupt(
                &key.pk,
                &key.sk,
                "it is completed but has no response",
            ))
        }
    };
    Ok(Attempt::Done(claim))
}

pub(super) async fn complete_idempotency_key(
    store: &DynamoStore,
    tenant: &TenantId,
    key: &str,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    let item_key = items::to_item(&idempotency_key(tenant, key), "key")?;
    let response = items::to_value(&ResponseAttribute::from(response), "response")?;

    // NOTE: a request that outlived its record's expiry may complete the record of a newer
    // request that claimed the key after it. Expiry times far above request durations, which
    // the caller chooses, keep this from happening.
    retry::run(
        &store.retry,
        "complete idempotency key",
        tenant.as_str(),
        || attempt_complete(store, tenant, &item_key, &response),
    )
    .await
}

async fn attempt_complete(
    store: &DynamoStore,
    tenant: &TenantId,
    key: &Item,
    response: &AttributeValue,
) -> Result<Attempt<()>, StoreError> {
    let result = store
        .client
        .update_item()
        .table_name(&store.table)
        .set_key(Some(key.clone()))
        .update_expression("SET #state = :completed, #response = :response")
        .condition_expression("#state = :in_progress AND #expires_at > :now")
        .set_expression_attribute_names(Some(state_names()))
        .expression_attribute_names("#response", "response")
        .expression_attribute_names("#expires_at", "expires_at")
        .expression_attribute_values(":completed", state_value(IdempotencyState::Completed))
        .expression_attribute_values(":in_progress", state_value(IdempotencyState::InProgress))
        .expression_attribute_values(":response", response.clone())
        .expression_attribute_values(":now", epoch_seconds(store.now()))
        .send()
        .await;

    let failure = match result {
        Ok(_) => return Ok(Attempt::Done(())),
        Err(error) => classify(error),
    };
    match failure {
        Failure::ConditionFailed => {
            tracing::warn!(
                tenant = tenant.as_str(),
                "idempotency key was no longer claimed when its request completed; its response will not be replayed"
            );
            Ok(Attempt::Done(()))
        }
        Failure::Retryable { code } => Ok(Attempt::Retry { reason: code }),
        other => Err(unexpected("complete idempotency key", other)),
    }
}

pub(super) async fn release_idempotency_key(
    store: &DynamoStore,
    tenant: &TenantId,
    key: &str,
) -> Result<(), StoreError> {
    let item_key = items::to_item(&idempotency_key(tenant, key), "key")?;
    retry::run(
        &store.retry,
        "release idempotency key",
        tenant.as_str(),
        || attempt_release(store, tenant, &item_key),
    )
    .await
}

async fn attempt_release(
    store: &DynamoStore,
    tenant: &TenantId,
    key: &Item,
) -> Result<Attempt<()>, StoreError> {
    // Only a claim still in progress is released; a completed record keeps its response.
    let result = store
        .client
        .delete_item()
        .table_name(&store.table)
        .set_key(Some(key.clone()))
        .condition_expression("#state = :in_progress")
        .set_expression_attribute_names(Some(state_names()))
        .expression_attribute_values(":in_progress", state_value(IdempotencyState::InProgress))
        .send()
        .await;

    let failure = match result {
        Ok(_) => return Ok(Attempt::Done(())),
        Err(error) => classify(error),
    };
    match failure {
        Failure::ConditionFailed => {
            tracing::debug!(
                tenant = tenant.as_str(),
                "idempotency key was already released or completed"
            );
            Ok(Attempt::Done(()))
        }
        Failure::Retryable { code } => Ok(Attempt::Retry { reason: code }),
        other => Err(unexpected("release idempotency key", other)),
    }
}

fn state_names() -> HashMap<String, String> {
    HashMap::from([("#state".to_owned(), "state".to_owned())])
}

fn state_value(state: IdempotencyState) -> AttributeValue {
    AttributeValue::S(state.as_str().to_owned())
}
