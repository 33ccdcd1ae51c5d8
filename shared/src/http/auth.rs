//! The caller's tenant and subject, read only from the API Gateway authorizer context.
//!
//! API Gateway writes the authorizer context after it verified the token, so a client cannot
//! set it; headers, query parameters and bodies are never consulted. The tenant comes from a
//! dedicated claim (`tenant_id` unless configured otherwise) rather than `sub`, because `sub`
//! names one user or client, while a tenant is the platform account that several users and
//! machine clients share.

use super::error::ApiError;
use crate::config::AuthConfig;
use crate::domain::TenantId;
use lambda_http::aws_lambda_events::apigw::ApiGatewayRequestAuthorizer;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::Value;
use std::collections::HashMap;

/// The key of the tenant id in a Lambda authorizer's context.
pub const LAMBDA_TENANT_KEY: &str = "tenant_id";

/// The sender of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    /// The authorizer's subject (`sub`, else the client id or principal id), stored as the
    /// creator of new endpoints.
    pub subject: String,
}

/// The part of the authorizer context that describes the caller.
enum AuthorizerFacts<'a> {
    /// Claims of a verified JWT: an HTTP API JWT authorizer or a REST API Cognito authorizer.
    Jwt(JwtClaims<'a>),
    /// The context a Lambda authorizer returned.
    Lambda(&'a HashMap<String, Value>),
}

enum JwtClaims<'a> {
    Strings(&'a HashMap<String, String>),
    Values(&'a serde_json::Map<String, Value>),
}

impl JwtClaims<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            Self::Strings(claims) => claims.get(name).cloned(),
            Self::Values(claims) => claims.get(name).and_then(scalar_text),
        }
    }
}

/// Reads the caller from the authorizer context, or returns 401.
pub fn authenticate(request: &Request, config: &AuthConfig) -> Result<Caller, ApiError> {
    let facts = request
        .request_context_ref()
        .and_then(authorizer_of)
        .and_then(facts_of)
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "the request has no authorizer context; call the API through API Gateway with a valid token".to_owned(),
            )
        })?;

    let (tenant, subject) = match &facts {
        AuthorizerFacts::Jwt(claims) => (
            claims.get(&config.tenant_claim),
            claims.get("sub").or_else(|| claims.get("client_id")),
        ),
        AuthorizerFacts::Lambda(context) => (
            context.get(LAMBDA_TENANT_KEY).and_then(scalar_text),
            ["sub", "principalId", "principal_id"]
                .iter()
                .find_map(|key| context.get(*key).and_then(scalar_text)),
        ),
    };

    let tenant = parse_tenant(tenant, &facts, config)?;
    let subject = subject.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::Unauthorized(
            "the token has no subject (sub or client_id claim); use a token issued to a user or client".to_owned(),
        )
    })?;
    Ok(Caller { tenant, subject })
}

fn authorizer_of(context: &RequestContext) -> Option<&ApiGatewayRequestAuthorizer> {
    match context {
        RequestContext::ApiGatewayV1(_) | RequestContext::ApiGatewayV2(_) => context.authorizer(),
        _ => None,
    }
}

fn facts_of(authorizer: &ApiGatewayRequestAuthorizer) -> Option<AuthorizerFacts<'_>> {
    if let Some(jwt) = &authorizer.jwt {
        return Some(AuthorizerFacts::Jwt(JwtClaims::Strings(&jwt.claims)));
    }
    // A REST API keeps the whole authorizer object in `fields`; a Cognito user pool
    // authorizer nests the token's claims under `claims` there.
    if let Some(Value::Object(claims)) = authorizer.fields.get("claims") {
        return Some(AuthorizerFacts::Jwt(JwtClaims::Values(claims)));
    }
    if authorizer.fields.is_empty() {
        return None;
    }
    Some(AuthorizerFacts::Lambda(&authorizer.fields))
}

fn parse_tenant(
    raw: Option<String>,
    facts: &AuthorizerFacts<'_>,
    config: &AuthConfig,
) -> Result<TenantId, ApiError> {
    let source = match facts {
        AuthorizerFacts::Jwt(_) => format!("claim {:?}", config.tenant_claim),
        AuthorizerFacts::Lambda(_) => format!("authorizer context key {LAMBDA_TENANT_KEY:?}"),
    };
    let raw = raw.filter(|value| !value.is_empty()).ok_or_else(|| {
        ApiError::Unauthorized(format!(
            "the token has no tenant ({source} is missing or empty); use a token issued for a tenant"
        ))
    })?;
    TenantId::parse(&raw).map_err(|error| {
        ApiError::Unauthorized(format!(
            "the tenant in {source} is invalid: {}",
            error.message
        ))
    })
}

/// Returns strings as they are and numbers or booleans in their JSON form, because a Lambda
/// authorizer's context may only hold those three types.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}
