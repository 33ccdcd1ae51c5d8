//! render-policy: `GET /external-id` and `POST /policies`.

use super::tenant_external_id;
use crate::config::AuthConfig;
use crate::domain::{ExternalId, RoleArn};
use crate::http::{self, ApiError, Caller, QueryParams, Reply, Route};
use crate::store::EndpointStore;
use ::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use std::sync::Arc;

/// The state of render-policy.
pub struct PolicyApp {
    pub store: Arc<dyn EndpointStore>,
    pub auth: AuthConfig,
    /// The platform role that customers' trust policies name.
    pub platform_principal_arn: RoleArn,
}

#[derive(Debug, Clone, Copy)]
enum Name {
    ExternalId,
}

// TODO: add `POST /policies` once the policy renderer is in the crate.
const ROUTES: [Route<Name>; 1] = [Route::new(Method::GET, "/external-id", Name::ExternalId)];

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
        Name::ExternalId => external_id(app, &caller).await,
    }
}

#[derive(Serialize)]
struct ExternalIdBody {
    external_id: ExternalId,
    /// The principal that the customer's role trust policy must allow to assume the role.
    platform_principal_arn: RoleArn,
}

async fn external_id(app: &PolicyApp, caller: &Caller) -> Result<Reply, ApiError> {
    let external_id = tenant_external_id(app.store.as_ref(), &caller.tenant).await?;
    Reply::json(
        StatusCode::OK,
        &ExternalIdBody {
            external_id,
            platform_principal_arn: app.platform_principal_arn.clone(),
        },
    )
}
