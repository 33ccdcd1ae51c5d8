//! The floor of the handler benchmark: the DynamoDB calls that each handler makes, issued
//! directly with the SDK, on items of the same shape and size as the store's.
//!
//! The items are copies of what the store wrote for one endpoint created through the handler
//! ([`StoredItems::read`]), with the endpoint id, name and prefix replaced. So the floor
//! sends, and DynamoDB stores, the same amount of data as with the store.

use crate::fixture::Fixture;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use endpoint_core::clock::{IdGenerator, UlidGenerator};
use std::collections::HashMap;
use time::OffsetDateTime;

type Item = HashMap<String, AttributeValue>;

/// Condition of an item that must not exist yet, as the store writes it.
const NEW_ITEM: &str = "attribute_not_exists(pk)";

/// The items the store wrote for one endpoint, and the values to replace in copies of them.
#[derive(Debug, Clone)]
pub struct StoredItems {
    pub endpoint: Item,
    pub name_claim: Item,
    pub id: String,
    pub name: String,
    pub prefix: String,
}

/// One endpoint that the floor created, for its get and delete.
#[derive(Debug, Clone)]
pub struct FloorEndpoint {
    id: String,
    name: String,
}

/// The raw calls, on the client that the handlers' store also uses.
pub struct FloorCalls {
    client: Client,
    table: String,
    pk: String,
    bucket_sk: String,
    items: StoredItems,
}

impl StoredItems {
    /// Reads the endpoint item and the name claim item of the stored endpoint `id`.
    pub async fn read(
        client: &Client,
        fixture: &Fixture,
        id: &str,
        name: &str,
        prefix: &str,
    ) -> Result<Self, String> {
        let pk = tenant_pk(fixture);
        let endpoint = get_item(client, &fixture.table, &pk, &format!("ENDPOINT#{id}")).await?;
        let name_claim = get_item(
            client,
            &fixture.table,
            &pk,
            &format!("NAME#{}", name.to_lowercase()),
        )
        .await?;
        Ok(Self {
            endpoint,
            name_claim,
            id: id.to_owned(),
            name: name.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl FloorCalls {
    pub fn new(client: Client, fixture: &Fixture, items: StoredItems) -> Self {
        Self {
            client,
            table: fixture.table.clone(),
            pk: tenant_pk(fixture),
            bucket_sk: format!("BUCKET#{}", fixture.bucket.name),
            items,
        }
    }

    /// `GET /external-id`: one consistent GetItem of the External ID item.
    pub async fn external_id(&self) -> Result<(), String> {
        self.get("EXTERNAL_ID").await.map(drop)
    }

    /// `POST /endpoints`, test skipped: the External ID, the bucket's claims, then one
    /// transaction that puts the endpoint, the new claims and the name claim.
    pub async fn create(&self, name: &str, prefix: &str) -> Result<FloorEndpoint, String> {
        self.get("EXTERNAL_ID").await?;
        let claims = self.get_optional(&self.bucket_sk).await?;
        let id = UlidGenerator
            .endpoint_id(OffsetDateTime::now_utc())
            .as_str()
            .to_owned();
        let replacements = [
            (self.items.id.clone(), id.clone()),
            (self.items.name.clone(), name.to_owned()),
            (self.items.name.to_lowercase(), name.to_lowercase()),
            (self.items.prefix.clone(), prefix.to_owned()),
        ];
        let endpoint_item = replace_strings(&self.items.endpoint, &replacements);
        let name_item = replace_strings(&self.items.name_claim, &replacements);
        let transaction = vec![
            self.put_new(endpoint_item)?,
            self.put_claims(claims, &id, prefix)?,
            self.put_new(name_item)?,
        ];
        self.client
            .transact_write_items()
            .set_transact_items(Some(transaction))
            .send()
            .await
            .map_err(|error| format!("TransactWriteItems (create): {error:?}"))?;
        Ok(FloorEndpoint {
            id,
            name: name.to_owned(),
        })
    }

    /// `GET /endpoints/{id}`: a consistent GetItem of the endpoint, then its health.
    pub async fn get_endpoint(&self, endpoint: &FloorEndpoint) -> Result<(), String> {
        self.get(&format!("ENDPOINT#{}", endpoint.id)).await?;
        self.batch_get_health(std::slice::from_ref(&endpoint.id))
            .await
    }

    /// `GET /endpoints?limit=N`: one Query of N + 1 endpoints, newest first, then the health
    /// of the N shown.
    pub async fn list(&self, limit: usize) -> Result<(), String> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :endpoint)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":pk", AttributeValue::S(self.pk.clone()))
            .expression_attribute_values(":endpoint", AttributeValue::S("ENDPOINT#".to_owned()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|error| format!("Query: {error:?}"))?;
        let ids: Vec<String> = output
            .items()
            .iter()
            .take(limit)
            .filter_map(|item| {
                item.get("sk")?
                    .as_s()
                    .ok()?
                    .strip_prefix("ENDPOINT#")
                    .map(str::to_owned)
            })
            .collect();
        self.batch_get_health(&ids).await
    }

    /// `DELETE /endpoints/{id}`: a consistent GetItem of the endpoint, then one transaction
    /// that removes it, its name claim, its entry in the bucket's claims and its health.
    pub async fn delete(&self, endpoint: &FloorEndpoint) -> Result<(), String> {
        self.get(&format!("ENDPOINT#{}", endpoint.id)).await?;
        let transaction = self.delete_transaction(endpoint)?;
        self.client
            .transact_write_items()
            .set_transact_items(Some(transaction))
            .send()
            .await
            .map_err(|error| format!("TransactWriteItems (delete): {error:?}"))?;
        Ok(())
    }

    async fn get(&self, sk: &str) -> Result<Item, String> {
        get_item(&self.client, &self.table, &self.pk, sk).await
    }

    async fn get_optional(&self, sk: &str) -> Result<Option<Item>, String> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(&self.pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| format!("GetItem {sk}: {error:?}"))?;
        Ok(output.item)
    }

    async fn batch_get_health(&self, ids: &[String]) -> Result<(), String> {
        if ids.is_empty() {
            return Ok(());
        }
        let keys = ids
            .iter()
            .map(|id| key(&self.pk, &format!("HEALTH#{id}")))
            .collect();
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .build()
            .map_err(|error| error.to_string())?;
        self.client
            .batch_get_item()
            .request_items(&self.table, request)
            .send()
            .await
            .map_err(|error| format!("BatchGetItem: {error:?}"))?;
        Ok(())
    }

    fn put_new(&self, item: Item) -> Result<TransactWriteItem, String> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(NEW_ITEM)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|error| error.to_string())?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Puts the bucket's claims with one more entry, on condition that the version is still
    /// the one read, as the store does.
    fn put_claims(
        &self,
        read: Option<Item>,
        id: &str,
        prefix: &str,
    ) -> Result<TransactWriteItem, String> {
        let Some(mut item) = read else {
            return Err(
                "the bucket's claims item is missing; the handler's create writes it first"
                    .to_owned(),
            );
        };
        let version: u64 = item
            .get("version")
            .and_then(|value| value.as_n().ok())
            .and_then(|value| value.parse().ok())
            .ok_or("the bucket's claims item has no numeric version")?;
        if let Some(AttributeValue::M(claims)) = item.get_mut("claims") {
            claims.insert(id.to_owned(), AttributeValue::S(prefix.to_owned()));
        }
        item.insert(
            "version".to_owned(),
            AttributeValue::N((version + 1).to_string()),
        );
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#version = :read_version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":read_version", AttributeValue::N(version.to_string()))
            .build()
            .map_err(|error| error.to_string())?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete_transaction(
        &self,
        endpoint: &FloorEndpoint,
    ) -> Result<Vec<TransactWriteItem>, String> {
        let built = |error: aws_sdk_dynamodb::error::BuildError| error.to_string();
        let remove_endpoint = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(&self.pk, &format!("ENDPOINT#{}", endpoint.id))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(built)?;
        let remove_name = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                &self.pk,
                &format!("NAME#{}", endpoint.name.to_lowercase()),
            )))
            .condition_expression("#endpoint_id = :id")
            .expression_attribute_names("#endpoint_id", "endpoint_id")
            .expression_attribute_values(":id", AttributeValue::S(endpoint.id.clone()))
            .build()
            .map_err(built)?;
        let remove_claim = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&self.pk, &self.bucket_sk)))
            .update_expression("REMOVE #claims.#id SET #version = #version + :one")
            .condition_expression("attribute_exists(#claims.#id)")
            .set_expression_attribute_names(Some(HashMap::from([
                ("#claims".to_owned(), "claims".to_owned()),
                ("#id".to_owned(), endpoint.id.clone()),
                ("#version".to_owned(), "version".to_owned()),
            ])))
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
            .build()
            .map_err(built)?;
        let remove_health = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(&self.pk, &format!("HEALTH#{}", endpoint.id))))
            .build()
            .map_err(built)?;
        Ok(vec![
            TransactWriteItem::builder().delete(remove_endpoint).build(),
            TransactWriteItem::builder().delete(remove_name).build(),
            TransactWriteItem::builder().update(remove_claim).build(),
            TransactWriteItem::builder().delete(remove_health).build(),
        ])
    }
}

fn tenant_pk(fixture: &Fixture) -> String {
    format!("TENANT#{}", fixture.tenant.as_str())
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

async fn get_item(client: &Client, table: &str, pk: &str, sk: &str) -> Result<Item, String> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|error| format!("GetItem {sk}: {error:?}"))?;
    output.item.ok_or(format!("item {sk} was not found"))
}

/// Copies `item`, replacing each `(old, new)` pair in every string value, nested ones included.
fn replace_strings(item: &Item, replacements: &[(String, String)]) -> Item {
    item.iter()
        .map(|(name, value)| (name.clone(), replace_value(value, replacements)))
        .collect()
}

fn replace_value(value: &AttributeValue, replacements: &[(String, String)]) -> AttributeValue {
    match value {
        AttributeValue::S(text) => {
            let mut text = text.clone();
            for (old, new) in replacements {
                text = text.replace(old.as_str(), new);
            }
            AttributeValue::S(text)
        }
        AttributeValue::M(map) => AttributeValue::M(replace_strings(map, replacements)),
        AttributeValue::L(list) => AttributeValue::L(
            list.iter()
                .map(|value| replace_value(value, replacements))
                .collect(),
        ),
        other => other.clone(),
    }
}
