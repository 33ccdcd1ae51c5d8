//! The routes of the HTTP API as `template.yaml` declares them, and the route selection of an
//! API Gateway HTTP API. A test checks this table against the template and `openapi.yaml`.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;
use percent_encoding::percent_decode_str;

/// The Lambda function that serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    RenderPolicy,
    TestEndpoint,
    CreateEndpoint,
    ListEndpoints,
}

impl Function {
    /// Returns the function's logical id in `template.yaml`.
    pub fn logical_id(self) -> &'static str {
        match self {
            Self::RenderPolicy => "RenderPolicyFunction",
            Self::TestEndpoint => "TestEndpointFunction",
            Self::CreateEndpoint => "CreateEndpointFunction",
            Self::ListEndpoints => "ListEndpointsFunction",
        }
    }

    /// Returns the function's `Timeout` in `template.yaml`, which the local server passes to
    /// the handler as the invocation deadline, as Lambda does.
    pub fn timeout(self) -> Duration {
        match self {
            Self::RenderPolicy | Self::ListEndpoints => Duration::from_secs(10),
            Self::TestEndpoint | Self::CreateEndpoint => Duration::from_secs(25),
        }
    }
}

/// One route: a method, a path pattern whose `{name}` segments match one segment each, and
/// the function that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub function: Function,
}

impl Route {
    const fn new(method: Method, path: &'static str, function: Function) -> Self {
        Self {
            method,
            path,
            function,
        }
    }

    /// Returns the route key as API Gateway writes it into events, such as `GET /endpoints`.
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Every route of the HTTP API, in the order of `template.yaml`.
pub static ROUTES: [Route; 8] = [
    Route::new(Method::GET, "/external-id", Function::RenderPolicy),
    Route::new(Method::POST, "/policies", Function::RenderPolicy),
    Route::new(Method::POST, "/endpoints/test", Function::TestEndpoint),
    Route::new(Method::POST, "/endpoints/{id}/test", Function::TestEndpoint),
    Route::new(Method::POST, "/endpoints", Function::CreateEndpoint),
    Route::new(Method::DELETE, "/endpoints/{id}", Function::CreateEndpoint),
    Route::new(Method::GET, "/endpoints", Function::ListEndpoints),
    Route::new(Method::GET, "/endpoints/{id}", Function::ListEndpoints),
];

/// The route selected for a request, with the values of its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub route: &'static Route,
    /// Percent-decoded values by parameter name.
    pub path_parameters: BTreeMap<String, String>,
}

/// Selects the route for `method` and the raw request path, or `None`, for which API Gateway
/// returns 404 whether or not the path exists with another method.
///
/// When several routes match, API Gateway picks the most specific one, so a route with more
/// literal segments wins: `POST /endpoints/test` over a parameter in that position.
pub fn find_route(method: &Method, raw_path: &str) -> Option<RouteMatch> {
    let segments: Vec<&str> = raw_path.strip_prefix('/')?.split('/').collect();
    ROUTES
        .iter()
        .filter(|route| route.method == *method)
        .filter_map(|route| match_route(route, &segments))
        .max_by_key(|found| literal_segments(found.route.path))
}

fn match_route(route: &'static Route, segments: &[&str]) -> Option<RouteMatch> {
    let pattern: Vec<&str> = route.path[1..].split('/').collect();
    if pattern.len() != segments.len() {
        return None;
    }

    let mut path_parameters = BTreeMap::new();
    for (expected, actual) in pattern.iter().zip(segments) {
        match parameter_name(expected) {
            Some(_) if actual.is_empty() => return None,
            Some(name) => {
                let value = percent_decode_str(actual).decode_utf8_lossy();
                path_parameters.insert(name.to_owned(), value.into_owned());
            }
            None if expected != actual => return None,
            None => {}
        }
    }
    Some(RouteMatch {
        route,
        path_parameters,
    })
}

fn parameter_name(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

fn literal_segments(path: &str) -> usize {
    path.split('/')
        .filter(|segment| parameter_name(segment).is_none())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01JF8ZQ4V3K2N6R5T7W9X0Y1Z2";

    fn route_key_of(method: Method, path: &str) -> Option<String> {
        find_route(&method, path).map(|found| found.route.route_key())
    }

    #[test]
    fn find_route_matches_literal_paths() {
        assert_eq!(
            route_key_of(Method::GET, "/endpoints").as_deref(),
            Some("GET /endpoints")
        );
        assert_eq!(
            route_key_of(Method::GET, "/external-id").as_deref(),
            Some("GET /external-id")
        );
    }

    #[test]
    fn find_route_prefers_literal_segment() {
        assert_eq!(
            route_key_of(Method::POST, "/endpoints/test").as_deref(),
            Some("POST /endpoints/test")
        );
        assert_eq!(
            route_key_of(Method::GET, "/endpoints/test").as_deref(),
            Some("GET /endpoints/{id}")
        );
    }

    #[test]
    fn find_route_reads_path_parameters() {
        let found = find_route(&Method::POST, &format!("/endpoints/{ID}/test")).unwrap();

        assert_eq!(found.route.route_key(), "POST /endpoints/{id}/test");
        assert_eq!(
            found.path_parameters.get("id").map(String::as_str),
            Some(ID)
        );
    }

    #[test]
    fn find_route_decodes_path_parameters() {
        let found = find_route(&Method::GET, "/endpoints/a%20b").unwrap();

        assert_eq!(
            found.path_parameters.get("id").map(String::as_str),
            Some("a b")
        );
    }

    #[test]
    fn find_route_rejects_unknown_requests() {
        let cases = [
            (Method::PUT, "/endpoints"),
            (Method::GET, "/endpoints/"),
            (Method::GET, "/endpoints//test"),
            (Method::GET, "/nothing"),
            (Method::GET, ""),
            (Method::GET, "endpoints"),
            (Method::DELETE, "/endpoints"),
            (Method::POST, "/endpoints/a/b/test"),
        ];
        for (method, path) in cases {
            assert_eq!(route_key_of(method.clone(), path), None, "{method} {path}");
        }
    }
}
