//! The definition of the endpoints table: attribute names, key schema, the `ByMode` index and
//! the TTL attribute. `template.yaml` declares the same table as `EndpointsTable`, and a test
//! checks that the two agree.

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// The table's partition key: `TENANT#<tenant id>` on every item.
pub const PARTITION_KEY: &str = "pk";

/// The table's sort key, which names the kind of item and its id, such as `ENDPOINT#<id>`.
pub const SORT_KEY: &str = "sk";

/// The global secondary index that lists a tenant's endpoints of one access mode.
pub const BY_MODE_INDEX: &str = "ByMode";

/// The partition key of [`BY_MODE_INDEX`]: `TENANT#<tenant id>#MODE#<mode>`.
pub const BY_MODE_PARTITION_KEY: &str = "gsi1pk";

/// The sort key of [`BY_MODE_INDEX`]: `ENDPOINT#<id>`.
pub const BY_MODE_SORT_KEY: &str = "gsi1sk";

/// The attribute that DynamoDB's TTL reads, in seconds since the Unix epoch.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// How long [`create_table`] waits for a new table to become active.
const MAX_TABLE_WAIT: Duration = Duration::from_secs(60);

/// Failures of [`create_table`].
#[derive(Debug, thiserror::Error)]
pub enum CreateTableError {
    #[error("the table definition could not be built: {0}")]
    Definition(#[from] BuildError),

    #[error("creating table {table} failed: {message}")]
    Request { table: String, message: String },
}

/// Returns the definitions of the key attributes of the table and its index, all strings.
pub fn attribute_definitions() -> Result<Vec<AttributeDefinition>, BuildError> {
    [
        PARTITION_KEY,
        SORT_KEY,
        BY_MODE_PARTITION_KEY,
        BY_MODE_SORT_KEY,
    ]
    .into_iter()
    .map(|name| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    })
    .collect()
}

/// Returns the table's key schema: [`PARTITION_KEY`] and [`SORT_KEY`].
pub fn key_schema() -> Result<Vec<KeySchemaElement>, BuildError> {
    key_pair(PARTITION_KEY, SORT_KEY)
}

/// Returns the table's global secondary indexes: [`BY_MODE_INDEX`], projecting every attribute.
pub fn global_secondary_indexes() -> Result<Vec<GlobalSecondaryIndex>, BuildError> {
    let by_mode = GlobalSecondaryIndex::builder()
        .index_name(BY_MODE_INDEX)
        .set_key_schema(Some(key_pair(BY_MODE_PARTITION_KEY, BY_MODE_SORT_KEY)?))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()?;
    Ok(vec![by_mode])
}

fn key_pair(hash: &str, range: &str) -> Result<Vec<KeySchemaElement>, BuildError> {
    let element = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
    };
    Ok(vec![
        element(hash, KeyType::Hash)?,
        element(range, KeyType::Range)?,
    ])
}

/// Creates the table with on-demand billing, waits until it is active and enables TTL on
/// [`TTL_ATTRIBUTE`]. Used by tests and the local demo; deployed tables come from
/// `template.yaml`.
pub async fn create_table(client: &Client, table: &str) -> Result<(), CreateTableError> {
    let request_failed = |error: &dyn std::error::Error| CreateTableError::Request {
        table: table.to_owned(),
        message: DisplayErrorContext(error).to_string(),
    };

    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attribute_definitions()?))
        .set_key_schema(Some(key_schema()?))
        .set_global_secondary_indexes(Some(global_secondary_indexes()?))
        .send()
        .await
        .map_err(|error| request_failed(&error))?;

    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(MAX_TABLE_WAIT)
        .await
        .map_err(|error| request_failed(&error))?;

    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|error| request_failed(&error))?;
    Ok(())
}
