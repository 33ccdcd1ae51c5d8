//! The stored form of each item kind, (de)serialized with `serde_dynamo`. Every domain value
//! deserializes through its parser, so an invalid stored value becomes
//! [`StoreError::Corrupt`] instead of an invalid domain value.

use super::keys;
use crate::domain::{
    BucketName, Endpoint, EndpointId, EndpointName, ExternalId, Health, Prefix, TenantId,
};
use crate::store::{StoreError, StoredResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

pub(super) type Item = HashMap<String, AttributeValue>;

/// The `kind` attribute on every item, which the revalidation scan filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ItemKind {
    Endpoint,
    Health,
    ExternalId,
    BucketClaims,
    NameClaim,
    Idempotency,
    PendingEvent,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Endpoint => "endpoint",
            Self::Health => "health",
            Self::ExternalId => "external_id",
            Self::BucketClaims => "bucket_claims",
            Self::NameClaim => "name_claim",
            Self::Idempotency => "idempotency",
            Self::PendingEvent => "pending_event",
        }
    }
}

/// An endpoint's configuration, written once and never updated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct EndpointItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub kind: ItemKind,
    #[serde(flatten)]
    pub endpoint: Endpoint,
}

impl EndpointItem {
    pub fn new(endpoint: &Endpoint) -> Self {
        let key = keys::endpoint_index_key(
            &endpoint.tenant,
            endpoint.spec.connection.mode,
            &endpoint.id,
        );
        Self {
            pk: key.pk,
            sk: key.sk,
            gsi1pk: key.gsi1pk,
            gsi1sk: key.gsi1sk,
            kind: ItemKind::Endpoint,
            endpoint: endpoint.clone(),
        }
    }

    /// Returns the endpoint after checking that the item's keys are the ones its content
    /// implies, so that an item copied under another tenant's key is never served.
    pub fn into_endpoint(self) -> Result<Endpoint, StoreError> {
        let expected = Self::new(&self.endpoint);
        let keys_match = self.pk == expected.pk
            && self.sk == expected.sk
            && self.gsi1pk == expected.gsi1pk
            && self.gsi1sk == expected.gsi1sk
            && self.kind == ItemKind::Endpoint;
        if !keys_match {
            return Err(corrupt(
                &self.pk,
                &self.sk,
                "its keys do not match its tenant, id and mode",
            ));
        }
        Ok(self.endpoint)
    }
}

/// The latest health of one endpoint. `checked_at` repeats `health.last_checked_at` as a
/// number, because the newer-only condition compares it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct HealthItem {
    pub pk: String,
    pub sk: String,
    pub kind: ItemKind,
    pub endpoint_id: EndpointId,
    /// Milliseconds since the Unix epoch.
    pub checked_at: i64,
    pub health: Health,
}

impl HealthItem {
    pub fn new(tenant: &TenantId, id: &EndpointId, health: &Health) -> Self {
        Self {
            pk: keys::tenant_pk(tenant),
            sk: keys::health_sk(id),
            kind: ItemKind::Health,
            endpoint_id: id.clone(),
            checked_at: epoch_millis(health.last_checked_at),
            health: health.clone(),
        }
    }
}

/// A tenant's External ID, written once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ExternalIdItem {
    pub pk: String,
    pub sk: String,
    pub kind: ItemKind,
    pub external_id: ExternalId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The prefixes that a tenant's endpoints claim on one bucket, keyed by endpoint id.
///
/// The map is keyed by endpoint id, not by prefix, because the whole-bucket prefix is the
/// empty string and ids make every map key non-empty. `version` grows by one with every
/// change. The item is never deleted, even when the map becomes empty, because a recreated
/// item would restart at version 1. A writer with an old read of version 1 would then pass
/// its condition and overwrite newer claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BucketClaimsItem {
    pub pk: String,
    pub sk: String,
    pub kind: ItemKind,
    pub bucket: BucketName,
    pub claims: BTreeMap<EndpointId, Prefix>,
    pub version: u64,
}

impl BucketClaimsItem {
    pub fn empty(tenant: &TenantId, bucket: &BucketName) -> Self {
        Self {
            pk: keys::tenant_pk(tenant),
            sk: keys::bucket_claims_sk(bucket),
            kind: ItemKind::BucketClaims,
            bucket: bucket.clone(),
            claims: BTreeMap::new(),
            version: 0,
        }
    }
}

/// The claim of a name (compared case-insensitively) by one endpoint of the tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct NameClaimItem {
    pub pk: String,
    pub sk: String,
    pub kind: ItemKind,
    pub name: EndpointName,
    pub endpoint_id: EndpointId,
}

impl NameClaimItem {
    pub fn new(endpoint: &Endpoint) -> Self {
        Self {
            pk: keys::tenant_pk(&endpoint.tenant),
            sk: keys::name_claim_sk(&endpoint.spec.name),
            kind: ItemKind::NameClaim,
            name: endpoint.spec.name.clone(),
            endpoint_id: endpoint.id.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum IdempotencyState {
    InProgress,
    Completed,
}

impl IdempotencyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
        }
    }
}

/// The stored form of [`StoredResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ResponseAttribute {
    pub status: u16,
    pub body: String,
}

impl From<&StoredResponse> for ResponseAttribute {
    fn from(response: &StoredResponse) -> Self {
        Self {
            status: response.status,
            body: response.body.clone(),
        }
    }
}

impl From<ResponseAttribute> for StoredResponse {
    fn from(response: ResponseAttribute) -> Self {
        Self {
            status: response.status,
            body: response.body,
        }
    }
}

/// A request's claim of an `Idempotency-Key`, and its response once it completed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct IdempotencyItem {
    pub pk: String,
    pub sk: String,
    pub kind: ItemKind,
    pub request_hash: String,
    pub state: IdempotencyState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseAttribute>,
    /// Seconds since the Unix epoch; DynamoDB's TTL deletes the item some time after this.
    pub expires_at: i64,
}

/// Returns `time` in milliseconds since the Unix epoch, saturating outside the `i64` range.
pub(super) fn epoch_millis(time: OffsetDateTime) -> i64 {
    let millis = time.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX })
}

/// Encodes `value` as an item or an attribute map.
pub(super) fn to_item<T: Serialize>(value: &T, kind_name: &str) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|error| {
        StoreError::InvalidArgument(format!(
            "the {kind_name} could not be encoded as an item: {error}"
        ))
    })
}

/// Encodes `value` as one attribute value, for expression values.
pub(super) fn to_value<T: Serialize>(
    value: &T,
    kind_name: &str,
) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|error| {
        StoreError::InvalidArgument(format!(
            "the {kind_name} could not be encoded as an attribute: {error}"
        ))
    })
}

/// Decodes a stored item, naming its key in the error when it is invalid.
pub(super) fn from_item<T: DeserializeOwned>(item: Item, kind_name: &str) -> Result<T, StoreError> {
    let pk = string_attribute(&item, "pk");
    let sk = string_attribute(&item, "sk");
    serde_dynamo::from_item(item).map_err(|error| {
        corrupt(
            &pk,
            &sk,
            &format!("it is not a valid {kind_name} item: {error}"),
        )
    })
}

fn string_attribute(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(value)) => value.clone(),
        _ => format!("<no {name}>"),
    }
}

/// Builds the error for an invalid stored item and logs it with the item's key, which holds
/// only tenant and endpoint ids.
pub(super) fn corrupt(pk: &str, sk: &str, reason: &str) -> StoreError {
    tracing::error!(pk, sk, reason, "stored item is invalid");
    StoreError::Corrupt(format!("item {pk} / {sk}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EndpointInput, EndpointSpec, HealthFailure};
    use time::macros::datetime;
    use ulid::Ulid;

    fn endpoint(prefix: &str) -> Endpoint {
        let input = EndpointInput {
            name: Some("Billing imports".to_owned()),
            description: Some("Daily files".to_owned()),
            mode: Some("read_only".to_owned()),
            role_arn: Some("arn:aws:iam::123456789012:role/Acme-S3-ReadOnly-Role".to_owned()),
            bucket: Some("acme-billing".to_owned()),
            prefix: Some(prefix.to_owned()),
            region: Some("eu-west-1".to_owned()),
            kms_key_arn: None,
        };
        Endpoint {
            id: EndpointId::from_ulid(Ulid::from_parts(1_700_000_000_000, 9)),
            tenant: TenantId::parse("acme").unwrap(),
            spec: EndpointSpec::parse(&input).unwrap(),
            external_id: ExternalId::parse("external-id-1").unwrap(),
            created_at: datetime!(2026-01-01 00:00 UTC),
            created_by: "user-1".to_owned(),
        }
    }

    #[test]
    fn endpoint_item_round_trips_with_whole_bucket_prefix() {
        let original = endpoint("");
        let item = to_item(&EndpointItem::new(&original), "endpoint").unwrap();
        assert_eq!(item.get("prefix"), Some(&AttributeValue::S(String::new())));
        assert_eq!(
            item.get("kind"),
            Some(&AttributeValue::S("endpoint".to_owned()))
        );

        let decoded: EndpointItem = from_item(item, "endpoint").unwrap();
        assert_eq!(decoded.into_endpoint().unwrap(), original);
    }

    #[test]
    fn endpoint_item_under_another_key_is_corrupt() {
        let mut item = EndpointItem::new(&endpoint("logs/"));
        item.pk = "TENANT#other".to_owned();
        assert!(matches!(item.into_endpoint(), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn invalid_stored_value_is_corrupt() {
        let mut item = to_item(&EndpointItem::new(&endpoint("logs/")), "endpoint").unwrap();
        item.insert(
            "bucket".to_owned(),
            AttributeValue::S("Not_A_Bucket".to_owned()),
        );
        let error = from_item::<EndpointItem>(item, "endpoint").unwrap_err();
        assert!(
            matches!(error, StoreError::Corrupt(ref message) if message.contains("bucket")),
            "{error}"
        );
    }

    #[test]
    fn claims_and_health_items_round_trip() {
        let endpoint = endpoint("");
        let mut claims =
            BucketClaimsItem::empty(&endpoint.tenant, &endpoint.spec.connection.bucket);
        claims
            .claims
            .insert(endpoint.id.clone(), Prefix::whole_bucket());
        claims.version = 3;
        let decoded: BucketClaimsItem =
            from_item(to_item(&claims, "claims").unwrap(), "claims").unwrap();
        assert_eq!(decoded.claims, claims.claims);
        assert_eq!(decoded.version, 3);

        let failure = HealthFailure {
            check: "write".to_owned(),
            error_code: None,
            message: "denied".to_owned(),
        };
        let health = Health::after(None, datetime!(2026-01-01 00:00:00.123 UTC), Some(failure));
        let item = HealthItem::new(&endpoint.tenant, &endpoint.id, &health);
        assert_eq!(item.checked_at, 1_767_225_600_123);
        let decoded: HealthItem = from_item(to_item(&item, "health").unwrap(), "health").unwrap();
        assert_eq!(decoded.health, health);
    }
}
