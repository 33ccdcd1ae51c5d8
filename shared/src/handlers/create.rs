//! create-endpoint: `POST /endpoints` and `DELETE /endpoints/{id}`.
//!
//! A create validates every field, runs the connection test unless `?skip_test=true` is given,
//! and stores the endpoint only when the test passed. With an `Idempotency-Key` header, the
//! same key and body return the first success again, the same key with another body gets
//! 422, and a retry that arrives while the first request still runs gets 409. The key keeps
//! only a successful create: any failure frees it, so that a retry after fixing the cause
//! (a trust policy, a conflicting endpoint) runs again.

use super::test::record_result;
use super::{run_connection_test, tenant_external_id, EndpointView};
use crate::check::{ConnectionTester, TestReport};
use crate::clock::{Clock, IdGenerator};
use crate::config::AuthConfig;
use crate::domain::{Endpoint, EndpointSpec, FieldError};
use crate::http::{self, endpoint_not_found, ApiError, Caller, QueryParams, Reply, Route};
use crate::store::{EndpointStore, IdempotencyClaim, StoreError, StoredResponse};
use ::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::Duration;

/// The request header that makes a create safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// How long a key is remembered.
///
/// NOTE: a claim gets this expiry as soon as it is made. If the invocation dies before it
/// completes or releases the claim, retries with the key get 409 until the claim expires,
/// because the store has no shorter lease for claims in progress.
pub const IDEMPOTENCY_KEY_TTL: Duration = Duration::hours(24);

/// The maximum key length, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The state of create-endpoint.
pub struct CreateApp {
    pub store: Arc<dyn EndpointStore>,
    pub tester: Arc<dyn ConnectionTester>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub auth: AuthConfig,
}

#[derive(Debug, Clone, Copy)]
enum Name {
    Create,
    Delete,
}

const ROUTES: [Route<Name>; 2] = [
    Route::new(Method::POST, "/endpoints", Name::Create),
    Route::new(Method::DELETE, "/endpoints/{id}", Name::Delete),
];

pub async fn handle(
    app: &CreateApp,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(http::respond(&request, dispatch(app, &request)).await)
}

async fn dispatch(app: &CreateApp, request: &Request) -> Result<Reply, ApiError> {
    let caller = http::authenticate(request, &app.auth)?;
    http::record_tenant(&caller);

    match http::resolve(&ROUTES, request)? {
        (Name::Create, _) => create(app, &caller, request).await,
        (Name::Delete, params) => {
            QueryParams::parse(request, &[])?;
            http::reject_body(request)?;
            delete(app, &caller, &params).await
        }
    }
}

/// A validated create request: what the request hash covers.
#[derive(Serialize)]
struct CreateRequest {
    spec: EndpointSpec,
    skip_test: bool,
}

async fn create(app: &CreateApp, caller: &Caller, request: &Request) -> Result<Reply, ApiError> {
    let skip_test = QueryParams::parse(request, &["skip_test"])?.flag("skip_test")?;
    let (_, spec) = http::parse_and_validate(request, |input| {
        let spec = EndpointSpec::parse(input)?;
        super::reject_platform_role(&spec.connection.role_arn, app.tester.as_ref())?;
        Ok(spec)
    })?;
    let create = CreateRequest { spec, skip_test };

    match idempotency_key(request)? {
        None => create_endpoint(app, caller, request, &create).await,
        Some(key) => create_once(app, caller, request, &create, &key).await,
    }
}

/// Runs the create under `key`, or returns what an earlier request with the same key left.
async fn create_once(
    app: &CreateApp,
    caller: &Caller,
    request: &Request,
    create: &CreateRequest,
    key: &str,
) -> Result<Reply, ApiError> {
    let hash = request_hash(create)?;
    let expires_at = app.clock.now() + IDEMPOTENCY_KEY_TTL;
    let claim = app
        .store
        .claim_idempotency_key(&caller.tenant, key, &hash, expires_at)
        .await?;

    match claim {
        IdempotencyClaim::Claimed => {}
        IdempotencyClaim::InProgress { request_hash } if request_hash == hash => {
            return Err(ApiError::IdempotencyInProgress);
        }
        IdempotencyClaim::Completed {
            request_hash,
            response,
        } if request_hash == hash => {
            tracing::info!("replaying the response stored under the idempotency key");
            return Ok(replay(response.status, response.body));
        }
        IdempotencyClaim::InProgress { .. } | IdempotencyClaim::Completed { .. } => {
            return Err(ApiError::IdempotencyKeyReused(key.to_owned()));
        }
    }

    let outcome = create_endpoint(app, caller, request, create).await;
    settle_key(app.store.as_ref(), caller, key, &outcome).await;
    outcome
}

/// Keeps a successful response under the key, or frees the key after a failure.
async fn settle_key(
    store: &dyn EndpointStore,
    caller: &Caller,
    key: &str,
    outcome: &Result<Reply, ApiError>,
) {
    let result = match outcome {
        Ok(reply) => {
            let response = StoredResponse {
                status: reply.status.as_u16(),
                body: reply.body.clone().unwrap_or_default(),
            };
            store
                .complete_idempotency_key(&caller.tenant, key, &response)
                .await
        }
        Err(_) => store.release_idempotency_key(&caller.tenant, key).await,
    };
    // NOTE: the endpoint exists whether or not this write succeeds. A key left claimed makes
    // retries get 409 until it expires, and a create retried under a new key hits the name
    // conflict, so no duplicate is stored either way.
    if let Err(error) = result {
        tracing::error!(error = %error, "storing the idempotency key's outcome failed");
    }
}

#[derive(Serialize)]
struct Created {
    endpoint: EndpointView,
    /// The connection test that ran before saving, `null` when it was skipped.
    test: Option<TestReport>,
}

/// Tests the configuration unless skipped, then stores the endpoint.
async fn create_endpoint(
    app: &CreateApp,
    caller: &Caller,
    request: &Request,
    create: &CreateRequest,
) -> Result<Reply, ApiError> {
    let external_id = tenant_external_id(app.store.as_ref(), &caller.tenant).await?;

    let tested_at = app.clock.now();
    let report = if create.skip_test {
        None
    } else {
        let report = run_connection_test(
            app.tester.as_ref(),
            request,
            &caller.tenant,
            None,
            &create.spec.connection,
            &external_id,
        )
        .await;
        if !report.passed() {
            return Err(ApiError::ConnectionTestFailed(Box::new(report)));
        }
        Some(report)
    };

    let now = app.clock.now();
    let endpoint = Endpoint {
        id: app.ids.endpoint_id(now),
        tenant: caller.tenant.clone(),
        spec: create.spec.clone(),
        external_id,
        created_at: now,
        created_by: caller.subject.clone(),
    };
    http::record_endpoint(&endpoint.id);
    app.store.create_endpoint(&endpoint).await?;
    tracing::info!(skip_test = create.skip_test, "endpoint created");

    let health = match &report {
        Some(report) => initial_health(app, caller, &endpoint, tested_at, report).await,
        None => None,
    };
    created_reply(endpoint, health, report)
}

/// Stores the passed test as the new endpoint's first health. The endpoint is saved by then,
/// so a failure here is logged and the response shows no health.
async fn initial_health(
    app: &CreateApp,
    caller: &Caller,
    endpoint: &Endpoint,
    tested_at: time::OffsetDateTime,
    report: &TestReport,
) -> Option<crate::domain::Health> {
    match record_result(app.store.as_ref(), caller, &endpoint.id, tested_at, report).await {
        Ok(health) => health,
        Err(error) => {
            tracing::warn!(error = %error, "storing the first health of the new endpoint failed");
            None
        }
    }
}

fn created_reply(
    endpoint: Endpoint,
    health: Option<crate::domain::Health>,
    test: Option<TestReport>,
) -> Result<Reply, ApiError> {
    let location = format!("/endpoints/{}", endpoint.id);
    let body = Created {
        endpoint: EndpointView::new(endpoint, health),
        test,
    };
    let reply = Reply::json(StatusCode::CREATED, &body)?;
    Ok(match HeaderValue::from_str(&location) {
        Ok(value) => reply.with_header(header::LOCATION, value),
        Err(_) => reply,
    })
}

/// Rebuilds a stored response. A stored 201 gets its `Location` again from the endpoint id in
/// its body, because only the status and the body are stored.
fn replay(status: u16, body: String) -> Reply {
    let location = (status == StatusCode::CREATED.as_u16())
        .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
        .flatten()
        .and_then(|created| created["endpoint"]["id"].as_str().map(str::to_owned))
        .and_then(|id| HeaderValue::from_str(&format!("/endpoints/{id}")).ok());
    let reply = Reply::replay(status, body);
    match location {
        Some(value) => reply.with_header(header::LOCATION, value),
        None => reply,
    }
}

/// Reads the `Idempotency-Key` header: 1 to 255 visible ASCII characters, at most once.
fn idempotency_key(request: &Request) -> Result<Option<String>, ApiError> {
    let mut values = request.headers().get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(key_error("", "Idempotency-Key may be sent only once"));
    }
    // A value with bytes outside visible ASCII is echoed lossily, so the error still shows it.
    let lossy = String::from_utf8_lossy(value.as_bytes());
    let text = value.to_str().unwrap_or(&lossy);
    // API Gateway joins a repeated header with commas, so a comma would hide a second key.
    if text.contains(',') {
        return Err(key_error(
            text,
            "Idempotency-Key may be sent only once and must not contain commas; send one key, such as a UUID",
        ));
    }
    let visible = !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic());
    if !visible || text.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(key_error(
            text,
            &format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters, such as a UUID"
            ),
        ));
    }
    Ok(Some(text.to_owned()))
}

fn key_error(value: &str, message: &str) -> ApiError {
    let error = FieldError::new("Idempotency-Key", value, message);
    ApiError::BadRequest {
        detail: message.to_owned(),
        errors: vec![error],
    }
}

/// Hashes the validated request, so that two bodies that differ only in formatting, key
/// order or an equivalent prefix spelling (`logs` and `logs/`) count as the same request.
fn request_hash(create: &CreateRequest) -> Result<String, ApiError> {
    let canonical =
        serde_json::to_vec(create).map_err(|error| ApiError::Internal(Box::new(error)))?;
    Ok(hex::encode(Sha256::digest(&canonical)))
}

async fn delete(
    app: &CreateApp,
    caller: &Caller,
    params: &http::PathParams,
) -> Result<Reply, ApiError> {
    let id = params.endpoint_id()?;
    http::record_endpoint(&id);
    match app.store.delete_endpoint(&caller.tenant, &id).await {
        Ok(_) => {
            tracing::info!("endpoint deleted");
            Ok(Reply::no_content())
        }
        Err(StoreError::NotFound(_)) => Err(ApiError::NotFound(endpoint_not_found(&id))),
        Err(error) => Err(error.into()),
    }
}
