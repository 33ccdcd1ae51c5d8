//! Revalidation runs against the local AWS stack: DynamoDB Local for the table, moto for STS,
//! IAM, S3 and EventBridge. Each test has its own table and event bus, and an EventBridge rule
//! on the bus forwards health change events to an SQS queue in moto that the test reads back.

use aws_sdk_dynamodb::types::AttributeValue;
use endpoint_core::domain::{
    Endpoint, EndpointId, EndpointInput, EndpointSpec, ExternalId, Health, HealthState, TenantId,
};
use endpoint_core::revalidate::checkpoint::{CHECKPOINT_PK, CHECKPOINT_SK};
use endpoint_core::revalidate::transition::HealthChanged;
use endpoint_core::revalidate::{
    aws_services, RevalidateConfig, Revalidator, RunReport, RunRequest, RunStatus, Services,
    Settings, TimeLimits,
};
use endpoint_core::store::dynamo::{ClientSettings, DynamoStore};
use endpoint_core::store::{schema, EndpointStore};
use s3_endpoints::{
    create_customer_bucket, create_customer_role, iam_client, platform_trust_policy, s3_client,
    stack, unique_name, CustomerBucket, CustomerRole,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use ulid::Ulid;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A table, a bus with a rule that forwards this service's events to a queue, and the config
/// that points a run at them.
struct Environment {
    config: RevalidateConfig,
    dynamodb_settings: ClientSettings,
    dynamodb: aws_sdk_dynamodb::Client,
    store: Arc<DynamoStore>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Environment {
    async fn new() -> Self {
        let platform = stack().platform_config();
        let settings = ClientSettings {
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            ..ClientSettings::default()
        };
        let dynamodb = settings.client(&platform);
        let table = unique_name("revalidate");
        if let Err(error) = schema::create_table(&dynamodb, &table).await {
            panic!("creating table {table} in DynamoDB Local failed: {error}");
        }

        let admin = stack().admin_config(&stack().platform_account_id);
        let sqs = aws_sdk_sqs::Client::new(&admin);
        let bus = unique_name("bus");
        let queue_url = forward_bus_to_queue(&admin, &sqs, &bus).await;

        let config = RevalidateConfig {
            table_name: table.clone(),
            event_bus_name: bus,
            platform_principal_arn: endpoint_core::domain::RoleArn::parse(
                &stack().platform_principal_arn,
            )
            .unwrap(),
            concurrency: 8,
            sts_max_requests_per_second: NonZeroU32::new(20).unwrap(),
        };
        Self {
            store: Arc::new(DynamoStore::new(dynamodb.clone(), table)),
            config,
            dynamodb_settings: settings,
            dynamodb,
            sqs,
            queue_url,
        }
    }

    fn services(&self) -> Services {
        self.services_for(&self.config)
    }

    fn services_for(&self, config: &RevalidateConfig) -> Services {
        aws_services(
            config,
            &stack().platform_config(),
            &stack().platform_config(),
            &self.dynamodb_settings,
        )
    }

    fn revalidator(&self, settings: Settings) -> Revalidator {
        Revalidator::new(self.services(), settings)
    }

    /// Reads and deletes every event the queue holds. moto delivers to the queue inside
    /// PutEvents, so a run's events are there when the run returns.
    async fn take_events(&self) -> Vec<HealthChanged> {
        let mut events = Vec::new();
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("ReceiveMessage failed");
            let messages = output.messages();
            if messages.is_empty() {
                return events;
            }
            for message in messages {
                let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
                assert_eq!(body["source"], "s3-endpoints");
                assert_eq!(body["detail-type"], "Endpoint Health Changed");
                events.push(serde_json::from_value(body["detail"].clone()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("DeleteMessage failed");
            }
        }
    }

    async fn health_of(&self, endpoints: &[Endpoint]) -> HashMap<EndpointId, Health> {
        let mut by_tenant: BTreeMap<TenantId, Vec<EndpointId>> = BTreeMap::new();
        for endpoint in endpoints {
            by_tenant
                .entry(endpoint.tenant.clone())
                .or_default()
                .push(endpoint.id.clone());
        }
        let mut found = HashMap::new();
        for (tenant, ids) in by_tenant {
            found.extend(self.store.get_health(&tenant, &ids).await.unwrap());
        }
        found
    }

    async fn checkpoint_item(&self) -> Option<HashMap<String, AttributeValue>> {
        self.dynamodb
            .get_item()
            .table_name(&self.config.table_name)
            .key("pk", AttributeValue::S(CHECKPOINT_PK.to_owned()))
            .key("sk", AttributeValue::S(CHECKPOINT_SK.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem of the checkpoint failed")
            .item
    }
}

/// Creates `bus`, an SQS queue, and a rule on the bus that sends every `s3-endpoints` event to
/// the queue. Returns the queue URL.
async fn forward_bus_to_queue(
    admin: &aws_config::SdkConfig,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
) -> String {
    let queue_url = sqs
        .create_queue()
        .queue_name(unique_name("events"))
        .send()
        .await
        .expect("CreateQueue failed")
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes failed")
        .attributes
        .unwrap()
        .remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .unwrap();

    let events = aws_sdk_eventbridge::Client::new(admin);
    events
        .create_event_bus()
        .name(bus)
        .send()
        .await
        .expect("CreateEventBus failed");
    events
        .put_rule()
        .name("health-changes")
        .event_bus_name(bus)
        .event_pattern(json!({"source": ["s3-endpoints"]}).to_string())
        .send()
        .await
        .expect("PutRule failed");
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(queue_arn)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule("health-changes")
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .expect("PutTargets failed");
    queue_url
}

/// Settings for tests: the production defaults, except that pending events are redelivered at
/// once instead of after two minutes.
fn test_settings() -> Settings {
    Settings {
        redelivery_min_age: Duration::ZERO,
        ..Settings::default()
    }
}

fn request() -> RunRequest {
    RunRequest {
        source: "custom".to_owned(),
        ..RunRequest::default()
    }
}

async fn run(revalidator: &Revalidator, run_id: &str) -> RunReport {
    let report = revalidator
        .run(&request(), run_id, Some(Duration::from_secs(900)))
        .await
        .unwrap_or_else(|error| panic!("run {run_id} failed: {error}"));
    assert_eq!(report.not_checked, 0, "{run_id}: {:?}", report.errors);
    report
}

/// Permissions of a read_write endpoint role: list, read, write and delete under `prefix`.
fn read_write_policy(bucket: &CustomerBucket, prefix: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": format!("{}/{prefix}*", bucket.arn())
            },
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket.arn(),
                "Condition": {"StringLike": {"s3:prefix": [format!("{prefix}*")]}}
            }
        ]
    })
}

/// Permissions with PutObject and DeleteObject taken away, as a customer might tighten a role.
fn read_only_policy(bucket: &CustomerBucket, prefix: &str) -> Value {
    let mut policy = read_write_policy(bucket, prefix);
    policy["Statement"][0]["Action"] = json!(["s3:GetObject"]);
    policy
}

async fn put_role_policy(role: &CustomerRole, policy: &Value) {
    let iam = iam_client(&stack().admin_config(&role.account_id));
    iam.put_role_policy()
        .role_name(&role.name)
        .policy_name("permissions")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("PutRolePolicy failed");
}

async fn delete_role(role: &CustomerRole) {
    let iam = iam_client(&stack().admin_config(&role.account_id));
    iam.delete_role_policy()
        .role_name(&role.name)
        .policy_name("permissions")
        .send()
        .await
        .expect("DeleteRolePolicy failed");
    iam.delete_role()
        .role_name(&role.name)
        .send()
        .await
        .expect("DeleteRole failed");
}

async fn require_external_id(role: &CustomerRole, external_id: &str) {
    let iam = iam_client(&stack().admin_config(&role.account_id));
    iam.update_assume_role_policy()
        .role_name(&role.name)
        .policy_document(platform_trust_policy(external_id).to_string())
        .send()
        .await
        .expect("UpdateAssumeRolePolicy failed");
}

async fn delete_bucket(bucket: &CustomerBucket) {
    let s3 = s3_client(&stack().admin_config_in(&bucket.account_id, &bucket.region));
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket.name)
        .send()
        .await
        .expect("ListObjectsV2 failed");
    for object in listed.contents() {
        s3.delete_object()
            .bucket(&bucket.name)
            .key(object.key().unwrap())
            .send()
            .await
            .expect("DeleteObject failed");
    }
    s3.delete_bucket()
        .bucket(&bucket.name)
        .send()
        .await
        .expect("DeleteBucket failed");
}

/// A tenant with its External ID, and the role and bucket its endpoints share.
struct Tenant {
    id: TenantId,
    external_id: ExternalId,
    account_id: String,
}

impl Tenant {
    fn new(name: &str, account_id: &str) -> Self {
        Self {
            id: TenantId::parse(&unique_name(name)).unwrap(),
            external_id: ExternalId::parse(&unique_name("external-id")).unwrap(),
            account_id: account_id.to_owned(),
        }
    }

    async fn bucket(&self) -> CustomerBucket {
        create_customer_bucket(
            &self.account_id,
            "us-east-1",
            &[("exports/seed.csv", b"a\n")],
        )
        .await
    }

    async fn role(&self, bucket: &CustomerBucket) -> CustomerRole {
        create_customer_role(
            &self.account_id,
            &platform_trust_policy(self.external_id.as_str()),
            Some(&read_write_policy(bucket, "exports/")),
        )
        .await
    }

    /// Stores an endpoint directly, skipping the connection test that creation runs.
    async fn endpoint(
        &self,
        store: &DynamoStore,
        role: &CustomerRole,
        bucket: &CustomerBucket,
        mode: &str,
        n: usize,
    ) -> Endpoint {
        let input = EndpointInput {
            name: Some(format!("endpoint {n}")),
            mode: Some(mode.to_owned()),
            role_arn: Some(role.arn.clone()),
            bucket: Some(bucket.name.clone()),
            prefix: Some(format!("exports/e{n}")),
            region: Some(bucket.region.clone()),
            ..EndpointInput::default()
        };
        let endpoint = Endpoint {
            id: EndpointId::from_ulid(Ulid::generate()),
            tenant: self.id.clone(),
            spec: EndpointSpec::parse(&input).unwrap(),
            external_id: self.external_id.clone(),
            created_at: OffsetDateTime::now_utc(),
            created_by: "revalidation-test".to_owned(),
        };
        store
            .create_endpoint(&endpoint)
            .await
            .unwrap_or_else(|error| panic!("storing endpoint {n} failed: {error}"));
        endpoint
    }
}

fn events_by_endpoint(events: &[HealthChanged]) -> HashMap<EndpointId, Vec<HealthChanged>> {
    let mut grouped: HashMap<EndpointId, Vec<HealthChanged>> = HashMap::new();
    for event in events {
        grouped
            .entry(event.endpoint_id.clone())
            .or_default()
            .push(event.clone());
    }
    grouped
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// One way of breaking a group of five endpoints, and the check that must then fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breakage {
    RoleDeleted,
    PutRemoved,
    BucketDeleted,
    WrongExternalId,
}

impl Breakage {
    fn failing_check(self) -> &'static str {
        match self {
            Self::RoleDeleted | Self::WrongExternalId => "assume_role",
            Self::PutRemoved => "write",
            // NOTE: on AWS the region check fails first, because HeadBucket returns 404 for a
            // missing bucket. moto returns 403 to the platform's credentials, which the region
            // check accepts as "exists, region unknown", so here the list check fails.
            Self::BucketDeleted => "list",
        }
    }

    fn error_code(self) -> &'static str {
        match self {
            Self::BucketDeleted => "NoSuchBucket",
            Self::RoleDeleted | Self::WrongExternalId | Self::PutRemoved => "AccessDenied",
        }
    }
}

struct BrokenGroup {
    breakage: Breakage,
    role: CustomerRole,
    bucket: CustomerBucket,
    endpoints: Vec<Endpoint>,
}

async fn break_group(group: &BrokenGroup) {
    match group.breakage {
        Breakage::RoleDeleted => delete_role(&group.role).await,
        Breakage::PutRemoved => {
            put_role_policy(&group.role, &read_only_policy(&group.bucket, "exports/")).await
        }
        Breakage::BucketDeleted => delete_bucket(&group.bucket).await,
        Breakage::WrongExternalId => require_external_id(&group.role, "another-external-id").await,
    }
}

#[tokio::test]
async fn fleet_of_200_reports_each_breakage_once() {
    let env = Environment::new().await;
    let accounts = [
        stack().customer_account_id().to_owned(),
        stack().other_customer_account_id().to_owned(),
    ];
    let breakages = [
        Breakage::RoleDeleted,
        Breakage::PutRemoved,
        Breakage::BucketDeleted,
        Breakage::WrongExternalId,
    ];

    // Four tenants with 45 working endpoints each on a shared role and bucket, plus a group of
    // five read_write endpoints on a role and bucket of their own that the test breaks later.
    let mut working = Vec::new();
    let mut groups = Vec::new();
    for (index, breakage) in breakages.into_iter().enumerate() {
        let tenant = Tenant::new("tenant", &accounts[index % 2]);
        let bucket = tenant.bucket().await;
        let role = tenant.role(&bucket).await;
        for n in 0..45 {
            let mode = if n % 3 == 0 {
                "read_only"
            } else {
                "read_write"
            };
            working.push(tenant.endpoint(&env.store, &role, &bucket, mode, n).await);
        }

        let group_bucket = tenant.bucket().await;
        let group_role = tenant.role(&group_bucket).await;
        let mut endpoints = Vec::new();
        for n in 100..105 {
            let endpoint = tenant
                .endpoint(&env.store, &group_role, &group_bucket, "read_write", n)
                .await;
            endpoints.push(endpoint);
        }
        groups.push(BrokenGroup {
            breakage,
            role: group_role,
            bucket: group_bucket,
            endpoints,
        });
    }
    let all: Vec<Endpoint> = working
        .iter()
        .chain(groups.iter().flat_map(|g| &g.endpoints))
        .cloned()
        .collect();
    assert_eq!(all.len(), 200);
    let revalidator = env.revalidator(test_settings());

    let first = run(&revalidator, "run-1").await;
    assert_eq!(first.status, RunStatus::CycleComplete);
    assert_eq!(first.checked, 200);
    assert_eq!(first.healthy, 200, "{first:?}");
    assert_eq!(first.transitions, 0);
    assert!(env.take_events().await.is_empty());

    for group in &groups {
        break_group(group).await;
    }
    let second = run(&revalidator, "run-2").await;
    assert_eq!(second.checked, 200);
    assert_eq!(second.healthy, 180);
    assert_eq!(second.failing, 20);
    assert_eq!(second.transitions, 20);
    assert_eq!(second.events_published, 20);

    let health = env.health_of(&all).await;
    for endpoint in &working {
        assert_eq!(
            health[&endpoint.id].state,
            HealthState::Healthy,
            "{}",
            endpoint.id
        );
    }
    for group in &groups {
        for endpoint in &group.endpoints {
            let stored = &health[&endpoint.id];
            assert_eq!(stored.state, HealthState::Failing, "{:?}", group.breakage);
            let failure = stored.failure.as_ref().unwrap();
            assert_eq!(
                failure.check,
                group.breakage.failing_check(),
                "{:?}: {failure:?}",
                group.breakage
            );
            assert_eq!(
                failure.error_code.as_deref(),
                Some(group.breakage.error_code()),
                "{:?}: {failure:?}",
                group.breakage
            );
            assert_eq!(stored.consecutive_failures, 1);
            assert!(stored.last_healthy_at.is_some());
        }
    }

    let events = events_by_endpoint(&env.take_events().await);
    assert_eq!(events.len(), 20);
    for group in &groups {
        for endpoint in &group.endpoints {
            let received = &events[&endpoint.id];
            assert_eq!(received.len(), 1, "{:?}: {received:?}", group.breakage);
            let event = &received[0];
            assert_eq!(event.tenant, endpoint.tenant);
            assert_eq!(event.old_state, Some(HealthState::Healthy));
            assert_eq!(event.new_state, HealthState::Failing);
            assert_eq!(
                event.failing_check.as_deref(),
                Some(group.breakage.failing_check())
            );
        }
    }

    let third = run(&revalidator, "run-3").await;
    assert_eq!(third.failing, 20);
    assert_eq!(third.transitions, 0);
    assert!(env.take_events().await.is_empty());

    let restored = &groups[1];
    put_role_policy(
        &restored.role,
        &read_write_policy(&restored.bucket, "exports/"),
    )
    .await;
    let fourth = run(&revalidator, "run-4").await;
    assert_eq!(fourth.failing, 15);
    assert_eq!(fourth.transitions, 5);
    let events = env.take_events().await;
    assert_eq!(events.len(), 5);
    for event in &events {
        assert!(restored.endpoints.iter().any(|e| e.id == event.endpoint_id));
        assert_eq!(event.old_state, Some(HealthState::Failing));
        assert_eq!(event.new_state, HealthState::Healthy);
    }
}

#[tokio::test]
async fn tightened_role_fails_write_check() {
    let env = Environment::new().await;
    let tenant = Tenant::new("tenant", stack().customer_account_id());
    let bucket = tenant.bucket().await;
    let role = tenant.role(&bucket).await;
    let endpoint = tenant
        .endpoint(&env.store, &role, &bucket, "read_write", 1)
        .await;
    let revalidator = env.revalidator(test_settings());
    assert_eq!(run(&revalidator, "run-1").await.healthy, 1);

    put_role_policy(&role, &read_only_policy(&bucket, "exports/")).await;
    let report = run(&revalidator, "run-2").await;

    assert_eq!(report.failing, 1);
    let health = env.health_of(std::slice::from_ref(&endpoint)).await;
    let failure = health[&endpoint.id].failure.clone().unwrap();
    assert_eq!(failure.check, "write");
    assert_eq!(failure.error_code.as_deref(), Some("AccessDenied"));
    let events = env.take_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].failing_check.as_deref(), Some("write"));
}

#[tokio::test]
async fn tiny_deadline_stops_and_next_run_continues() {
    let env = Environment::new().await;
    let tenant = Tenant::new("tenant", stack().customer_account_id());
    let bucket = tenant.bucket().await;
    let role = tenant.role(&bucket).await;
    let mut endpoints = Vec::new();
    for n in 0..40 {
        endpoints.push(
            tenant
                .endpoint(&env.store, &role, &bucket, "read_only", n)
                .await,
        );
    }
    // Tests may start during the first 600 ms only, which leaves most of the 40 for later.
    let tight = Settings {
        concurrency: 1,
        scan_segments: 2,
        page_size: 5,
        limits: TimeLimits {
            endpoint_timeout: Duration::from_secs(5),
            wrap_up_reserve: Duration::ZERO,
            max_run_duration: Duration::from_millis(5_600),
        },
        ..test_settings()
    };

    let first = run(&env.revalidator(tight), "run-1").await;
    assert_eq!(first.status, RunStatus::CycleContinues);
    assert!(first.checked < 40, "{first:?}");
    let stored = env
        .checkpoint_item()
        .await
        .expect("no checkpoint was stored");
    let state = stored["state"].as_s().unwrap();
    assert!(state.contains("\"cycle\":{"), "{state}");
    let after_first = env.health_of(&endpoints).await;

    let second = run(&env.revalidator(test_settings()), "run-2").await;
    assert_eq!(second.status, RunStatus::CycleComplete);
    let after_second = env.health_of(&endpoints).await;
    assert_eq!(after_second.len(), 40);
    let tested_twice = after_first
        .iter()
        .filter(|(id, health)| after_second[*id].last_checked_at != health.last_checked_at)
        .count();
    // The second run repeats only the pages the first left unfinished, one per segment.
    assert!(
        tested_twice <= 2 * 5,
        "{tested_twice} endpoints were tested twice"
    );
    assert_eq!(
        second.checked as usize,
        40 - after_first.len() + tested_twice
    );
    let state = env.checkpoint_item().await.unwrap()["state"]
        .as_s()
        .unwrap()
        .clone();
    assert!(state.contains("\"cycle\":null"), "{state}");
}

#[tokio::test]
async fn concurrent_runs_leave_one_result_per_endpoint() {
    let env = Environment::new().await;
    let tenant = Tenant::new("tenant", stack().customer_account_id());
    let bucket = tenant.bucket().await;
    let role = tenant.role(&bucket).await;
    let mut endpoints = Vec::new();
    for n in 0..10 {
        endpoints.push(
            tenant
                .endpoint(&env.store, &role, &bucket, "read_write", n)
                .await,
        );
    }
    require_external_id(&role, "changed-external-id").await;
    let one = env.revalidator(test_settings());
    let other = env.revalidator(test_settings());

    let (a, b) = tokio::join!(run(&one, "run-a"), run(&other, "run-b"));

    let statuses = [a.status, b.status];
    assert!(statuses.contains(&RunStatus::CycleComplete), "{statuses:?}");
    assert_eq!(a.transitions + b.transitions, 10);
    let events = events_by_endpoint(&env.take_events().await);
    assert_eq!(events.len(), 10);
    assert!(events.values().all(|received| received.len() == 1));
    let health = env.health_of(&endpoints).await;
    assert!(health
        .values()
        .all(|h| h.state == HealthState::Failing && h.consecutive_failures == 1));
}

#[tokio::test]
async fn unpublished_event_is_sent_by_next_run() {
    let env = Environment::new().await;
    let tenant = Tenant::new("tenant", stack().customer_account_id());
    let bucket = tenant.bucket().await;
    let role = tenant.role(&bucket).await;
    let endpoint = tenant
        .endpoint(&env.store, &role, &bucket, "read_write", 1)
        .await;
    delete_role(&role).await;

    // The first run publishes to a bus that does not exist, so PutEvents fails.
    let mut missing_bus = env.config.clone();
    missing_bus.event_bus_name = unique_name("missing-bus");
    let failing = Revalidator::new(env.services_for(&missing_bus), test_settings());
    let first = run(&failing, "run-1").await;
    assert_eq!(first.transitions, 1);
    assert_eq!(first.events_pending, 1);
    assert_eq!(env.store.pending_events(10).await.unwrap().len(), 1);

    let second = run(&env.revalidator(test_settings()), "run-2").await;
    assert_eq!(second.transitions, 0);
    assert_eq!(second.events_published, 1);
    assert!(env.store.pending_events(10).await.unwrap().is_empty());
    let events = env.take_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].endpoint_id, endpoint.id);
    assert_eq!(events[0].failing_check.as_deref(), Some("assume_role"));
}
