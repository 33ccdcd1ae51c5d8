//! Endpoint logic shared by the S3 endpoint Lambda functions: the domain values, the DynamoDB
//! store, policy rendering, the connection test, the HTTP layer and revalidation.

pub mod check;
pub mod clock;
pub mod config;
pub mod domain;
pub mod handlers;
pub mod http;
pub mod policy;
pub mod revalidate;
pub mod sdk;
pub mod store;
