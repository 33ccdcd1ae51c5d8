//! Key formats of every item kind, and the opaque list cursor and scan position.

use crate::domain::{AccessMode, BucketName, EndpointId, EndpointName, TenantId};
use crate::store::StoreError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(super) const ENDPOINT_SK_PREFIX: &str = "ENDPOINT#";
pub(super) const EXTERNAL_ID_SK: &str = "EXTERNAL_ID";

const TENANT_PK_PREFIX: &str = "TENANT#";

/// The maximum cursor length accepted, in characters. A sort key `ENDPOINT#<26-character id>`
/// with `|` and a 16-digit scope takes 70 in base64url.
const MAX_CURSOR_CHARS: usize = 96;

/// Bytes of the SHA-256 digest kept in a cursor's scope.
const CURSOR_SCOPE_BYTES: usize = 8;

/// The maximum scan position length accepted, in characters. DynamoDB keys are at most 2,048 bytes of
/// partition key and 1,024 of sort key, which fit in 4,200 characters of base64url JSON.
const MAX_POSITION_CHARS: usize = 4_200;

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Key {
    pub pk: String,
    pub sk: String,
}

/// The primary key of an endpoint together with its `ByMode` index key, which is what a query
/// on the index takes as its exclusive start key.
#[derive(Debug, Clone, Serialize)]
pub(super) struct IndexKey {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
}

pub(super) fn tenant_pk(tenant: &TenantId) -> String {
    format!("{TENANT_PK_PREFIX}{tenant}")
}

pub(super) fn mode_pk(tenant: &TenantId, mode: AccessMode) -> String {
    format!("{TENANT_PK_PREFIX}{tenant}#MODE#{}", mode.as_str())
}

pub(super) fn endpoint_sk(id: &EndpointId) -> String {
    format!("{ENDPOINT_SK_PREFIX}{id}")
}

pub(super) fn health_sk(id: &EndpointId) -> String {
    format!("HEALTH#{id}")
}

pub(super) fn bucket_claims_sk(bucket: &BucketName) -> String {
    format!("BUCKET#{bucket}")
}

pub(super) fn name_claim_sk(name: &EndpointName) -> String {
    format!("NAME#{}", name.uniqueness_key())
}

/// Returns the sort key of an idempotency record. The key is the SHA-256 of the client's
/// `Idempotency-Key`, because that header is text of the client's choosing and a sort key must
/// stay within 1,024 bytes.
pub(super) fn idempotency_sk(idempotency_key: &str) -> String {
    let digest = Sha256::digest(idempotency_key.as_bytes());
    format!("IDEMPOTENCY#{}", hex::encode(digest))
}

pub(super) fn endpoint_key(tenant: &TenantId, id: &EndpointId) -> Key {
    Key {
        pk: tenant_pk(tenant),
        sk: endpoint_sk(id),
    }
}

pub(super) fn endpoint_index_key(tenant: &TenantId, mode: AccessMode, id: &EndpointId) -> IndexKey {
    IndexKey {
        pk: tenant_pk(tenant),
        sk: endpoint_sk(id),
        gsi1pk: mode_pk(tenant, mode),
        gsi1sk: endpoint_sk(id),
    }
}

/// Returns the scope of a listing: a digest of its tenant and mode filter. A cursor carries the
/// scope of the listing that made it, so a cursor used with another tenant or filter is
/// rejected instead of silently paging a different list.
pub(super) fn cursor_scope(tenant: &TenantId, mode: Option<AccessMode>) -> String {
    let digest = Sha256::new()
        .chain_update(tenant.as_str())
        .chain_update([0])
        .chain_update(mode.map_or("all", |mode| mode.as_str()))
        .finalize();
    hex::encode(&digest[..CURSOR_SCOPE_BYTES])
}

/// Encodes the position after endpoint `id` in a newest-first listing of `scope`. Only the
/// sort key goes into the cursor; the partition key always comes from the caller's tenant.
pub(super) fn encode_cursor(id: &EndpointId, scope: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{scope}", endpoint_sk(id)))
}

/// Decodes a cursor made by [`encode_cursor`] for the same `scope`, rejecting anything else.
pub(super) fn decode_cursor(cursor: &str, scope: &str) -> Result<EndpointId, StoreError> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(StoreError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let (sort_key, cursor_scope) = text.split_once('|').ok_or(StoreError::InvalidCursor)?;
    if cursor_scope != scope {
        return Err(StoreError::InvalidCursor);
    }
    let raw_id = sort_key
        .strip_prefix(ENDPOINT_SK_PREFIX)
        .ok_or(StoreError::InvalidCursor)?;
    let id = EndpointId::parse(raw_id).map_err(|_| StoreError::InvalidCursor)?;

    // Ids parse case-insensitively; only the canonical form that this module writes is a
    // cursor, so that every position has exactly one encoding.
    if id.as_str() != raw_id {
        return Err(StoreError::InvalidCursor);
    }
    Ok(id)
}

/// Encodes a scan's last evaluated key as an opaque position.
pub(super) fn encode_position(key: &Key) -> Result<String, StoreError> {
    let json = serde_json::to_vec(key).map_err(|error| {
        StoreError::Corrupt(format!("a scan position could not be encoded: {error}"))
    })?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Decodes a position made by [`encode_position`]. Its partition key must be a tenant's, so a
/// position can only point into the tenants' key space.
pub(super) fn decode_position(position: &str) -> Result<Key, StoreError> {
    if position.len() > MAX_POSITION_CHARS {
        return Err(StoreError::InvalidCursor);
    }
    let json = URL_SAFE_NO_PAD
        .decode(position)
        .map_err(|_| StoreError::InvalidCursor)?;
    let key: Key = serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)?;
    let tenant = key
        .pk
        .strip_prefix(TENANT_PK_PREFIX)
        .ok_or(StoreError::InvalidCursor)?;
    TenantId::parse(tenant).map_err(|_| StoreError::InvalidCursor)?;
    if key.sk.is_empty() {
        return Err(StoreError::InvalidCursor);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulid::Ulid;

    fn id() -> EndpointId {
        EndpointId::from_ulid(Ulid::from_parts(1_700_000_000_000, 7))
    }

    fn scope() -> String {
        cursor_scope(&TenantId::parse("acme").unwrap(), None)
    }

    #[test]
    fn cursor_round_trips() {
        let cursor = encode_cursor(&id(), &scope());
        assert!(cursor.len() <= MAX_CURSOR_CHARS);
        assert_eq!(decode_cursor(&cursor, &scope()).unwrap(), id());
    }

    #[test]
    fn cursor_rejects_other_tenant_and_filter() {
        let cursor = encode_cursor(&id(), &scope());
        let other_tenant = cursor_scope(&TenantId::parse("globex").unwrap(), None);
        let other_mode = cursor_scope(
            &TenantId::parse("acme").unwrap(),
            Some(AccessMode::ReadOnly),
        );

        for other in [other_tenant, other_mode] {
            assert!(matches!(
                decode_cursor(&cursor, &other),
                Err(StoreError::InvalidCursor)
            ));
        }
    }

    #[test]
    fn cursor_rejects_other_strings() {
        let scoped = |text: String| URL_SAFE_NO_PAD.encode(format!("{text}|{}", scope()));
        let lowercase = scoped(endpoint_sk(&id()).to_lowercase());
        let other_kind = scoped(health_sk(&id()));
        let with_tenant = scoped(format!("TENANT#a|{}", endpoint_sk(&id())));
        let without_scope = URL_SAFE_NO_PAD.encode(endpoint_sk(&id()));
        let too_long = "A".repeat(MAX_CURSOR_CHARS + 1);
        for cursor in [
            "",
            "not base64!",
            "//8",
            &lowercase,
            &other_kind,
            &with_tenant,
            &without_scope,
            &too_long,
        ] {
            assert!(
                matches!(
                    decode_cursor(cursor, &scope()),
                    Err(StoreError::InvalidCursor)
                ),
                "{cursor}"
            );
        }
    }

    #[test]
    fn position_round_trips_and_requires_a_tenant_key() {
        let key = Key {
            pk: "TENANT#acme".to_owned(),
            sk: "HEALTH#x".to_owned(),
        };
        let position = encode_position(&key).unwrap();
        assert_eq!(decode_position(&position).unwrap(), key);

        let foreign = Key {
            pk: "OTHER#acme".to_owned(),
            sk: "ENDPOINT#x".to_owned(),
        };
        let foreign = encode_position(&foreign).unwrap();
        assert!(matches!(
            decode_position(&foreign),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_position("e30"),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn idempotency_sort_key_has_fixed_length() {
        let short = idempotency_sk("a");
        let long = idempotency_sk(&"k".repeat(10_000));
        assert_eq!(short.len(), long.len());
        assert_ne!(short, idempotency_sk("b"));
    }
}
