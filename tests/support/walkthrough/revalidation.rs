//! Revalidation for the walkthrough: the revalidate-endpoints handler, built the way its
//! `main` builds it and invoked in this process with the scheduled-event fixture, and an SQS
//! queue that a rule on its event bus fills with the health-change events.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use endpoint_core::config::platform_role_config;
use endpoint_core::revalidate::{aws_services, handle, RevalidateConfig, Revalidator};
use endpoint_core::store::dynamo::ClientSettings;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};

use super::{print_note, Revalidation, WalkthroughError};
use crate::api_server::functions::check_local_environment;
use crate::stack::{eventbridge_client, stack};
use crate::unique_name;

/// The event that the template's schedule sends, from the function's fixtures.
const SCHEDULED_EVENT: &str =
    include_str!("../../../events/revalidate-endpoints/scheduled-rule.json");

/// The function's `Timeout` in `template.yaml`, passed to the handler as its deadline.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);

/// The `source` of the events that revalidation publishes.
const EVENT_SOURCE: &str = "s3-endpoints";

const RULE_NAME: &str = "endpoint-health-changes";

/// The revalidate-endpoints handler of one table, publishing to its own event bus.
pub struct InProcessRevalidation {
    revalidator: Revalidator,
    bus_name: String,
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: tokio::sync::OnceCell<String>,
}

impl InProcessRevalidation {
    /// Builds the handler for `table` and a new, uniquely named event bus as the function's
    /// `main` does: settings and credentials from the environment, which must be the local
    /// stack's, with `TABLE_NAME` and `EVENT_BUS_NAME` set to these two.
    pub async fn from_env(table: &str) -> Result<Self, WalkthroughError> {
        let bus_name = unique_name("endpoint-health");
        let lookup = |name: &str| match name {
            "TABLE_NAME" => Some(table.to_owned()),
            "EVENT_BUS_NAME" => Some(bus_name.clone()),
            _ => std::env::var(name).ok(),
        };
        let config = RevalidateConfig::from_lookup(&lookup).map_err(|error| {
            WalkthroughError::new(format!("revalidate-endpoints cannot start: {error}"))
        })?;

        check_local_environment(&|name| std::env::var(name).ok())
            .map_err(|error| WalkthroughError::new(error.to_string()))?;
        let sdk_config = endpoint_core::sdk::load_from_env()
            .await
            .map_err(|error| WalkthroughError::new(error.to_string()))?;
        let platform = platform_role_config(
            &sdk_config,
            &config.platform_principal_arn,
            "revalidate-endpoints",
        )
        .await;
        let services = aws_services(&config, &sdk_config, &platform, &ClientSettings::default());

        // The bus and the queue belong to the platform account, whose admin creates them.
        let admin = stack().admin_config(&stack().platform_account_id);
        Ok(Self {
            revalidator: Revalidator::new(services, config.settings()),
            bus_name,
            events: eventbridge_client(&admin),
            sqs: aws_sdk_sqs::Client::new(&admin),
            queue_url: tokio::sync::OnceCell::new(),
        })
    }

    async fn create_queue(&self) -> Result<(String, String), WalkthroughError> {
        let name = unique_name("health-events");
        let created = self
            .sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .map_err(WalkthroughError::aws(format!("creating queue {name}")))?;
        let url = created
            .queue_url
            .ok_or_else(|| WalkthroughError::new("CreateQueue returned no URL"))?;
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(WalkthroughError::aws(format!(
                "reading the ARN of queue {name}"
            )))?;
        let arn = attributes
            .attributes
            .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| WalkthroughError::new("GetQueueAttributes returned no QueueArn"))?;
        Ok((url, arn))
    }

    async fn forward_bus_to(&self, queue_arn: &str) -> Result<(), WalkthroughError> {
        self.events
            .create_event_bus()
            .name(&self.bus_name)
            .send()
            .await
            .map_err(WalkthroughError::aws(format!(
                "creating event bus {}",
                self.bus_name
            )))?;
        self.events
            .put_rule()
            .name(RULE_NAME)
            .event_bus_name(&self.bus_name)
            .event_pattern(json!({ "source": [EVENT_SOURCE] }).to_string())
            .send()
            .await
            .map_err(WalkthroughError::aws(format!("creating rule {RULE_NAME}")))?;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("health-events-queue")
            .arn(queue_arn)
            .build()
            .map_err(|error| WalkthroughError::new(format!("invalid rule target: {error}")))?;
        self.events
            .put_targets()
            .rule(RULE_NAME)
            .event_bus_name(&self.bus_name)
            .targets(target)
            .send()
            .await
            .map_err(WalkthroughError::aws(format!(
                "adding the queue to rule {RULE_NAME}"
            )))?;
        Ok(())
    }

    /// Reads and deletes one batch of messages, returning each event's `detail` with its
    /// `detail-type`.
    async fn receive_batch(&self, queue_url: &str) -> Result<Vec<Value>, WalkthroughError> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(WalkthroughError::aws("receiving health events".to_owned()))?;

        let mut events = Vec::new();
        for message in output.messages() {
            let body: Value = serde_json::from_str(message.body().unwrap_or("null"))
                .map_err(|error| WalkthroughError::new(format!("an event is not JSON: {error}")))?;
            let mut detail = body["detail"].clone();
            detail["detail-type"] = body["detail-type"].clone();
            events.push(detail);
            if let Some(receipt) = message.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(WalkthroughError::aws("deleting a health event".to_owned()))?;
            }
        }
        Ok(events)
    }
}

#[async_trait]
impl Revalidation for InProcessRevalidation {
    async fn watch_health_events(&self) -> Result<(), WalkthroughError> {
        let (url, arn) = self.create_queue().await?;
        self.forward_bus_to(&arn).await?;
        print_note(
            "platform",
            &format!(
                "created event bus {} with rule {RULE_NAME}, which sends every {EVENT_SOURCE} event to queue {arn}",
                self.bus_name
            ),
        );
        self.queue_url
            .set(url)
            .map_err(|_| WalkthroughError::new("health events are already watched"))
    }

    async fn run(&self) -> Result<Value, WalkthroughError> {
        let payload: Value = serde_json::from_str(SCHEDULED_EVENT).map_err(|error| {
            WalkthroughError::new(format!("the scheduled event fixture is invalid: {error}"))
        })?;
        let mut context = Context::default();
        context.request_id = ulid::Ulid::generate().to_string();
        context.deadline = deadline_millis(SystemTime::now() + FUNCTION_TIMEOUT);

        let report = handle(&self.revalidator, LambdaEvent::new(payload, context))
            .await
            .map_err(|error| {
                WalkthroughError::new(format!("the revalidation run failed: {error}"))
            })?;
        serde_json::to_value(&report)
            .map_err(|error| WalkthroughError::new(format!("the run report is not JSON: {error}")))
    }

    /// moto delivers to the queue inside PutEvents, so a run's events are in the queue when
    /// the run returns.
    async fn health_events(&self) -> Result<Vec<Value>, WalkthroughError> {
        let queue_url = self
            .queue_url
            .get()
            .ok_or_else(|| WalkthroughError::new("health events are not watched"))?;
        let mut events = Vec::new();
        loop {
            let batch = self.receive_batch(queue_url).await?;
            if batch.is_empty() {
                return Ok(events);
            }
            events.extend(batch);
        }
    }
}

fn deadline_millis(deadline: SystemTime) -> u64 {
    deadline
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}
