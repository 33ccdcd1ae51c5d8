//! A saved endpoint.

use super::endpoint_id::EndpointId;
use super::external_id::ExternalId;
use super::spec::EndpointSpec;
use super::tenant::TenantId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An endpoint as stored: its configuration, fixed at creation, and who created it when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: EndpointId,
    pub tenant: TenantId,
    #[serde(flatten)]
    pub spec: EndpointSpec,
    /// The tenant's External ID when the endpoint was created. It never changes, so this is a
    /// record of what the role's trust policy was expected to require.
    pub external_id: ExternalId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The authorizer's subject (user or client id) that created the endpoint.
    pub created_by: String,
}
