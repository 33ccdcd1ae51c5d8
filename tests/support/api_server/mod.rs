//! A development-only stand-in for the deployed HTTP API, never deployed itself. It serves
//! every route of `template.yaml` on 127.0.0.1 and checks a locally signed JWT like the API's
//! JWT authorizer. Then it converts each request into the API Gateway HTTP API event that the
//! route's function would receive, and calls the real handler with it.

pub mod event;
pub mod functions;
pub mod gateway;
pub mod routes;
pub mod server;
pub mod token;

pub use gateway::{Functions, HttpResponse};
pub use routes::{find_route, Function, Route, ROUTES};
pub use server::{LocalServer, StartError, MAX_HEAD_BYTES, MAX_REQUEST_BYTES};
pub use token::{
    TokenKey, TokenRequest, AUDIENCE, DEFAULT_TENANT_CLAIM, DEFAULT_TOKEN_TTL, ISSUER,
};
