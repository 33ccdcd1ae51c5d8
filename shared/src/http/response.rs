//! Responses as the handlers build them, before they become Lambda responses.

use super::error::{ApiError, Problem};
use http::{header, HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

pub const JSON: &str = "application/json";
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A finished response whose body is kept as text, so that a create response can be stored
/// under its `Idempotency-Key` and replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    /// The body, or `None` for a response without one (204).
    pub body: Option<String>,
    pub content_type: &'static str,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    /// Serializes `body` as a JSON response.
    pub fn json(status: StatusCode, body: &impl Serialize) -> Result<Self, ApiError> {
        let text = serde_json::to_string(body).map_err(|error| ApiError::Internal(error.into()))?;
        Ok(Self::text(status, text, JSON))
    }

    pub fn problem(problem: &Problem) -> Self {
        // A Problem contains only strings, numbers and JSON values, whose serialization does
        // not fail. The fallback keeps the status if it ever does.
        let text = serde_json::to_string(problem).unwrap_or_else(|_| {
            format!(
                r#"{{"type":"about:blank","title":"Error","status":{},"detail":"","errors":[]}}"#,
                problem.status
            )
        });
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::text(status, text, PROBLEM_JSON)
    }

    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            content_type: JSON,
            headers: Vec::new(),
        }
    }

    /// Rebuilds a response stored under an `Idempotency-Key`.
    pub fn replay(status: u16, body: String) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = if status.is_success() {
            JSON
        } else {
            PROBLEM_JSON
        };
        Self::text(status, body, content_type).with_header(
            IDEMPOTENT_REPLAYED.clone(),
            HeaderValue::from_static("true"),
        )
    }

    fn text(status: StatusCode, body: String, content_type: &'static str) -> Self {
        Self {
            status,
            body: Some(body),
            content_type,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn into_response(self) -> Response<Body> {
        let mut response = Response::new(match self.body {
            Some(text) => Body::Text(text),
            None => Body::Empty,
        });
        *response.status_mut() = self.status;

        let headers = response.headers_mut();
        if self.status != StatusCode::NO_CONTENT {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
        }
        // Bodies hold tenant data, which no shared cache may keep.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

/// Marks a response replayed from an earlier request with the same `Idempotency-Key`.
pub static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
