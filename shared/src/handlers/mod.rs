//! The API handlers, one module per Lambda function. Each module's `handle` takes the
//! function's state and a request and always returns a response: client mistakes and
//! failures of the store become problem details, never an `Err`.

pub mod create;
pub mod list;
pub mod policy;
pub mod test;

use crate::check::{ConnectionTester, TestReport, TestRequest};
use crate::domain::{
    ConnectionSpec, Endpoint, EndpointId, EndpointSpec, ExternalId, Feature, FieldError, Health,
    RoleArn, TenantId, ValidationErrors,
};
use crate::http::ApiError;
use crate::store::EndpointStore;
use lambda_http::Request;
use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;

/// The maximum duration of a connection test in an API request. test-endpoint and
/// create-endpoint time out after 25 seconds (template.yaml).
pub const MAX_TEST_DURATION: Duration = crate::check::API_TEST_DEADLINE;

/// Time kept free after the connection test for the store calls and the response.
const AFTER_TEST_MARGIN: Duration = Duration::from_millis(1_500);

/// An endpoint as the API returns it: its configuration, who created it when, the features
/// it can serve and its latest health (`null` before the first connection test).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointView {
    pub id: EndpointId,
    #[serde(flatten)]
    pub spec: EndpointSpec,
    pub external_id: ExternalId,
    pub features: Vec<Feature>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    pub health: Option<Health>,
}

impl EndpointView {
    pub fn new(endpoint: Endpoint, health: Option<Health>) -> Self {
        Self {
            features: Feature::served_by(endpoint.spec.connection.mode),
            id: endpoint.id,
            spec: endpoint.spec,
            external_id: endpoint.external_id,
            created_at: endpoint.created_at,
            created_by: endpoint.created_by,
            health,
        }
    }
}

/// Returns the tenant's External ID, creating it on the tenant's first request.
pub(crate) async fn tenant_external_id(
    store: &dyn EndpointStore,
    tenant: &TenantId,
) -> Result<ExternalId, ApiError> {
    // getrandom's error type implements std::error::Error only with its `std` feature.
    let candidate = ExternalId::generate()
        .map_err(|error| ApiError::Internal(format!("random source failed: {error}").into()))?;
    Ok(store.get_or_create_external_id(tenant, candidate).await?)
}

/// Runs the connection test within the time the invocation has left.
pub(crate) async fn run_connection_test(
    tester: &dyn ConnectionTester,
    request: &Request,
    tenant: &TenantId,
    endpoint_id: Option<&EndpointId>,
    spec: &ConnectionSpec,
    external_id: &ExternalId,
) -> TestReport {
    let test = TestRequest {
        tenant: tenant.clone(),
        endpoint_id: endpoint_id.cloned(),
        spec: spec.clone(),
        external_id: external_id.clone(),
        deadline: test_deadline(request),
    };
    tester.test(&test).await
}

fn test_deadline(request: &Request) -> Duration {
    match crate::http::time_left(request) {
        Some(left) => left
            .saturating_sub(AFTER_TEST_MARGIN)
            .min(MAX_TEST_DURATION),
        None => MAX_TEST_DURATION,
    }
}

/// Rejects a role in the platform's own AWS account. Roles there may trust the platform
/// principal for the platform's own work. An endpoint that names one would let a tenant reach
/// the platform's data, which is the confused deputy that External IDs guard against.
fn reject_platform_role(
    role_arn: &RoleArn,
    tester: &dyn ConnectionTester,
) -> Result<(), ValidationErrors> {
    let Some(account) = tester.platform_account_id() else {
        return Ok(());
    };
    if role_arn.account_id() != account {
        return Ok(());
    }
    let error = FieldError::new(
        RoleArn::FIELD,
        role_arn.as_str(),
        format!(
            "role_arn names a role in the platform's own AWS account {account}; create the role \
             in the AWS account that owns the bucket"
        ),
    );
    Err(ValidationErrors::from(error))
}
