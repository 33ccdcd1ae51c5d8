//! The create and test handlers with the DynamoDB store on DynamoDB Local and the AWS
//! connection tester against moto, with customer buckets and roles created per test.

mod api;

use api::{Event, Function, Harness, TENANT_A};
use s3_endpoints::{
    create_customer_bucket, create_customer_role, platform_trust_policy, read_prefix_policy, stack,
    CustomerBucket,
};
use serde_json::{json, Value};

/// Returns tenant A's External ID, read through `GET /external-id`.
async fn external_id(harness: &Harness) -> String {
    let request = Event::new("GET", "/external-id").tenant(TENANT_A).build();
    let answer = harness.call(Function::RenderPolicy, request).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["external_id"].as_str().unwrap().to_owned()
}

fn read_only_body(role_arn: &str, bucket: &CustomerBucket) -> Value {
    json!({
        "name": "Billing reports",
        "mode": "read_only",
        "role_arn": role_arn,
        "bucket": bucket.name,
        "prefix": "reports",
        "region": bucket.region,
    })
}

async fn create(harness: &Harness, body: &Value) -> api::Answer {
    let request = Event::new("POST", "/endpoints")
        .tenant(TENANT_A)
        .json(body)
        .build();
    harness.call(Function::CreateEndpoint, request).await
}

#[tokio::test]
async fn create_saves_endpoint_after_passed_test() {
    let harness = Harness::aws().await;
    let external_id = external_id(&harness).await;
    let customer = &stack().customer_account_ids[0];
    let bucket =
        create_customer_bucket(customer, "eu-west-1", &[("reports/2026-01.csv", b"a,b\n")]).await;
    let role = create_customer_role(
        customer,
        &platform_trust_policy(&external_id),
        Some(&read_prefix_policy(&bucket, "reports/")),
    )
    .await;

    let created = create(&harness, &read_only_body(&role.arn, &bucket)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["test"]["outcome"], "passed");
    assert_eq!(created.body["endpoint"]["health"]["state"], "healthy");
    assert_eq!(
        created.body["endpoint"]["external_id"],
        external_id.as_str()
    );

    let id = created.body["endpoint"]["id"].as_str().unwrap();
    let request = Event::new("POST", &format!("/endpoints/{id}/test"))
        .tenant(TENANT_A)
        .build();
    let tested = harness.call(Function::TestEndpoint, request).await;
    assert_eq!(tested.status, 200, "{}", tested.text);
    assert_eq!(tested.body["report"]["outcome"], "passed");
    assert_eq!(tested.body["health"]["state"], "healthy");
}

#[tokio::test]
async fn create_with_denied_role_stores_nothing() {
    let harness = Harness::aws().await;
    let customer = &stack().customer_account_ids[0];
    let bucket = create_customer_bucket(customer, "eu-west-1", &[]).await;
    // The role trusts the platform with another External ID than the tenant's.
    let role = create_customer_role(
        customer,
        &platform_trust_policy("another-tenants-external-id"),
        Some(&read_prefix_policy(&bucket, "reports/")),
    )
    .await;

    let failed = create(&harness, &read_only_body(&role.arn, &bucket)).await;
    assert_eq!(failed.status, 422, "{}", failed.text);
    assert_eq!(failed.body["type"], "/problems/connection-test-failed");
    let checks = failed.body["report"]["checks"].as_array().unwrap();
    let assume_role = checks.iter().find(|c| c["check"] == "assume_role").unwrap();
    assert_eq!(assume_role["status"], "failed");
    assert!(harness.all_endpoints().await.is_empty());

    let request = Event::new("POST", "/endpoints/test")
        .tenant(TENANT_A)
        .json(&json!({
            "mode": "read_only",
            "role_arn": role.arn,
            "bucket": bucket.name,
            "prefix": "reports",
            "region": bucket.region,
        }))
        .build();
    let tested = harness.call(Function::TestEndpoint, request).await;
    assert_eq!(tested.status, 200, "{}", tested.text);
    assert_eq!(tested.body["report"]["outcome"], "failed");
}

/// Returns a role ARN in the platform's own account, the account of the stack's platform
/// principal.
fn platform_account_role() -> String {
    let account = stack()
        .platform_principal_arn
        .split(':')
        .nth(4)
        .expect("the platform principal is a role ARN")
        .to_owned();
    format!("arn:aws:iam::{account}:role/internal-billing-reader")
}

#[tokio::test]
async fn create_rejects_platform_account_role() {
    let harness = Harness::aws().await;
    let bucket = create_customer_bucket(&stack().customer_account_ids[0], "eu-west-1", &[]).await;
    let request = Event::new("POST", "/endpoints")
        .query("skip_test=true")
        .tenant(TENANT_A)
        .json(&read_only_body(&platform_account_role(), &bucket))
        .build();

    let created = harness.call(Function::CreateEndpoint, request).await;

    assert_eq!(created.status, 422, "{}", created.text);
    assert_eq!(created.body["errors"][0]["field"], "role_arn");
    assert!(created.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("platform's own AWS account"));
    let listed = harness
        .call(
            Function::ListEndpoints,
            Event::new("GET", "/endpoints").tenant(TENANT_A).build(),
        )
        .await;
    assert_eq!(listed.body["endpoints"], json!([]), "{}", listed.text);
}

#[tokio::test]
async fn test_rejects_platform_account_role() {
    let harness = Harness::aws().await;
    let bucket = create_customer_bucket(&stack().customer_account_ids[0], "eu-west-1", &[]).await;
    let mut body = read_only_body(&platform_account_role(), &bucket);
    body.as_object_mut().unwrap().remove("name");
    let request = Event::new("POST", "/endpoints/test")
        .tenant(TENANT_A)
        .json(&body)
        .build();

    let tested = harness.call(Function::TestEndpoint, request).await;

    assert_eq!(tested.status, 422, "{}", tested.text);
    assert_eq!(tested.body["errors"][0]["field"], "role_arn");
}
