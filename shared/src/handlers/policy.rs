//! render-policy: `GET /external-id` and `POST /policies`.

use super::tenant_external_id;
use crate::config::AuthConfig;
use crate::domain::ExternalId;
use crate::http::{self, ApiError, Caller, QueryParams, Reply, Route};
use crate::policy::{render, PlatformIdentity, PolicyInput, PolicyRequest};
use crate::store::EndpointStore;
use ::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use std::sync::Arc;

/// The state of render-policy.
pub struct PolicyApp {
    pub store: Arc<dyn EndpointStore>,
    pub auth: AuthConfig,
    /// The principal that customers' trust policies name, and the name in suggested role names.
    pub platform: PlatformIdentity,
}

#[derive(Debug, Clone, Copy)]
enum Name {
    ExternalId,
    Policies,
}

const ROUTES: [Route<Name>; 2] = [
    Route::new(Method::GET, "/external-id", Name::ExternalId),
    Route::new(Method::POST, "/policies", Name::Policies),
];

pub async fn handle(
    app: &PolicyApp,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(http::respond(&request, dispatch(app, &request)).await)
}

async fn dispatch(app: &PolicyApp, request: &Request) -> Result<Reply, ApiError> {
    let caller = http::authenticate(request, &app.auth)?;
    http::record_tenant(&caller);

    let (name, _) = http::resolve(&ROUTES, request)?;
    QueryParams::parse(request, &[])?;
    match name {
        Name::ExternalId => {
            http::reject_body(request)?;
            external_id(app, &caller).await
        }
        Name::Policies => policies(app, &caller, request).await,
    }
}

#[derive(Serialize)]
struct ExternalIdBody {
    external_id: ExternalId,
    /// The principal that the customer's role trust policy must allow to assume the role.
    platform_principal_arn: String,
}

async fn external_id(app: &PolicyApp, caller: &Caller) -> Result<Reply, ApiError> {
    let external_id = tenant_external_id(app.store.as_ref(), &caller.tenant).await?;
    Reply::json(
        StatusCode::OK,
        &ExternalIdBody {
            external_id,
            platform_principal_arn: app.platform.principal_arn().to_owned(),
        },
    )
}

async fn policies(app: &PolicyApp, caller: &Caller, request: &Request) -> Result<Reply, ApiError> {
    let (input, policy_request) = http::parse_and_validate(request, PolicyRequest::parse)?;
    let external_id = tenant_external_id(app.store.as_ref(), &caller.tenant).await?;

    let bundle = render(&policy_request, &app.platform, &external_id).map_err(|error| {
        let value = error.field().and_then(|field| input_value(&input, field));
        ApiError::from_policy_error(error, value.unwrap_or_default())
    })?;
    Reply::json(StatusCode::OK, &bundle)
}

/// Returns the value the client sent for `field`, for the error that names it.
fn input_value<'a>(input: &'a PolicyInput, field: &str) -> Option<&'a str> {
    let value = match field {
        "mode" => &input.mode,
        "bucket" => &input.bucket,
        "prefix" => &input.prefix,
        "region" => &input.region,
        "kms_key_arn" => &input.kms_key_arn,
        _ => return None,
    };
    value.as_deref()
}
