//! Query string parameters, already percent-decoded by lambda_http (HTTP API payloads, where
//! `+` also becomes a space) or by API Gateway (REST API payloads).

use super::error::ApiError;
use crate::domain::FieldError;
use lambda_http::{Request, RequestExt};

/// The query parameters of one request, checked against the names a route accepts.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Reads the parameters, rejecting any name outside `accepted` with 400.
    pub fn parse(request: &Request, accepted: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = request
            .query_string_parameters_ref()
            .map(|map| {
                map.iter()
                    .map(|(name, value)| (name.to_owned(), value.to_owned()))
                    .collect()
            })
            .unwrap_or_default();

        let mut unknown: Vec<FieldError> = pairs
            .iter()
            .filter(|(name, _)| !accepted.contains(&name.as_str()))
            .map(|(name, value)| {
                let message = if accepted.is_empty() {
                    "unknown query parameter; this route takes none".to_owned()
                } else {
                    format!(
                        "unknown query parameter; the accepted ones are {}",
                        accepted.join(", ")
                    )
                };
                FieldError::new(name, value, message)
            })
            .collect();
        if !unknown.is_empty() {
            unknown.sort_by(|a, b| a.field.cmp(&b.field));
            let names: Vec<String> = unknown.iter().map(|e| format!("{:?}", e.field)).collect();
            return Err(ApiError::BadRequest {
                detail: format!("unknown query parameter(s): {}", names.join(", ")),
                errors: unknown,
            });
        }
        Ok(Self { pairs })
    }

    /// Returns the one value of `name`, `None` when absent, and 400 when it is repeated.
    pub fn single(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let first = values.next();
        if let Some(second) = values.next() {
            return Err(ApiError::bad_parameter(
                name,
                second,
                format!("{name} may be given only once"),
            ));
        }
        Ok(first)
    }

    /// Reads a `true` or `false` flag, `false` when absent.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.single(name)? {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::bad_parameter(
                name,
                other,
                format!("{name} must be true or false"),
            )),
        }
    }
}
