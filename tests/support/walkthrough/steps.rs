//! The steps of the walkthrough, one function each, with the summaries they print.

use serde_json::{json, Value};

use super::api::{print_response, Exchange};
use super::customer::{with_external_id, without_action, CreatedRole, BILLING_FILES};
use super::{print_note, print_step, Outcome, Walkthrough, WalkthroughError};

/// The External ID that the mistaken trust policy carries instead of the tenant's.
const WRONG_EXTERNAL_ID: &str = "copied-from-another-tenant-0000";

const READ_ONLY_NAME: &str = "Billing reports";
const READ_WRITE_NAME: &str = "Cost exports";
const OVERLAPPING_NAME: &str = "Billing 2026";

/// A role created from rendered policies, and the endpoint it is for.
#[derive(Debug, Clone)]
pub struct RoleForEndpoint {
    pub role: CreatedRole,
    pub prefix: &'static str,
    pub mode: &'static str,
    pub endpoint_id: String,
}

/// Step 1: the External ID, the rendered read_only policies and the role made from them.
pub async fn connect_bucket(
    walk: &Walkthrough<'_>,
    outcome: &mut Outcome,
) -> Result<RoleForEndpoint, WalkthroughError> {
    print_step(
        1,
        "Get the External ID, render the policies for a read_only endpoint on billing/ and create the role",
    );

    let exchange = walk.api.get("/external-id").await?;
    exchange.expect_status(200)?;
    outcome.external_id = exchange.text("/external_id")?;
    outcome.platform_principal_arn = exchange.text("/platform_principal_arn")?;
    print_response(
        &exchange,
        &format!(
            "External ID {}, platform principal {}",
            outcome.external_id, outcome.platform_principal_arn
        ),
    );

    outcome.bucket = walk.customer.create_billing_bucket().await?;
    let keys: Vec<&str> = BILLING_FILES.iter().map(|(key, _)| *key).collect();
    print_note(
        "customer",
        &format!(
            "created bucket {} in {} with {}",
            outcome.bucket,
            walk.settings.region,
            keys.join(", ")
        ),
    );

    let bundle = render_policies(walk, &outcome.bucket, "read_only", "billing/").await?;
    outcome.read_only_policies = bundle.clone();
    let role = create_role_from(walk, &bundle).await?;
    Ok(RoleForEndpoint {
        role,
        prefix: "billing/",
        mode: "read_only",
        endpoint_id: String::new(),
    })
}

/// Step 2: test and save the read_only endpoint, add a read_write endpoint, and try an
/// overlapping prefix.
pub async fn save_endpoints(
    walk: &Walkthrough<'_>,
    outcome: &mut Outcome,
    read_only: &RoleForEndpoint,
) -> Result<RoleForEndpoint, WalkthroughError> {
    print_step(
        2,
        "Test and create the read_only endpoint, add a read_write endpoint on exports/, and try billing/2026/",
    );
    let bucket = outcome.bucket.clone();

    let connection = connection_body(walk, &bucket, read_only);
    outcome.read_only_test = test_connection(walk, &connection, "passed").await?;
    outcome.read_only = create_endpoint(walk, READ_ONLY_NAME, &connection).await?;

    let bundle = render_policies(walk, &bucket, "read_write", "exports/").await?;
    let mut read_write = RoleForEndpoint {
        role: create_role_from(walk, &bundle).await?,
        prefix: "exports/",
        mode: "read_write",
        endpoint_id: String::new(),
    };
    let connection = connection_body(walk, &bucket, &read_write);
    outcome.read_write_test = test_connection(walk, &connection, "passed").await?;
    outcome.read_write = create_endpoint(walk, READ_WRITE_NAME, &connection).await?;
    read_write.endpoint_id = text_at(&outcome.read_write, "/endpoint/id")?;

    let overlapping = RoleForEndpoint {
        prefix: "billing/2026/",
        ..read_only.clone()
    };
    let mut body = connection_body(walk, &bucket, &overlapping);
    body["name"] = json!(OVERLAPPING_NAME);
    let exchange = walk.api.post("/endpoints", &body).await?;
    exchange.expect_status(409)?;
    let first_id = text_at(&outcome.read_only, "/endpoint/id")?;
    expect_text(&exchange, "/conflicting_endpoint/id", &first_id)?;
    print_response(&exchange, &conflict_summary(&exchange.body));
    outcome.conflict = exchange.body;
    Ok(read_write)
}

/// Step 3: list the endpoints, then only those of each feature.
pub async fn list_endpoints(
    walk: &Walkthrough<'_>,
    outcome: &mut Outcome,
) -> Result<(), WalkthroughError> {
    print_step(3, "List the endpoints and filter them by feature");

    outcome.all_endpoints = list(walk, "/endpoints").await?;
    outcome.telemetry_endpoints = list(walk, "/endpoints?feature=telemetry").await?;
    outcome.data_exporter_endpoints = list(walk, "/endpoints?feature=data_exporter").await?;

    let read_only_id = text_at(&outcome.read_only, "/endpoint/id")?;
    let read_write_id = text_at(&outcome.read_write, "/endpoint/id")?;
    expect_ids(&outcome.telemetry_endpoints, &[&read_only_id], "telemetry")?;
    expect_ids(
        &outcome.data_exporter_endpoints,
        &[&read_write_id],
        "data_exporter",
    )
}

/// Step 4: a role whose trust policy carries another External ID fails the assume_role check.
pub async fn show_customer_mistake(
    walk: &Walkthrough<'_>,
    outcome: &mut Outcome,
) -> Result<(), WalkthroughError> {
    print_step(
        4,
        "A customer mistake: the role's trust policy carries another External ID",
    );
    let bundle = &outcome.read_only_policies;
    let name = format!("{}-Mistake", text_at(bundle, "/role_name")?);
    let trust = with_external_id(&bundle["trust_policy"], WRONG_EXTERNAL_ID);
    let role = walk
        .customer
        .create_role(
            &name,
            &text_at(bundle, "/policy_name")?,
            &trust,
            &bundle["permissions_policy"],
        )
        .await?;
    print_note(
        "customer",
        &format!(
            "created role {} whose trust policy requires sts:ExternalId {WRONG_EXTERNAL_ID}",
            role.arn
        ),
    );

    let mistaken = RoleForEndpoint {
        role,
        prefix: "billing/",
        mode: "read_only",
        endpoint_id: String::new(),
    };
    let connection = connection_body(walk, &outcome.bucket, &mistaken);
    println!("  (the tester retries a denied AssumeRole for about 10 s, because IAM changes take time to reach STS)");
    let report = test_connection(walk, &connection, "failed").await?;

    let failed = failed_check(&report)?;
    let hint = failed["hint"].as_str().unwrap_or("");
    if failed["check"] != "assume_role"
        || !hint.contains(&outcome.external_id)
        || !hint.contains(&outcome.platform_principal_arn)
    {
        return Err(WalkthroughError::new(format!(
            "expected the assume_role check to fail with a hint naming {} and {}, got {failed}",
            outcome.platform_principal_arn, outcome.external_id
        )));
    }
    outcome.wrong_external_id_test = report;
    Ok(())
}

/// Step 5: revalidate, remove s3:PutObject from the read_write role, and revalidate again.
pub async fn revalidate(
    walk: &Walkthrough<'_>,
    outcome: &mut Outcome,
    read_write: &RoleForEndpoint,
) -> Result<(), WalkthroughError> {
    print_step(
        5,
        "Revalidate all endpoints, take s3:PutObject away from the read_write role, and revalidate again",
    );
    walk.revalidation.watch_health_events().await?;
    outcome.first_revalidation = run_revalidation(walk).await?;

    let reduced = without_action(&read_write.role.permissions_policy, "s3:PutObject");
    walk.customer
        .put_permissions(&read_write.role, &reduced)
        .await?;
    print_note(
        "customer",
        &format!(
            "replaced policy {} of role {} with one without s3:PutObject",
            read_write.role.policy_name, read_write.role.name
        ),
    );
    outcome.second_revalidation = run_revalidation(walk).await?;

    let path = format!("/endpoints/{}", read_write.endpoint_id);
    let exchange = walk.api.get(&path).await?;
    exchange.expect_status(200)?;
    expect_text(&exchange, "/health/state", "failing")?;
    expect_text(&exchange, "/health/failure/check", "write")?;
    print_response(&exchange, &health_summary(&exchange.body["health"]));
    outcome.read_write_after_revalidation = exchange.body;

    outcome.health_events = walk.revalidation.health_events().await?;
    for event in &outcome.health_events {
        print_note("EventBridge", &format!("health event {}", compact(event)));
    }
    let announced = outcome
        .health_events
        .iter()
        .any(|event| event.to_string().contains(&read_write.endpoint_id));
    if !announced {
        return Err(WalkthroughError::new(format!(
            "no health event names endpoint {}: {:?}",
            read_write.endpoint_id, outcome.health_events
        )));
    }
    Ok(())
}

/// Step 6: delete the read_only endpoint, and create the endpoint on billing/2026/ that its
/// prefix blocked before.
pub async fn delete_endpoint(
    walk: &Walkthrough<'_>,
    outcome: &mut Outcome,
    read_only: &RoleForEndpoint,
) -> Result<(), WalkthroughError> {
    print_step(
        6,
        "Delete the read_only endpoint; billing/2026/ is free again",
    );
    let id = text_at(&outcome.read_only, "/endpoint/id")?;
    let exchange = walk.api.delete(&format!("/endpoints/{id}")).await?;
    exchange.expect_status(204)?;
    print_response(&exchange, &format!("endpoint {id} deleted"));
    outcome.deleted_status = exchange.status;

    let overlapping = RoleForEndpoint {
        prefix: "billing/2026/",
        ..read_only.clone()
    };
    let connection = connection_body(walk, &outcome.bucket, &overlapping);
    outcome.recreated = create_endpoint(walk, OVERLAPPING_NAME, &connection).await?;
    Ok(())
}

async fn render_policies(
    walk: &Walkthrough<'_>,
    bucket: &str,
    mode: &str,
    prefix: &str,
) -> Result<Value, WalkthroughError> {
    let body = json!({
        "mode": mode,
        "bucket": bucket,
        "prefix": prefix,
        "region": walk.settings.region,
    });
    let exchange = walk.api.post("/policies", &body).await?;
    exchange.expect_status(200)?;
    print_response(&exchange, &policies_summary(&exchange.body));
    Ok(exchange.body)
}

/// Creates the rendered role in the customer account: its name, trust policy, policy name
/// and permissions policy exactly as the API rendered them.
async fn create_role_from(
    walk: &Walkthrough<'_>,
    bundle: &Value,
) -> Result<CreatedRole, WalkthroughError> {
    let role = walk
        .customer
        .create_role(
            &text_at(bundle, "/role_name")?,
            &text_at(bundle, "/policy_name")?,
            &bundle["trust_policy"],
            &bundle["permissions_policy"],
        )
        .await?;
    print_note(
        "customer",
        &format!(
            "created role {} with the rendered trust policy and permissions policy {}",
            role.arn, role.policy_name
        ),
    );
    Ok(role)
}

fn connection_body(walk: &Walkthrough<'_>, bucket: &str, role: &RoleForEndpoint) -> Value {
    json!({
        "mode": role.mode,
        "role_arn": role.role.arn,
        "bucket": bucket,
        "prefix": role.prefix,
        "region": walk.settings.region,
    })
}

/// Runs `POST /endpoints/test` and returns the report, which must have `expected` as its
/// outcome.
async fn test_connection(
    walk: &Walkthrough<'_>,
    connection: &Value,
    expected: &str,
) -> Result<Value, WalkthroughError> {
    let exchange = walk.api.post("/endpoints/test", connection).await?;
    exchange.expect_status(200)?;
    expect_text(&exchange, "/report/outcome", expected)?;
    print_response(&exchange, &report_summary(&exchange.body["report"]));
    if let Some(failed) = exchange.body["report"]["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|check| check["status"] == "failed"))
    {
        println!("    hint: {}", failed["hint"].as_str().unwrap_or("(none)"));
    }
    Ok(exchange.body["report"].clone())
}

async fn create_endpoint(
    walk: &Walkthrough<'_>,
    name: &str,
    connection: &Value,
) -> Result<Value, WalkthroughError> {
    let mut body = connection.clone();
    body["name"] = json!(name);
    let exchange = walk.api.post("/endpoints", &body).await?;
    exchange.expect_status(201)?;
    expect_text(&exchange, "/test/outcome", "passed")?;
    print_response(&exchange, &endpoint_summary(&exchange.body["endpoint"]));
    Ok(exchange.body)
}

async fn list(walk: &Walkthrough<'_>, path: &str) -> Result<Value, WalkthroughError> {
    let exchange = walk.api.get(path).await?;
    exchange.expect_status(200)?;
    let endpoints = exchange.body["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<String> = endpoints
        .iter()
        .map(|endpoint| {
            format!(
                "{} ({}, {})",
                endpoint["name"].as_str().unwrap_or("?"),
                endpoint["mode"].as_str().unwrap_or("?"),
                endpoint["prefix"].as_str().unwrap_or("?")
            )
        })
        .collect();
    print_response(
        &exchange,
        &format!(
            "{}: {}",
            count(endpoints.len(), "endpoint"),
            names.join(", ")
        ),
    );
    Ok(exchange.body)
}

async fn run_revalidation(walk: &Walkthrough<'_>) -> Result<Value, WalkthroughError> {
    print_note(
        "scheduler",
        "invokes revalidate-endpoints with an EventBridge scheduled event; the function prints its metrics as one CloudWatch embedded-metric line",
    );
    let report = walk.revalidation.run().await?;
    print_note(
        "revalidate-endpoints",
        &format!("report {}", compact(&report)),
    );
    Ok(report)
}

fn expect_ids(list: &Value, expected: &[&str], filter: &str) -> Result<(), WalkthroughError> {
    let ids: Vec<&str> = list["endpoints"]
        .as_array()
        .map(|endpoints| endpoints.iter().filter_map(|e| e["id"].as_str()).collect())
        .unwrap_or_default();
    if ids == expected {
        return Ok(());
    }
    Err(WalkthroughError::new(format!(
        "the {filter} filter returned {ids:?}, expected {expected:?}"
    )))
}

fn expect_text(exchange: &Exchange, pointer: &str, expected: &str) -> Result<(), WalkthroughError> {
    let actual = exchange.text(pointer)?;
    if actual == expected {
        return Ok(());
    }
    Err(WalkthroughError::new(format!(
        "{} {} returned {actual:?} at {pointer}, expected {expected:?}: {}",
        exchange.method, exchange.path, exchange.body
    )))
}

fn text_at(value: &Value, pointer: &str) -> Result<String, WalkthroughError> {
    match value.pointer(pointer).and_then(Value::as_str) {
        Some(text) => Ok(text.to_owned()),
        None => Err(WalkthroughError::new(format!(
            "no string at {pointer} in {value}"
        ))),
    }
}

fn failed_check(report: &Value) -> Result<&Value, WalkthroughError> {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|check| check["status"] == "failed"))
        .ok_or_else(|| WalkthroughError::new(format!("no check failed in {report}")))
}

fn policies_summary(bundle: &Value) -> String {
    let external_id = bundle
        .pointer("/trust_policy/Statement/0/Condition/StringEquals/sts:ExternalId")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let mut actions: Vec<String> = Vec::new();
    for statement in bundle["permissions_policy"]["Statement"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match &statement["Action"] {
            Value::String(action) => actions.push(action.clone()),
            Value::Array(list) => {
                actions.extend(list.iter().filter_map(Value::as_str).map(str::to_owned))
            }
            _ => {}
        }
    }
    actions.sort();
    actions.dedup();
    format!(
        "role {}, trust policy requires sts:ExternalId {external_id}, permissions {}",
        bundle["role_name"].as_str().unwrap_or("?"),
        actions.join(" ")
    )
}

fn report_summary(report: &Value) -> String {
    let checks: Vec<String> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|check| {
            format!(
                "{} {}",
                check["check"].as_str().unwrap_or("?"),
                check["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    format!(
        "test {} in {} ms: {}",
        report["outcome"].as_str().unwrap_or("?"),
        report["duration_ms"],
        checks.join(", ")
    )
}

fn endpoint_summary(endpoint: &Value) -> String {
    format!(
        "endpoint {} \"{}\" {} on {}, features {}, health {}",
        endpoint["id"].as_str().unwrap_or("?"),
        endpoint["name"].as_str().unwrap_or("?"),
        endpoint["mode"].as_str().unwrap_or("?"),
        endpoint["prefix"].as_str().unwrap_or("?"),
        endpoint["features"],
        endpoint["health"]["state"].as_str().unwrap_or("none")
    )
}

fn conflict_summary(problem: &Value) -> String {
    format!(
        "{}; conflicting_endpoint {}",
        problem["detail"].as_str().unwrap_or("?"),
        problem["conflicting_endpoint"]
    )
}

fn health_summary(health: &Value) -> String {
    format!(
        "health {} since {}, failing check {} ({}), {} consecutive failures",
        health["state"].as_str().unwrap_or("?"),
        health["first_failed_at"].as_str().unwrap_or("?"),
        health["failure"]["check"].as_str().unwrap_or("?"),
        health["failure"]["error_code"].as_str().unwrap_or("?"),
        health["consecutive_failures"]
    )
}

fn count(number: usize, noun: &str) -> String {
    match number {
        1 => format!("1 {noun}"),
        _ => format!("{number} {noun}s"),
    }
}

fn compact(value: &Value) -> String {
    value.to_string()
}
