//! Listing a tenant's endpoints newest first, and scanning every tenant's for revalidation.

use super::errors::{classify, unexpected};
use super::items::{self, EndpointItem, Item, ItemKind};
use super::keys::{self, Key};
use super::DynamoStore;
use crate::domain::{Endpoint, TenantId};
use crate::store::schema::{BY_MODE_INDEX, BY_MODE_PARTITION_KEY, BY_MODE_SORT_KEY};
use crate::store::{EndpointPage, ListQuery, ScanPage, StoreError, MAX_PAGE_SIZE};
use aws_sdk_dynamodb::types::AttributeValue;

/// The most Query calls that one page may take. A call returns fewer items than asked only
/// when its response reaches DynamoDB's 1 MB limit. An endpoint item takes about 10 KB at
/// most (long role and key ARNs, a 1,000-character description), so two calls always cover
/// the 101 items of a page.
const MAX_QUERIES_PER_PAGE: usize = 8;

/// The maximum number of items one scan page reads. DynamoDB also limits a Scan response to
/// 1 MB.
pub const MAX_SCAN_LIMIT: u32 = 1_000;

/// DynamoDB's maximum number of parallel scan segments.
const MAX_SCAN_SEGMENTS: u32 = 1_000_000;

pub(super) async fn list(
    store: &DynamoStore,
    tenant: &TenantId,
    query: &ListQuery,
) -> Result<EndpointPage, StoreError> {
    if !(1..=MAX_PAGE_SIZE).contains(&query.limit) {
        return Err(StoreError::InvalidArgument(format!(
            "page size must be 1 to {MAX_PAGE_SIZE}; got {}",
            query.limit
        )));
    }
    let scope = keys::cursor_scope(tenant, query.mode);
    let after = query
        .cursor
        .as_deref()
        .map(|cursor| keys::decode_cursor(cursor, &scope))
        .transpose()?;
    let limit = query.limit as usize;

    // One item more than the page shows whether another page follows, so that a cursor is
    // returned only when it leads somewhere.
    let mut endpoints = Vec::with_capacity(limit + 1);
    let mut start_key = match &after {
        Some(id) => Some(start_key(tenant, query, id)?),
        None => None,
    };
    for _ in 0..MAX_QUERIES_PER_PAGE {
        let remaining = limit + 1 - endpoints.len();
        let (page, last_key) = query_once(store, tenant, query, start_key, remaining).await?;
        endpoints.extend(page);
        start_key = last_key;
        if endpoints.len() > limit || start_key.is_none() {
            break;
        }
    }

    // A start key left after the last query means more items follow even if the page is
    // short, which only a run of responses cut at 1 MB could cause.
    let has_more = endpoints.len() > limit || start_key.is_some();
    endpoints.truncate(limit);
    let next_cursor = match endpoints.last() {
        Some(last) if has_more => Some(keys::encode_cursor(&last.id, &scope)),
        _ => None,
    };
    Ok(EndpointPage {
        endpoints,
        next_cursor,
    })
}

/// Builds the exclusive start key from the cursor's endpoint id and the caller's tenant. The
/// partition key never comes from the cursor, so a cursor cannot lead into another tenant.
fn start_key(
    tenant: &TenantId,
    query: &ListQuery,
    after: &crate::domain::EndpointId,
) -> Result<Item, StoreError> {
    match query.mode {
        Some(mode) => items::to_item(&keys::endpoint_index_key(tenant, mode, after), "cursor"),
        None => items::to_item(&keys::endpoint_key(tenant, after), "cursor"),
    }
}

async fn query_once(
    store: &DynamoStore,
    tenant: &TenantId,
    query: &ListQuery,
    start_key: Option<Item>,
    requested: usize,
) -> Result<(Vec<Endpoint>, Option<Item>), StoreError> {
    let (partition_key, partition, sort_key) = match query.mode {
        Some(mode) => (
            BY_MODE_PARTITION_KEY,
            keys::mode_pk(tenant, mode),
            BY_MODE_SORT_KEY,
        ),
        None => ("pk", keys::tenant_pk(tenant), "sk"),
    };
    let mut request = store
        .client
        .query()
        .table_name(&store.table)
        .key_condition_expression("#pk = :pk AND begins_with(#sk, :endpoint)")
        .expression_attribute_names("#pk", partition_key)
        .expression_attribute_names("#sk", sort_key)
        .expression_attribute_values(":pk", AttributeValue::S(partition))
        .expression_attribute_values(
            ":endpoint",
            AttributeValue::S(keys::ENDPOINT_SK_PREFIX.to_owned()),
        )
        // ULIDs sort by creation time, so descending sort keys are newest first.
        .scan_index_forward(false)
        .limit(i32::try_from(requested).unwrap_or(i32::MAX))
        .set_exclusive_start_key(start_key);
    if query.mode.is_some() {
        request = request.index_name(BY_MODE_INDEX);
    }

    let output = request
        .send()
        .await
        .map_err(|error| unexpected("list endpoints", classify(error)))?;
    let endpoints = parse_endpoints(output.items.unwrap_or_default(), Some(tenant))?;
    Ok((endpoints, output.last_evaluated_key))
}

/// Parses endpoint items, checking that each belongs to `tenant` when one is given.
fn parse_endpoints(
    stored: Vec<Item>,
    tenant: Option<&TenantId>,
) -> Result<Vec<Endpoint>, StoreError> {
    let mut endpoints = Vec::with_capacity(stored.len());
    for item in stored {
        let item: EndpointItem = items::from_item(item, "endpoint")?;
        let (pk, sk) = (item.pk.clone(), item.sk.clone());
        let endpoint = item.into_endpoint()?;
        if tenant.is_some_and(|tenant| *tenant != endpoint.tenant) {
            return Err(items::corrupt(
                &pk,
                &sk,
                "a query for another tenant returned it",
            ));
        }
        endpoints.push(endpoint);
    }
    Ok(endpoints)
}

pub(super) async fn scan(
    store: &DynamoStore,
    segment: u32,
    total_segments: u32,
    position: Option<&str>,
    limit: u32,
) -> Result<ScanPage, StoreError> {
    check_scan_arguments(segment, total_segments, limit)?;
    let start_key = match position {
        Some(position) => Some(items::to_item(
            &keys::decode_position(position)?,
            "position",
        )?),
        None => None,
    };

    // The filter keeps endpoints only. It applies after `limit` items were read, so a page
    // may be short; the trait documents that.
    let output = store
        .client
        .scan()
        .table_name(&store.table)
        .segment(segment as i32)
        .total_segments(total_segments as i32)
        .filter_expression("#kind = :kind")
        .expression_attribute_names("#kind", "kind")
        .expression_attribute_values(
            ":kind",
            AttributeValue::S(ItemKind::Endpoint.as_str().to_owned()),
        )
        .limit(limit as i32)
        .set_exclusive_start_key(start_key)
        .send()
        .await
        .map_err(|error| unexpected("scan endpoints", classify(error)))?;

    let endpoints = parse_endpoints(output.items.unwrap_or_default(), None)?;
    let next_position = match output.last_evaluated_key {
        Some(last) => {
            let key: Key = items::from_item(last, "scan position")?;
            Some(keys::encode_position(&key)?)
        }
        None => None,
    };
    Ok(ScanPage {
        endpoints,
        next_position,
    })
}

fn check_scan_arguments(segment: u32, total_segments: u32, limit: u32) -> Result<(), StoreError> {
    if !(1..=MAX_SCAN_SEGMENTS).contains(&total_segments) || segment >= total_segments {
        return Err(StoreError::InvalidArgument(format!(
            "scan segment must be below the total of 1 to {MAX_SCAN_SEGMENTS} segments; got segment {segment} of {total_segments}"
        )));
    }
    if !(1..=MAX_SCAN_LIMIT).contains(&limit) {
        return Err(StoreError::InvalidArgument(format!(
            "scan limit must be 1 to {MAX_SCAN_LIMIT}; got {limit}"
        )));
    }
    Ok(())
}
