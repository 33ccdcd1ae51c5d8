//! The walkthrough of `scripts/demo.sh`, run against the local API server with the real
//! handlers on the local stack, with every step's status and key fields asserted.
//!
//! The server runs in this process on a free port of 127.0.0.1, with its own table, tenant and
//! platform name, so that the roles it renders do not collide with other tests' roles in the
//! shared moto accounts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use endpoint_core::store::schema;
use s3_endpoints::api_server::functions::{check_local_environment, LambdaFunctions};
use s3_endpoints::api_server::{LocalServer, TokenKey, TokenRequest, DEFAULT_TENANT_CLAIM};
use s3_endpoints::walkthrough::{InProcessRevalidation, Outcome, Settings, Walkthrough};
use s3_endpoints::{dynamodb_client, stack, unique_name};
use serde_json::Value;

struct Run {
    outcome: Outcome,
    tenant: String,
}

async fn play_walkthrough() -> Run {
    let table = unique_name("demo-walkthrough");
    let client = dynamodb_client(&stack().platform_config());
    if let Err(error) = schema::create_table(&client, &table).await {
        panic!("creating table {table} failed: {error}");
    }
    let platform_name = format!("Demo{}", ulid::Ulid::generate());
    let lookup = |name: &str| match name {
        "TABLE_NAME" => Some(table.clone()),
        "PLATFORM_NAME" => Some(platform_name.clone()),
        "PLATFORM_PRINCIPAL_ARN" => Some(stack().platform_principal_arn.clone()),
        _ => std::env::var(name).ok(),
    };
    check_local_environment(&lookup).expect("the test runs against the local stack");
    let aws = endpoint_core::sdk::load_from_env()
        .await
        .expect("the SDK configuration loads");
    let functions = LambdaFunctions::from_lookup(&lookup, &aws)
        .await
        .expect("the functions start");

    let key = TokenKey::generate().unwrap();
    let server = LocalServer::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        key.clone(),
        Arc::new(functions),
        tokio::runtime::Handle::current(),
    )
    .expect("the local API server starts");
    let tenant = unique_name("acme");
    let token = key.issue(&TokenRequest {
        tenant: &tenant,
        subject: "demo-test",
        tenant_claim: DEFAULT_TENANT_CLAIM,
        ttl: Duration::from_secs(3600),
    });

    let settings = Settings::new(
        &server.url(),
        &token,
        &tenant,
        stack().customer_account_id(),
    );
    let revalidation = InProcessRevalidation::from_env(&table)
        .await
        .expect("revalidate-endpoints starts");
    let result = Walkthrough::new(settings, &revalidation).run().await;
    drop(server);

    match result {
        Ok(outcome) => Run { outcome, tenant },
        Err(error) => panic!("the walkthrough failed: {error}"),
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["endpoints"]
        .as_array()
        .unwrap_or_else(|| panic!("not an endpoint list: {list}"))
        .iter()
        .map(|endpoint| endpoint["id"].as_str().unwrap().to_owned())
        .collect()
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|check| check["check"] == name))
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn walkthrough_plays_every_step() {
    let Run { outcome, tenant } = play_walkthrough().await;
    let read_only = &outcome.read_only["endpoint"];
    let read_write = &outcome.read_write["endpoint"];
    let read_only_id = read_only["id"].as_str().unwrap();
    let read_write_id = read_write["id"].as_str().unwrap();

    // 1. The External ID and the rendered policies.
    assert!(outcome.external_id.len() >= 2);
    assert_eq!(
        outcome.platform_principal_arn,
        stack().platform_principal_arn
    );
    let trust = outcome.read_only_policies["trust_policy"].to_string();
    assert!(trust.contains(&outcome.external_id), "{trust}");
    assert!(trust.contains(&outcome.platform_principal_arn), "{trust}");
    let permissions = outcome.read_only_policies["permissions_policy"].to_string();
    assert!(permissions.contains("billing/"), "{permissions}");
    assert!(!permissions.contains("s3:PutObject"), "{permissions}");

    // 2. Tests, creates and the conflict.
    assert_eq!(outcome.read_only_test["outcome"], "passed");
    assert_eq!(check(&outcome.read_write_test, "write")["status"], "passed");
    assert_eq!(
        check(&outcome.read_write_test, "delete")["status"],
        "passed"
    );
    assert_eq!(read_only["mode"], "read_only");
    assert_eq!(read_only["prefix"], "billing/");
    assert_eq!(read_only["features"], serde_json::json!(["telemetry"]));
    assert_eq!(read_only["health"]["state"], "healthy");
    assert_eq!(read_only["external_id"], outcome.external_id.as_str());
    assert_eq!(read_write["mode"], "read_write");
    assert_eq!(read_write["prefix"], "exports/");
    assert_eq!(read_write["features"], serde_json::json!(["data_exporter"]));
    assert_eq!(outcome.conflict["status"], 409);
    assert_eq!(outcome.conflict["conflicting_endpoint"]["id"], read_only_id);
    assert_eq!(
        outcome.conflict["conflicting_endpoint"]["prefix"],
        "billing/"
    );

    // 3. Lists.
    let mut all = ids(&outcome.all_endpoints);
    all.sort();
    let mut expected = vec![read_only_id.to_owned(), read_write_id.to_owned()];
    expected.sort();
    assert_eq!(all, expected);
    assert_eq!(ids(&outcome.telemetry_endpoints), vec![read_only_id]);
    assert_eq!(ids(&outcome.data_exporter_endpoints), vec![read_write_id]);

    // 4. The trust policy with another External ID.
    let mistake = &outcome.wrong_external_id_test;
    assert_eq!(mistake["outcome"], "failed");
    let assume_role = check(mistake, "assume_role");
    assert_eq!(assume_role["status"], "failed");
    let hint = assume_role["hint"].as_str().unwrap();
    assert!(hint.contains(&outcome.platform_principal_arn), "{hint}");
    assert!(hint.contains(&outcome.external_id), "{hint}");
    assert_eq!(check(mistake, "list")["status"], "skipped");

    // 5. Revalidation before and after the write permission was removed.
    assert_eq!(outcome.first_revalidation["checked"], 2);
    assert_eq!(outcome.first_revalidation["healthy"], 2);
    assert_eq!(outcome.first_revalidation["transitions"], 0);
    assert_eq!(outcome.second_revalidation["failing"], 1);
    assert_eq!(outcome.second_revalidation["events_published"], 1);
    let health = &outcome.read_write_after_revalidation["health"];
    assert_eq!(health["state"], "failing");
    assert_eq!(health["failure"]["check"], "write");
    assert_eq!(health["failure"]["error_code"], "AccessDenied");
    assert_eq!(
        outcome.health_events.len(),
        1,
        "{:?}",
        outcome.health_events
    );
    let event = &outcome.health_events[0];
    assert_eq!(event["detail-type"], "Endpoint Health Changed");
    assert_eq!(event["endpoint_id"], read_write_id);
    assert_eq!(event["tenant"], tenant.as_str());
    assert_eq!(event["old_state"], "healthy");
    assert_eq!(event["new_state"], "failing");
    assert_eq!(event["failing_check"], "write");

    // 6. Delete, then the overlapping prefix is accepted.
    assert_eq!(outcome.deleted_status, 204);
    let recreated = &outcome.recreated["endpoint"];
    assert_eq!(recreated["prefix"], "billing/2026/");
    assert_ne!(recreated["id"], read_only_id);
}
