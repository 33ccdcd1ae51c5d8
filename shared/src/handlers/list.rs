//! list-endpoints: `GET /endpoints` and `GET /endpoints/{id}`.

use super::EndpointView;
use crate::config::AuthConfig;
use crate::domain::{AccessMode, EndpointId, Feature, TenantId};
use crate::http::{self, endpoint_not_found, ApiError, Caller, QueryParams, Reply, Route};
use crate::store::{EndpointStore, ListQuery, StoreError, MAX_PAGE_SIZE};
use ::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use std::sync::Arc;

/// Page size when the request sets no `limit`.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// The state of list-endpoints.
pub struct ListApp {
    pub store: Arc<dyn EndpointStore>,
    pub auth: AuthConfig,
}

#[derive(Debug, Clone, Copy)]
enum Name {
    List,
    Get,
}

const ROUTES: [Route<Name>; 2] = [
    Route::new(Method::GET, "/endpoints", Name::List),
    Route::new(Method::GET, "/endpoints/{id}", Name::Get),
];

pub async fn handle(app: &ListApp, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(http::respond(&request, dispatch(app, &request)).await)
}

async fn dispatch(app: &ListApp, request: &Request) -> Result<Reply, ApiError> {
    let caller = http::authenticate(request, &app.auth)?;
    http::record_tenant(&caller);

    match http::resolve(&ROUTES, request)? {
        (Name::List, _) => {
            http::reject_body(request)?;
            list(app, &caller, request).await
        }
        (Name::Get, params) => {
            QueryParams::parse(request, &[])?;
            http::reject_body(request)?;
            get(app, &caller, &params.endpoint_id()?).await
        }
    }
}

#[derive(Serialize)]
struct EndpointList {
    endpoints: Vec<EndpointView>,
    next_cursor: Option<String>,
}

async fn list(app: &ListApp, caller: &Caller, request: &Request) -> Result<Reply, ApiError> {
    let params = QueryParams::parse(request, &["mode", "feature", "limit", "cursor"])?;
    let query = list_query(&params)?;
    let page = match app.store.list_endpoints(&caller.tenant, &query).await {
        Ok(page) => page,
        Err(StoreError::InvalidCursor) => return Err(invalid_cursor(&query)),
        Err(error) => return Err(error.into()),
    };

    // The store scopes every query to the tenant; dropping anything else here keeps a store
    // bug from showing one tenant's endpoints to another.
    let (endpoints, foreign): (Vec<_>, Vec<_>) = page
        .endpoints
        .into_iter()
        .partition(|endpoint| endpoint.tenant == caller.tenant);
    if !foreign.is_empty() {
        tracing::error!(
            count = foreign.len(),
            "the store returned endpoints of another tenant; they were dropped"
        );
    }

    let ids: Vec<EndpointId> = endpoints.iter().map(|e| e.id.clone()).collect();
    let mut health = app.store.get_health(&caller.tenant, &ids).await?;
    let views = endpoints
        .into_iter()
        .map(|endpoint| {
            let latest = health.remove(&endpoint.id);
            EndpointView::new(endpoint, latest)
        })
        .collect();

    Reply::json(
        StatusCode::OK,
        &EndpointList {
            endpoints: views,
            next_cursor: page.next_cursor,
        },
    )
}

/// Builds the store query from `mode`, `feature`, `limit` and `cursor`.
fn list_query(params: &QueryParams) -> Result<ListQuery, ApiError> {
    let mode = params
        .single("mode")?
        .map(|raw| AccessMode::parse(raw).map_err(query_error))
        .transpose()?;
    let feature = params
        .single("feature")?
        .map(|raw| Feature::parse(raw).map_err(query_error))
        .transpose()?;
    let mode = combine_mode_and_feature(mode, feature)?;

    let limit = match params.single("limit")? {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => parse_limit(raw)?,
    };
    let cursor = match params.single("cursor")? {
        None => None,
        Some("") => {
            return Err(ApiError::bad_parameter(
                "cursor",
                "",
                "cursor must not be empty; omit it to get the first page",
            ))
        }
        Some(raw) => Some(raw.to_owned()),
    };
    Ok(ListQuery {
        mode,
        limit,
        cursor,
    })
}

/// Turns a feature filter into the mode it needs. A mode and a feature that need different
/// modes can match nothing, so the pair is rejected as a client mistake.
fn combine_mode_and_feature(
    mode: Option<AccessMode>,
    feature: Option<Feature>,
) -> Result<Option<AccessMode>, ApiError> {
    match (mode, feature) {
        (Some(mode), Some(feature)) if feature.required_mode() != mode => {
            Err(ApiError::bad_parameter(
                Feature::FIELD,
                feature.as_str(),
                format!(
                    "feature {} needs {} endpoints but mode is {}; drop one of the two filters",
                    feature.as_str(),
                    feature.required_mode().as_str(),
                    mode.as_str()
                ),
            ))
        }
        (Some(mode), _) => Ok(Some(mode)),
        (None, Some(feature)) => Ok(Some(feature.required_mode())),
        (None, None) => Ok(None),
    }
}

fn parse_limit(raw: &str) -> Result<u32, ApiError> {
    match raw.parse::<u32>() {
        Ok(limit) if (1..=MAX_PAGE_SIZE).contains(&limit) => Ok(limit),
        _ => Err(ApiError::bad_parameter(
            "limit",
            raw,
            format!("limit must be a whole number from 1 to {MAX_PAGE_SIZE}"),
        )),
    }
}

fn invalid_cursor(query: &ListQuery) -> ApiError {
    ApiError::bad_parameter(
        "cursor",
        query.cursor.as_deref().unwrap_or(""),
        "cursor is invalid or belongs to another query; request the first page again without a cursor",
    )
}

fn query_error(error: crate::domain::FieldError) -> ApiError {
    ApiError::bad_parameter(&error.field, &error.value, error.message)
}

async fn get(app: &ListApp, caller: &Caller, id: &EndpointId) -> Result<Reply, ApiError> {
    http::record_endpoint(id);
    let endpoint = find_endpoint(app.store.as_ref(), &caller.tenant, id).await?;
    let mut health = app
        .store
        .get_health(&caller.tenant, std::slice::from_ref(id))
        .await?;
    let latest = health.remove(id);
    Reply::json(StatusCode::OK, &EndpointView::new(endpoint, latest))
}

/// Loads the tenant's endpoint, with a 404 when the tenant has no endpoint with this id.
pub(crate) async fn find_endpoint(
    store: &dyn EndpointStore,
    tenant: &TenantId,
    id: &EndpointId,
) -> Result<crate::domain::Endpoint, ApiError> {
    match store.get_endpoint(tenant, id).await? {
        Some(endpoint) if endpoint.tenant == *tenant => Ok(endpoint),
        _ => Err(ApiError::NotFound(endpoint_not_found(id))),
    }
}
