//! The walkthrough that `scripts/demo.sh` plays and `tests/demo_walkthrough.rs` asserts: one
//! customer connects a bucket through the local API server, from rendering the IAM policies
//! to revalidation and deletion.
//!
//! Every API call goes over HTTP to the local server, which runs the real handlers. The
//! customer's side (the bucket, its files and the roles) is done with the admin user of the
//! customer account, as a customer would in the console. Each step checks the statuses and
//! the fields it depends on, so a change that breaks the flow fails the demo and its test.

mod api;
mod customer;
mod revalidation;
mod steps;

pub use api::{ApiClient, Exchange};
pub use customer::{with_external_id, without_action, Customer, BILLING_FILES};
pub use revalidation::InProcessRevalidation;

use async_trait::async_trait;
use serde_json::Value;

/// Region of the customer's bucket.
pub const BUCKET_REGION: &str = "eu-west-1";

/// Where the walkthrough finds the API and the customer.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_url: String,
    pub token: String,
    /// The tenant that `token` was issued for, which is printed only.
    pub tenant: String,
    pub customer_account_id: String,
    pub region: String,
}

impl Settings {
    pub fn new(api_url: &str, token: &str, tenant: &str, customer_account_id: &str) -> Self {
        Self {
            api_url: api_url.to_owned(),
            token: token.to_owned(),
            tenant: tenant.to_owned(),
            customer_account_id: customer_account_id.to_owned(),
            region: BUCKET_REGION.to_owned(),
        }
    }
}

/// Scheduled revalidation of every saved endpoint, and the health-change events it publishes.
#[async_trait]
pub trait Revalidation: Send + Sync {
    /// Starts collecting the health-change events that later runs publish.
    async fn watch_health_events(&self) -> Result<(), WalkthroughError>;

    /// Runs revalidation once, as the schedule invokes it, and returns the run's report.
    async fn run(&self) -> Result<Value, WalkthroughError>;

    /// Returns the health-change events published since [`Revalidation::watch_health_events`],
    /// each the `detail` of the EventBridge event with its `detail-type` added.
    async fn health_events(&self) -> Result<Vec<Value>, WalkthroughError>;
}

/// A step that did not go as the walkthrough expects.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct WalkthroughError {
    message: String,
}

impl WalkthroughError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// Returns a mapper from an AWS SDK error to a walkthrough error that names `action`.
    pub fn aws<E: std::error::Error>(action: String) -> impl FnOnce(E) -> Self {
        move |error| {
            let detail = aws_sdk_s3::error::DisplayErrorContext(&error);
            Self::new(format!("{action} failed: {detail}"))
        }
    }
}

/// The responses that each step checked, for the test to assert on.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub external_id: String,
    pub platform_principal_arn: String,
    pub bucket: String,
    /// The rendered policies of the read_only endpoint.
    pub read_only_policies: Value,
    pub read_only_test: Value,
    pub read_only: Value,
    pub read_write_test: Value,
    pub read_write: Value,
    pub conflict: Value,
    pub all_endpoints: Value,
    pub telemetry_endpoints: Value,
    pub data_exporter_endpoints: Value,
    pub wrong_external_id_test: Value,
    pub first_revalidation: Value,
    pub second_revalidation: Value,
    pub read_write_after_revalidation: Value,
    pub health_events: Vec<Value>,
    pub deleted_status: u16,
    pub recreated: Value,
}

/// The walkthrough, played once by [`Walkthrough::run`].
pub struct Walkthrough<'a> {
    settings: Settings,
    api: ApiClient,
    customer: Customer,
    revalidation: &'a dyn Revalidation,
}

impl<'a> Walkthrough<'a> {
    pub fn new(settings: Settings, revalidation: &'a dyn Revalidation) -> Self {
        let api = ApiClient::new(&settings.api_url, &settings.token);
        let customer = Customer::new(&settings.customer_account_id, &settings.region);
        Self {
            settings,
            api,
            customer,
            revalidation,
        }
    }

    /// Plays every step in order and returns what they checked. Stops at the first step that
    /// does not go as expected.
    pub async fn run(&self) -> Result<Outcome, WalkthroughError> {
        println!(
            "Walkthrough for tenant {} against {}; the customer is account {}.",
            self.settings.tenant, self.settings.api_url, self.settings.customer_account_id
        );
        let mut outcome = Outcome::default();

        let read_only_role = steps::connect_bucket(self, &mut outcome).await?;
        let read_write_role = steps::save_endpoints(self, &mut outcome, &read_only_role).await?;
        steps::list_endpoints(self, &mut outcome).await?;
        steps::show_customer_mistake(self, &mut outcome).await?;
        steps::revalidate(self, &mut outcome, &read_write_role).await?;
        steps::delete_endpoint(self, &mut outcome, &read_only_role).await?;

        println!("\nThe walkthrough passed.");
        Ok(outcome)
    }
}

/// Prints the heading of step `number`.
fn print_step(number: u32, title: &str) {
    println!("\n== {number}. {title}");
}

/// Prints something that happened outside the API, such as the customer creating a role.
fn print_note(actor: &str, text: &str) {
    println!("  {actor}: {text}");
}
