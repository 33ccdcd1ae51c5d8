//! Creating, reading and deleting endpoints with their name and prefix claims.

use super::errors::{classify_transaction, unexpected, Failure, Reason};
use super::items::{self, BucketClaimsItem, EndpointItem, Item, NameClaimItem};
use super::keys::{self, Key};
use super::retry::{self, Attempt};
use super::{built, DynamoStore};
use crate::domain::{BucketName, Endpoint, EndpointId, TenantId};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use std::collections::HashMap;

/// Condition of an item that must not exist yet.
const NEW_ITEM: &str = "attribute_not_exists(pk)";

/// Positions of the items in the create transaction, which is how DynamoDB's cancellation
/// reasons refer to them.
mod create_position {
    pub const ENDPOINT: usize = 0;
    pub const CLAIMS: usize = 1;
    pub const NAME: usize = 2;
    pub const COUNT: usize = 3;
}

/// Positions of the items in the delete transaction.
mod delete_position {
    pub const ENDPOINT: usize = 0;
    pub const NAME: usize = 1;
    pub const CLAIMS: usize = 2;
    pub const COUNT: usize = 4;
}

pub(super) async fn get(
    store: &DynamoStore,
    tenant: &TenantId,
    id: &EndpointId,
) -> Result<Option<Endpoint>, StoreError> {
    // Consistent, so that a test or delete right after a create finds the endpoint.
    let key = keys::endpoint_key(tenant, id);
    let Some(item) = store.get_item("get endpoint", &key, true).await? else {
        return Ok(None);
    };
    let item: EndpointItem = items::from_item(item, "endpoint")?;
    item.into_endpoint().map(Some)
}

pub(super) async fn create(store: &DynamoStore, endpoint: &Endpoint) -> Result<(), StoreError> {
    let endpoint_item = items::to_item(&EndpointItem::new(endpoint), "endpoint")?;
    let name_item = items::to_item(&NameClaimItem::new(endpoint), "name claim")?;

    retry::run(
        &store.retry,
        "create endpoint",
        endpoint.id.as_str(),
        || attempt_create(store, endpoint, &endpoint_item, &name_item),
    )
    .await
}

async fn attempt_create(
    store: &DynamoStore,
    endpoint: &Endpoint,
    endpoint_item: &Item,
    name_item: &Item,
) -> Result<Attempt<()>, StoreError> {
    let bucket = &endpoint.spec.connection.bucket;
    let claims = read_claims(store, &endpoint.tenant, bucket).await?;
    check_claims(endpoint, claims.as_ref())?;

    let read_version = claims.as_ref().map(|claims| claims.version);
    let mut updated = claims.unwrap_or_else(|| BucketClaimsItem::empty(&endpoint.tenant, bucket));
    updated
        .claims
        .insert(endpoint.id.clone(), endpoint.spec.connection.prefix.clone());
    updated.version = read_version.unwrap_or(0) + 1;

    let transaction = vec![
        put_new(store, endpoint_item.clone())?,
        put_claims(store, &updated, read_version)?,
        put_new(store, name_item.clone())?,
    ];
    let result = store
        .client
        .transact_write_items()
        .set_transact_items(Some(transaction))
        .send()
        .await;

    let failure = match result {
        Ok(_) => return Ok(Attempt::Done(())),
        Err(error) => classify_transaction(error),
    };
    match failure {
        Failure::Canceled(reasons) => create_canceled(store, endpoint, &reasons).await,
        Failure::Retryable { code } => Ok(Attempt::Retry { reason: code }),
        other => Err(unexpected("create endpoint", other)),
    }
}

async fn read_claims(
    store: &DynamoStore,
    tenant: &TenantId,
    bucket: &BucketName,
) -> Result<Option<BucketClaimsItem>, StoreError> {
    let key = Key {
        pk: keys::tenant_pk(tenant),
        sk: keys::bucket_claims_sk(bucket),
    };
    let item = store.get_item("read bucket claims", &key, true).await?;
    item.map(|item| items::from_item(item, "bucket claims"))
        .transpose()
}

/// Rejects an endpoint whose id is already claimed on the bucket, or whose prefix conflicts
/// with a claimed one. Of several conflicting claims, the one with the smallest id is named.
fn check_claims(endpoint: &Endpoint, claims: Option<&BucketClaimsItem>) -> Result<(), StoreError> {
    let Some(claims) = claims else {
        return Ok(());
    };
    if claims.claims.contains_key(&endpoint.id) {
        return Err(StoreError::IdExists(endpoint.id.clone()));
    }

    let prefix = &endpoint.spec.connection.prefix;
    let conflict = claims
        .claims
        .iter()
        .find(|(_, claimed)| prefix.conflicts_with(claimed));
    match conflict {
        Some((existing, existing_prefix)) => Err(StoreError::PrefixConflict {
            prefix: prefix.clone(),
            existing: existing.clone(),
            existing_prefix: existing_prefix.clone(),
        }),
        None => Ok(()),
    }
}

fn put_new(store: &DynamoStore, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = built(
        Put::builder()
            .table_name(&store.table)
            .set_item(Some(item))
            .condition_expression(NEW_ITEM)
            // The stored name claim names the endpoint that has the name.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Replaces the claims item on condition that it is still at `read_version`, or still absent.
fn put_claims(
    store: &DynamoStore,
    claims: &BucketClaimsItem,
    read_version: Option<u64>,
) -> Result<TransactWriteItem, StoreError> {
    let mut put = Put::builder()
        .table_name(&store.table)
        .set_item(Some(items::to_item(claims, "bucket claims")?));
    put = match read_version {
        Some(version) => put
            .condition_expression("#version = :read_version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":read_version", AttributeValue::N(version.to_string())),
        None => put.condition_expression(NEW_ITEM),
    };
    Ok(TransactWriteItem::builder()
        .put(built(put.build())?)
        .build())
}

/// The meaning of a canceled create transaction, read from its reasons by position.
#[derive(Debug, PartialEq)]
enum CreateCanceled {
    IdExists,
    /// The name claim's condition failed; the stored claim, when DynamoDB returned it.
    NameTaken(Option<Item>),
    ClaimsChanged,
    Retry(String),
    Failed(String),
}

fn read_create_reasons(reasons: &[Reason]) -> CreateCanceled {
    if reasons.len() != create_position::COUNT {
        return CreateCanceled::Failed(format!(
            "{} cancellation reasons for {} items",
            reasons.len(),
            create_position::COUNT
        ));
    }
    if let Reason::ConditionFailed { .. } = reasons[create_position::ENDPOINT] {
        return CreateCanceled::IdExists;
    }
    if let Reason::ConditionFailed { item } = &reasons[create_position::NAME] {
        return CreateCanceled::NameTaken(item.clone());
    }
    if let Reason::ConditionFailed { .. } = reasons[create_position::CLAIMS] {
        return CreateCanceled::ClaimsChanged;
    }
    read_other_reasons(reasons)
}

/// Reads reasons that are not failed conditions: a definite failure wins over a retryable one.
fn read_other_reasons(reasons: &[Reason]) -> CreateCanceled {
    let failed = reasons.iter().find_map(|reason| match reason {
        Reason::Failed { code } => Some(code.clone()),
        _ => None,
    });
    if let Some(code) = failed {
        return CreateCanceled::Failed(code);
    }
    let retryable = reasons.iter().find_map(|reason| match reason {
        Reason::Retryable { code } => Some(code.clone()),
        _ => None,
    });
    match retryable {
        Some(code) => CreateCanceled::Retry(code),
        None => CreateCanceled::Failed("canceled with no failed item".to_owned()),
    }
}

async fn create_canceled(
    store: &DynamoStore,
    endpoint: &Endpoint,
    reasons: &[Reason],
) -> Result<Attempt<()>, StoreError> {
    match read_create_reasons(reasons) {
        CreateCanceled::IdExists => Err(StoreError::IdExists(endpoint.id.clone())),
        CreateCanceled::NameTaken(item) => name_taken(store, endpoint, item).await,
        CreateCanceled::ClaimsChanged => Ok(Attempt::Retry {
            reason: "bucket claims changed since they were read".to_owned(),
        }),
        CreateCanceled::Retry(code) => Ok(Attempt::Retry { reason: code }),
        CreateCanceled::Failed(reason) => Err(unexpected(
            "create endpoint",
            Failure::Unavailable(reason.into()),
        )),
    }
}

/// Builds the `NameTaken` error naming the holder of the name, reading the claim when the
/// cancellation did not carry it. A claim that is gone by then was released by a delete, so
/// the create tries again.
async fn name_taken(
    store: &DynamoStore,
    endpoint: &Endpoint,
    item: Option<Item>,
) -> Result<Attempt<()>, StoreError> {
    let item = match item {
        Some(item) => Some(item),
        None => {
            let key = Key {
                pk: keys::tenant_pk(&endpoint.tenant),
                sk: keys::name_claim_sk(&endpoint.spec.name),
            };
            store.get_item("read name claim", &key, true).await?
        }
    };
    let Some(item) = item else {
        return Ok(Attempt::Retry {
            reason: "name claim was released".to_owned(),
        });
    };

    // Names are claimed without regard to case, so the holder's name, as it was saved, may
    // differ from the requested one.
    let claim: NameClaimItem = items::from_item(item, "name claim")?;
    Err(StoreError::NameTaken {
        requested: endpoint.spec.name.as_str().to_owned(),
        name: claim.name.as_str().to_owned(),
        existing: claim.endpoint_id,
    })
}

pub(super) async fn delete(
    store: &DynamoStore,
    tenant: &TenantId,
    id: &EndpointId,
) -> Result<Endpoint, StoreError> {
    // Endpoints never change, so what is read here is exactly what the transaction removes.
    let Some(endpoint) = get(store, tenant, id).await? else {
        return Err(StoreError::NotFound(id.clone()));
    };
    let transaction = delete_transaction(store, &endpoint)?;

    retry::run(&store.retry, "delete endpoint", id.as_str(), || {
        attempt_delete(store, &endpoint, &transaction)
    })
    .await?;
    Ok(endpoint)
}

/// Builds the delete transaction. The claims entry is removed by endpoint id, which commutes
/// with other changes to the map, so no version condition is needed. The version still grows,
/// so that a create with an older read of the claims fails its condition and reads again.
fn delete_transaction(
    store: &DynamoStore,
    endpoint: &Endpoint,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let pk = keys::tenant_pk(&endpoint.tenant);
    let key = |sk: String| items::to_item(&Key { pk: pk.clone(), sk }, "key");
    let id = AttributeValue::S(endpoint.id.as_str().to_owned());

    let remove_endpoint = Delete::builder()
        .table_name(&store.table)
        .set_key(Some(key(keys::endpoint_sk(&endpoint.id))?))
        .condition_expression("attribute_exists(pk)")
        .build();
    let remove_name = Delete::builder()
        .table_name(&store.table)
        .set_key(Some(key(keys::name_claim_sk(&endpoint.spec.name))?))
        .condition_expression("#endpoint_id = :id")
        .expression_attribute_names("#endpoint_id", "endpoint_id")
        .expression_attribute_values(":id", id)
        .build();
    let remove_claim = Update::builder()
        .table_name(&store.table)
        .set_key(Some(key(keys::bucket_claims_sk(
            &endpoint.spec.connection.bucket,
        ))?))
        .update_expression("REMOVE #claims.#id SET #version = #version + :one")
        .condition_expression("attribute_exists(#claims.#id)")
        .set_expression_attribute_names(Some(HashMap::from([
            ("#claims".to_owned(), "claims".to_owned()),
            ("#id".to_owned(), endpoint.id.as_str().to_owned()),
            ("#version".to_owned(), "version".to_owned()),
        ])))
        .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
        .build();
    let remove_health = Delete::builder()
        .table_name(&store.table)
        .set_key(Some(key(keys::health_sk(&endpoint.id))?))
        .build();

    Ok(vec![
        TransactWriteItem::builder()
            .delete(built(remove_endpoint)?)
            .build(),
        TransactWriteItem::builder()
            .delete(built(remove_name)?)
            .build(),
        TransactWriteItem::builder()
            .update(built(remove_claim)?)
            .build(),
        TransactWriteItem::builder()
            .delete(built(remove_health)?)
            .build(),
    ])
}

async fn attempt_delete(
    store: &DynamoStore,
    endpoint: &Endpoint,
    transaction: &[TransactWriteItem],
) -> Result<Attempt<()>, StoreError> {
    let result = store
        .client
        .transact_write_items()
        .set_transact_items(Some(transaction.to_vec()))
        .send()
        .await;

    let failure = match result {
        Ok(_) => return Ok(Attempt::Done(())),
        Err(error) => classify_transaction(error),
    };
    match failure {
        Failure::Canceled(reasons) => delete_canceled(endpoint, &reasons),
        Failure::Retryable { code } => Ok(Attempt::Retry { reason: code }),
        other => Err(unexpected("delete endpoint", other)),
    }
}

fn delete_canceled(endpoint: &Endpoint, reasons: &[Reason]) -> Result<Attempt<()>, StoreError> {
    let pk = keys::tenant_pk(&endpoint.tenant);
    if reasons.len() != delete_position::COUNT {
        let reason = format!(
            "{} cancellation reasons for {} items",
            reasons.len(),
            delete_position::COUNT
        );
        return Err(unexpected(
            "delete endpoint",
            Failure::Unavailable(reason.into()),
        ));
    }
    if let Reason::ConditionFailed { .. } = reasons[delete_position::ENDPOINT] {
        // Another delete won the race.
        return Err(StoreError::NotFound(endpoint.id.clone()));
    }
    if let Reason::ConditionFailed { .. } = reasons[delete_position::NAME] {
        let sk = keys::name_claim_sk(&endpoint.spec.name);
        return Err(items::corrupt(
            &pk,
            &sk,
            &format!("the name claim is not held by endpoint {}", endpoint.id),
        ));
    }
    if let Reason::ConditionFailed { .. } = reasons[delete_position::CLAIMS] {
        let sk = keys::bucket_claims_sk(&endpoint.spec.connection.bucket);
        return Err(items::corrupt(
            &pk,
            &sk,
            &format!(
                "the bucket claims hold no prefix of endpoint {}",
                endpoint.id
            ),
        ));
    }
    match read_other_reasons(reasons) {
        CreateCanceled::Retry(code) => Ok(Attempt::Retry { reason: code }),
        other => Err(unexpected(
            "delete endpoint",
            Failure::Unavailable(format!("{other:?}").into()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Reason {
        Reason::ConditionFailed { item: None }
    }

    fn conflict() -> Reason {
        Reason::Retryable {
            code: "TransactionConflict".to_owned(),
        }
    }

    #[test]
    fn create_reasons_map_by_position() {
        let cases = [
            (
                vec![failed(), Reason::Passed, Reason::Passed],
                CreateCanceled::IdExists,
            ),
            (
                vec![Reason::Passed, failed(), Reason::Passed],
                CreateCanceled::ClaimsChanged,
            ),
            (
                vec![Reason::Passed, Reason::Passed, failed()],
                CreateCanceled::NameTaken(None),
            ),
            (vec![failed(), failed(), failed()], CreateCanceled::IdExists),
            (
                vec![Reason::Passed, failed(), failed()],
                CreateCanceled::NameTaken(None),
            ),
            (
                vec![Reason::Passed, conflict(), Reason::Passed],
                CreateCanceled::Retry("TransactionConflict".to_owned()),
            ),
            (
                vec![
                    conflict(),
                    Reason::Failed {
                        code: "ValidationError".to_owned(),
                    },
                    Reason::Passed,
                ],
                CreateCanceled::Failed("ValidationError".to_owned()),
            ),
        ];
        for (reasons, expected) in cases {
            assert_eq!(read_create_reasons(&reasons), expected, "{reasons:?}");
        }
    }

    #[test]
    fn create_reasons_of_another_length_fail() {
        let outcome = read_create_reasons(&[failed()]);
        assert!(matches!(outcome, CreateCanceled::Failed(_)), "{outcome:?}");
    }
}
