//! The one error type of the HTTP layer and its mapping to problem details (RFC 9457).
//!
//! Status codes:
//! - 400: the request cannot be read (malformed JSON, a body that is not an object, invalid
//!   query parameters or headers).
//! - 422: the body was read but its fields break the rules (invalid values, wrong JSON types,
//!   unknown fields), the connection test failed, or an `Idempotency-Key` was reused with
//!   another body.
//! - 401: no usable tenant. 404: an unknown route, or an endpoint the tenant does not own.
//! - 405, 409, 413 and 415 as their names say.
//! - 503 with `Retry-After`: the store is unavailable.
//! - 500: everything else, with a generic detail, because internal error text never reaches
//!   the response body.

use super::response::Reply;
use crate::check::TestReport;
use crate::domain::{EndpointId, FieldError, Prefix, ValidationErrors};
use crate::policy::PolicyError;
use crate::store::StoreError;
use http::{header, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

/// Seconds a client waits before retrying when the store is unavailable.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 2;
/// Seconds a client waits before retrying while another request owns its idempotency key.
pub const IN_PROGRESS_RETRY_AFTER_SECS: u32 = 1;

/// Prefix of every problem `type`. The types are relative URI references, stable identifiers
/// that clients compare rather than pages to fetch.
pub const PROBLEM_TYPE_PREFIX: &str = "/problems/";

/// A failed request, with what its problem details show.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unauthorized: {0}")]
    Unauthorized(String),

    #[error("bad request: {detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },

    #[error("malformed JSON at line {line}, column {column}: {message}")]
    MalformedJson {
        message: String,
        line: usize,
        column: usize,
    },

    #[error("{0}")]
    Validation(ValidationErrors),

    #[error("not found: {0}")]
    NotFound(String),

    #[error("method {method} not allowed")]
    MethodNotAllowed { method: Method, allow: Vec<Method> },

    #[error("conflict: {}", .0.detail)]
    Conflict(Box<Conflict>),

    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInProgress,

    #[error("the Idempotency-Key was already used with another request body")]
    IdempotencyKeyReused(String),

    #[error("the connection test failed")]
    ConnectionTestFailed(Box<TestReport>),

    #[error("request body of {received} bytes is larger than {limit} bytes")]
    PayloadTooLarge { received: usize, limit: usize },

    /// The detail names the rejected Content-Type or Content-Encoding and what to send instead.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),

    #[error("the endpoint store is unavailable")]
    Unavailable(#[source] StoreError),

    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A name or prefix that another saved endpoint already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub detail: String,
    /// The rejected field of the new endpoint.
    pub error: FieldError,
    /// The caller's endpoint in the way.
    pub conflicting: ConflictingEndpoint,
}

/// The saved endpoint that a new endpoint conflicts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictingEndpoint {
    pub id: EndpointId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Prefix>,
}

/// A problem details document, serialized as `application/problem+json`.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// One entry per rejected field, empty when the problem concerns no single field.
    pub errors: Vec<FieldError>,
    /// Members that only some problem types have, such as `report` or `conflicting_endpoint`.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    fn new(status: StatusCode, slug: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            extensions: Map::new(),
        }
    }

    fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    fn with_extension(mut self, name: &str, value: impl Serialize) -> Self {
        // The values passed here are derived Serialize types without maps, whose
        // serialization does not fail; if it did, only this member would be missing.
        if let Ok(value) = serde_json::to_value(value) {
            self.extensions.insert(name.to_owned(), value);
        }
        self
    }
}

impl ApiError {
    /// Builds the error for one invalid query parameter or header.
    pub fn bad_parameter(field: &str, value: &str, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, value, message);
        Self::BadRequest {
            detail: format!("{} is invalid: {}", error.field, error.message),
            errors: vec![error],
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest { .. } | Self::MalformedJson { .. } => StatusCode::BAD_REQUEST,
            Self::Validation(_) | Self::ConnectionTestFailed(_) | Self::IdempotencyKeyReused(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::IdempotencyInProgress => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Returns whether the server is at fault, which decides the log level.
    pub fn is_server_error(&self) -> bool {
        self.status().is_server_error()
    }

    /// Builds the problem details sent to the client.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        match self {
            Self::Unauthorized(detail) => {
                Problem::new(status, "unauthorized", "Unauthorized", detail)
            }
            Self::BadRequest { detail, errors } => {
                Problem::new(status, "invalid-request", "Invalid request", detail)
                    .with_errors(errors.clone())
            }
            Self::MalformedJson {
                message,
                line,
                column,
            } => Problem::new(
                status,
                "malformed-json",
                "Malformed JSON",
                format!("request body is not valid JSON at line {line}, column {column}: {message}"),
            )
            .with_extension("line", line)
            .with_extension("column", column),
            Self::Validation(errors) => Problem::new(
                status,
                "validation-failed",
                "Validation failed",
                validation_detail(errors),
            )
            .with_errors(errors.errors().to_vec()),
            Self::NotFound(detail) => Problem::new(status, "not-found", "Not found", detail),
            Self::MethodNotAllowed { method, allow } => Problem::new(
                status,
                "method-not-allowed",
                "Method not allowed",
                format!("{method} is not allowed here; use {}", join_methods(allow)),
            ),
            Self::Conflict(conflict) => {
                Problem::new(status, "conflict", "Conflict", &conflict.detail)
                    .with_errors(vec![conflict.error.clone()])
                    .with_extension("conflicting_endpoint", &conflict.conflicting)
            }
            Self::IdempotencyInProgress => Problem::new(
                status,
                "idempotency-key-in-progress",
                "Request in progress",
                format!(
                    "a request with this Idempotency-Key is still running; retry after {IN_PROGRESS_RETRY_AFTER_SECS} s to get its response"
                ),
            ),
            Self::IdempotencyKeyReused(key) => Problem::new(
                status,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "this Idempotency-Key was used with a different request; send a new key for a new request",
            )
            .with_errors(vec![FieldError::new(
                "Idempotency-Key",
                key,
                "key was already used with a different request body or query",
            )]),
            Self::ConnectionTestFailed(report) => Problem::new(
                status,
                "connection-test-failed",
                "Connection test failed",
                failed_test_detail(report),
            )
            .with_extension("report", report),
            Self::PayloadTooLarge { received, limit } => Problem::new(
                status,
                "payload-too-large",
                "Payload too large",
                format!(
                    "request body is {received} bytes and must be at most {limit} bytes; \
                     send only the documented fields"
                ),
            ),
            Self::UnsupportedMediaType(detail) => Problem::new(
                status,
                "unsupported-media-type",
                "Unsupported media type",
                detail.clone(),
            ),
            Self::Unavailable(_) => Problem::new(
                status,
                "service-unavailable",
                "Service unavailable",
                format!(
                    "the endpoint store is temporarily unavailable; retry after {UNAVAILABLE_RETRY_AFTER_SECS} s"
                ),
            ),
            Self::Internal(_) => Problem::new(
                status,
                "internal-error",
                "Internal error",
                "the request failed because of an internal error; retry later or contact support with the request id",
            ),
        }
    }

    /// Builds the response: the problem document plus the headers some statuses need.
    pub fn to_reply(&self) -> Reply {
        let mut reply = Reply::problem(&self.problem());
        match self {
            Self::MethodNotAllowed { allow, .. } => {
                reply = reply.with_header(header::ALLOW, header_value(&join_methods(allow)));
            }
            Self::Unavailable(_) => {
                reply = reply.with_header(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
            }
            Self::IdempotencyInProgress => {
                reply = reply.with_header(
                    header::RETRY_AFTER,
                    HeaderValue::from(IN_PROGRESS_RETRY_AFTER_SECS),
                );
            }
            Self::Unauthorized(_) => {
                reply =
                    reply.with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        reply
    }
}

impl ApiError {
    /// Maps a policy that cannot be rendered: 422 naming the field and the `value` the client
    /// sent for it, or 500 when no request field is at fault.
    pub fn from_policy_error(error: PolicyError, value: &str) -> Self {
        match error.field() {
            Some(field) => {
                Self::Validation(FieldError::new(field, value, error.to_string()).into())
            }
            None => Self::Internal(Box::new(error)),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}

/// Maps every store failure to the status it means for the client.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NameTaken {
                requested,
                name,
                existing,
            } => Self::Conflict(Box::new(Conflict {
                detail: format!(
                    "an endpoint named {name:?} already exists ({existing}); choose another name"
                ),
                error: FieldError::new(
                    "name",
                    &requested,
                    format!(
                        "name is already used by endpoint {existing}, named {name:?}; names \
                         are unique without regard to letter case"
                    ),
                ),
                conflicting: ConflictingEndpoint {
                    id: existing,
                    name: Some(name),
                    prefix: None,
                },
            })),
            StoreError::PrefixConflict {
                prefix,
                existing,
                existing_prefix,
            } => Self::Conflict(Box::new(Conflict {
                detail: format!(
                    "prefix {:?} overlaps prefix {:?} of endpoint {existing} on the same bucket; endpoints on one bucket need prefixes where neither contains the other",
                    prefix.as_str(),
                    existing_prefix.as_str()
                ),
                error: FieldError::new(
                    "prefix",
                    prefix.as_str(),
                    format!(
                        "prefix overlaps prefix {:?} of endpoint {existing}",
                        existing_prefix.as_str()
                    ),
                ),
                conflicting: ConflictingEndpoint {
                    id: existing,
                    name: None,
                    prefix: Some(existing_prefix),
                },
            })),
            StoreError::NotFound(id) => Self::NotFound(endpoint_not_found(&id)),
            StoreError::InvalidCursor => Self::bad_parameter(
                "cursor",
                "",
                "cursor is invalid or belongs to another query; request the first page again without a cursor",
            ),
            StoreError::Unavailable(_) => Self::Unavailable(error),
            StoreError::IdExists(_) | StoreError::InvalidArgument(_) | StoreError::Corrupt(_) => {
                Self::Internal(Box::new(error))
            }
        }
    }
}

/// Formats the detail of a 404 for an endpoint id. It is the same whether the id is unknown,
/// malformed or owned by another tenant.
/// Builds the 404 detail, echoing a bounded prefix of the id as field errors echo values.
pub fn endpoint_not_found(id: &impl std::fmt::Display) -> String {
    let id = crate::domain::truncate_for_echo(&id.to_string());
    format!("endpoint {id} was not found")
}

fn validation_detail(errors: &ValidationErrors) -> String {
    let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
    format!(
        "{} field(s) are invalid: {}; see errors for each one",
        fields.len(),
        fields.join(", ")
    )
}

fn failed_test_detail(report: &TestReport) -> String {
    match report.failure() {
        Some(failure) => format!(
            "the {} check failed: {}; nothing was saved",
            failure.check, failure.message
        ),
        None => "the connection test failed; nothing was saved".to_owned(),
    }
}

fn join_methods(methods: &[Method]) -> String {
    let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    names.join(", ")
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_statuses() {
        let id = EndpointId::parse("01J0000000000000000000000A").unwrap();
        let cases = [
            (StoreError::NotFound(id.clone()), 404),
            (StoreError::InvalidCursor, 400),
            (StoreError::Unavailable("timed out".into()), 503),
            (StoreError::IdExists(id.clone()), 500),
            (StoreError::Corrupt("bad item".to_owned()), 500),
            (
                StoreError::NameTaken {
                    requested: "N".to_owned(),
                    name: "n".to_owned(),
                    existing: id,
                },
                409,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).status().as_u16(), status);
        }
    }

    #[test]
    fn internal_error_detail_is_generic() {
        let error = ApiError::Internal("secret table name".into());
        let problem = error.problem();
        assert!(!problem.detail.contains("secret"));
        assert_eq!(problem.status, 500);
    }

    #[test]
    fn unavailable_reply_has_retry_after() {
        let reply = ApiError::Unavailable(StoreError::Unavailable("down".into())).to_reply();
        let response = reply.into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn prefix_conflict_names_the_endpoint_and_prefix() {
        let id = EndpointId::parse("01J0000000000000000000000A").unwrap();
        let error = ApiError::from(StoreError::PrefixConflict {
            prefix: Prefix::parse("logs/app").unwrap(),
            existing: id.clone(),
            existing_prefix: Prefix::parse("logs").unwrap(),
        });
        let problem = serde_json::to_value(error.problem()).unwrap();
        assert_eq!(problem["conflicting_endpoint"]["id"], id.as_str());
        assert_eq!(problem["conflicting_endpoint"]["prefix"], "logs/");
        assert_eq!(problem["errors"][0]["field"], "prefix");
        assert_eq!(problem["errors"][0]["value"], "logs/app/");
    }
}
