//! test-endpoint: `POST /endpoints/test` for an unsaved configuration and
//! `POST /endpoints/{id}/test` for a saved endpoint, whose result becomes its health.

use super::list::find_endpoint;
use super::{run_connection_test, tenant_external_id};
use crate::check::{ConnectionTester, TestReport};
use crate::clock::Clock;
use crate::config::AuthConfig;
use crate::domain::{ConnectionSpec, EndpointId, Health};
use crate::http::{self, ApiError, Caller, QueryParams, Reply, Route};
use crate::store::{EndpointStore, HealthWrite};
use ::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use std::sync::Arc;

/// The state of test-endpoint.
pub struct TestApp {
    pub store: Arc<dyn EndpointStore>,
    pub tester: Arc<dyn ConnectionTester>,
    pub clock: Arc<dyn Clock>,
    pub auth: AuthConfig,
}

#[derive(Debug, Clone, Copy)]
enum Name {
    TestUnsaved,
    TestSaved,
}

const ROUTES: [Route<Name>; 2] = [
    Route::new(Method::POST, "/endpoints/test", Name::TestUnsaved),
    Route::new(Method::POST, "/endpoints/{id}/test", Name::TestSaved),
];

pub async fn handle(app: &TestApp, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(http::respond(&request, dispatch(app, &request)).await)
}

async fn dispatch(app: &TestApp, request: &Request) -> Result<Reply, ApiError> {
    let caller = http::authenticate(request, &app.auth)?;
    http::record_tenant(&caller);

    let (name, params) = http::resolve(&ROUTES, request)?;
    QueryParams::parse(request, &[])?;
    match name {
        Name::TestUnsaved => test_unsaved(app, &caller, request).await,
        Name::TestSaved => {
            http::reject_body(request)?;
            test_saved(app, &caller, request, &params.endpoint_id()?).await
        }
    }
}

#[derive(Serialize)]
struct UnsavedResult {
    report: TestReport,
}

async fn test_unsaved(
    app: &TestApp,
    caller: &Caller,
    request: &Request,
) -> Result<Reply, ApiError> {
    let (_, spec) = http::parse_and_validate(request, |input| {
        let spec = ConnectionSpec::parse(input)?;
        super::reject_platform_role(&spec.role_arn, app.tester.as_ref())?;
        Ok(spec)
    })?;
    let external_id = tenant_external_id(app.store.as_ref(), &caller.tenant).await?;

    let report = run_connection_test(
        app.tester.as_ref(),
        request,
        &caller.tenant,
        None,
        &spec,
        &external_id,
    )
    .await;
    log_outcome(&report);
    Reply::json(StatusCode::OK, &UnsavedResult { report })
}

#[derive(Serialize)]
struct SavedResult {
    endpoint_id: EndpointId,
    report: TestReport,
    /// The endpoint's health after this test, or the newer one another test stored meanwhile.
    health: Option<Health>,
}

async fn test_saved(
    app: &TestApp,
    caller: &Caller,
    request: &Request,
    id: &EndpointId,
) -> Result<Reply, ApiError> {
    http::record_endpoint(id);
    let endpoint = find_endpoint(app.store.as_ref(), &caller.tenant, id).await?;

    // The test's start time orders results: a test that started later wins the newer-only
    // write even if it finished first.
    let checked_at = app.clock.now();
    let report = run_connection_test(
        app.tester.as_ref(),
        request,
        &caller.tenant,
        Some(id),
        &endpoint.spec.connection,
        &endpoint.external_id,
    )
    .await;
    log_outcome(&report);

    let health = record_result(app.store.as_ref(), caller, id, checked_at, &report).await?;
    Reply::json(
        StatusCode::OK,
        &SavedResult {
            endpoint_id: id.clone(),
            report,
            health,
        },
    )
}

/// Stores the health that follows from `report`, and returns the health now stored.
pub(crate) async fn record_result(
    store: &dyn EndpointStore,
    caller: &Caller,
    id: &EndpointId,
    checked_at: time::OffsetDateTime,
    report: &TestReport,
) -> Result<Option<Health>, ApiError> {
    let ids = std::slice::from_ref(id);
    let previous = store.get_health(&caller.tenant, ids).await?.remove(id);
    let health = Health::after(previous.as_ref(), checked_at, report.failure());

    match store.record_health(&caller.tenant, id, &health).await? {
        HealthWrite::Written { .. } => Ok(Some(health)),
        HealthWrite::Stale => {
            tracing::info!("a newer test result was already stored; returning it");
            Ok(store.get_health(&caller.tenant, ids).await?.remove(id))
        }
    }
}

fn log_outcome(report: &TestReport) {
    match report.failure() {
        None => tracing::info!(duration_ms = report.duration_ms, "connection test passed"),
        Some(failure) => tracing::info!(
            duration_ms = report.duration_ms,
            check = %failure.check,
            error_code = failure.error_code.as_deref().unwrap_or(""),
            "connection test failed"
        ),
    }
}
