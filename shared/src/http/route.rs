//! Route matching on the request path without its stage, with 404 and 405 for the rest.

use super::error::{endpoint_not_found, ApiError};
use crate::domain::EndpointId;
use http::Method;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use percent_encoding::percent_decode_str;

/// One route of a function: a method and a path pattern whose `{name}` segments capture.
#[derive(Debug, Clone)]
pub struct Route<R> {
    pub method: Method,
    pub pattern: &'static str,
    pub name: R,
}

impl<R> Route<R> {
    pub const fn new(method: Method, pattern: &'static str, name: R) -> Self {
        Self {
            method,
            pattern,
            name,
        }
    }
}

/// The values of a matched route's `{name}` segments, percent-decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Parses the `{id}` segment. An id that cannot exist gets the same 404 as an unknown
    /// one, so that no response reveals which ids are well-formed.
    pub fn endpoint_id(&self) -> Result<EndpointId, ApiError> {
        let raw = self.get("id").unwrap_or_default();
        EndpointId::parse(raw).map_err(|_| ApiError::NotFound(endpoint_not_found(&raw)))
    }
}

/// Finds the route for the request's method and path: 404 when no pattern matches the path,
/// 405 with the allowed methods when only the method differs.
pub fn resolve<R: Copy>(
    routes: &[Route<R>],
    request: &Request,
) -> Result<(R, PathParams), ApiError> {
    let path = route_path(request);
    let segments = split_segments(&path);

    let mut allowed = Vec::new();
    for route in routes {
        let Some(params) = match_pattern(route.pattern, &segments) else {
            continue;
        };
        if route.method == request.method() {
            return Ok((route.name, params));
        }
        allowed.push(route.method.clone());
    }
    if allowed.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no route matches {} {path}",
            request.method()
        )));
    }
    Err(ApiError::MethodNotAllowed {
        method: request.method().clone(),
        allow: allowed,
    })
}

/// Returns the path as the API defines it, without a leading stage segment.
///
/// lambda_http 1.3's `uri()` adds the stage to the path unless
/// AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH is set. Its `raw_http_path()` returns the payload's
/// path as sent. An HTTP API's `rawPath` starts with the stage name for a named stage
/// (`/prod/endpoints`), and a REST API's `path` does not, so the stage is removed only when
/// the raw path starts with it.
pub fn route_path(request: &Request) -> String {
    let raw = request.raw_http_path();
    let raw = if raw.is_empty() {
        request.uri().path()
    } else {
        raw
    };
    let stage = request.request_context_ref().and_then(stage_of);
    let without_stage = match stage {
        Some(stage) if stage != "$default" => strip_stage(raw, stage),
        _ => raw,
    };
    if without_stage.is_empty() {
        "/".to_owned()
    } else {
        without_stage.to_owned()
    }
}

fn stage_of(context: &RequestContext) -> Option<&str> {
    match context {
        RequestContext::ApiGatewayV1(context) => context.stage.as_deref(),
        RequestContext::ApiGatewayV2(context) => context.stage.as_deref(),
        _ => None,
    }
}

fn strip_stage<'a>(path: &'a str, stage: &str) -> &'a str {
    let Some(rest) = path
        .strip_prefix('/')
        .and_then(|rest| rest.strip_prefix(stage))
    else {
        return path;
    };
    if rest.is_empty() || rest.starts_with('/') {
        rest
    } else {
        path
    }
}

/// Splits a path into its segments, ignoring one trailing slash.
fn split_segments(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split('/').collect()
}

fn match_pattern(pattern: &'static str, segments: &[&str]) -> Option<PathParams> {
    let parts = split_segments(pattern);
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => {
                let value = percent_decode_str(segment).decode_utf8_lossy().into_owned();
                params.push((name, value));
            }
            None if part == segment => {}
            None => return None,
        }
    }
    Some(PathParams(params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Name {
        List,
        Get,
        Delete,
    }

    const ROUTES: [Route<Name>; 3] = [
        Route::new(Method::GET, "/endpoints", Name::List),
        Route::new(Method::GET, "/endpoints/{id}", Name::Get),
        Route::new(Method::DELETE, "/endpoints/{id}", Name::Delete),
    ];

    fn request(method: &str, path: &str) -> Request {
        http::Request::builder()
            .method(method)
            .uri(path)
            .body(lambda_http::Body::Empty)
            .unwrap()
    }

    #[test]
    fn route_matches_method_and_captures_id() {
        let (name, params) = resolve(&ROUTES, &request("DELETE", "/endpoints/abc%20d")).unwrap();
        assert_eq!(name, Name::Delete);
        assert_eq!(params.get("id"), Some("abc d"));
        let (name, _) = resolve(&ROUTES, &request("GET", "/endpoints/")).unwrap();
        assert_eq!(name, Name::List);
    }

    #[test]
    fn route_answers_404_and_405() {
        let missing = resolve(&ROUTES, &request("GET", "/buckets")).unwrap_err();
        assert_eq!(missing.status(), 404);
        let wrong_method = resolve(&ROUTES, &request("PUT", "/endpoints/x")).unwrap_err();
        assert_eq!(wrong_method.status(), 405);
        let ApiError::MethodNotAllowed { allow, .. } = wrong_method else {
            panic!("expected 405");
        };
        assert_eq!(allow, [Method::GET, Method::DELETE]);
    }

    #[test]
    fn stage_is_stripped_only_as_a_whole_segment() {
        assert_eq!(strip_stage("/prod/endpoints", "prod"), "/endpoints");
        assert_eq!(strip_stage("/prod", "prod"), "");
        assert_eq!(
            strip_stage("/production/endpoints", "prod"),
            "/production/endpoints"
        );
        assert_eq!(strip_stage("/endpoints", "prod"), "/endpoints");
    }

    #[test]
    fn malformed_id_is_not_found() {
        let params = PathParams(vec![("id", "../x".to_owned())]);
        assert_eq!(params.endpoint_id().unwrap_err().status(), 404);
    }
}
