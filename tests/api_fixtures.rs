//! Runs every API Gateway event in `events/` through the handler of its function, on a new
//! DynamoDB Local table per fixture, and checks the status, the body against `openapi.yaml`,
//! and what each case is about.

mod api;

use api::contract::Contract;
use api::{Answer, Function, Harness};
use endpoint_core::domain::{
    Endpoint, EndpointId, EndpointInput, EndpointSpec, ExternalId, TenantId,
};
use endpoint_core::http::route_path;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use time::macros::datetime;

/// The endpoint of tenant `acme` that fixtures address by id.
const SEEDED_ID: &str = "01JF8ZQ4V3K2N6R5T7W9X0Y1Z2";

/// Fixture folders that belong to functions outside the HTTP API.
const OTHER_FOLDERS: &[&str] = &["revalidate-endpoints"];

type Check = fn(&Answer);

/// Every fixture, by `<function>/<case>`, with its expected status and a check of the case.
const CASES: &[(&str, u16, Check)] = &[
    ("render-policy/get-external-id", 200, has_external_id),
    (
        "render-policy/get-external-id-lambda-authorizer",
        200,
        has_external_id,
    ),
    ("render-policy/get-external-id-rest", 200, has_external_id),
    ("render-policy/no-authorizer", 401, unauthorized),
    ("render-policy/no-tenant-claim", 401, unauthorized),
    ("render-policy/empty-tenant-claim", 401, unauthorized),
    ("render-policy/invalid-tenant-claim", 401, unauthorized),
    ("render-policy/tenant-from-client", 401, unauthorized),
    ("render-policy/unknown-route", 404, no_check),
    ("render-policy/render-policies", 200, has_policies),
    ("render-policy/render-policies-rest", 200, has_policies),
    (
        "render-policy/render-policies-invalid",
        422,
        names_mode_and_prefix,
    ),
    (
        "render-policy/render-policies-other-partition",
        422,
        names_region_partition,
    ),
    ("render-policy/render-policies-wrong-method", 405, no_check),
    ("list-endpoints/list", 200, lists_seeded),
    ("list-endpoints/list-filtered", 200, lists_seeded),
    ("list-endpoints/list-encoded-query", 200, lists_seeded),
    ("list-endpoints/list-plus-in-cursor", 400, cursor_decoded),
    (
        "list-endpoints/list-contradictory-filters",
        400,
        names_feature,
    ),
    ("list-endpoints/list-limit-too-large", 400, names_limit),
    ("list-endpoints/list-unknown-parameter", 400, names_tenant),
    ("list-endpoints/list-stage-in-path", 200, lists_seeded),
    ("list-endpoints/list-rest", 200, lists_seeded),
    ("list-endpoints/list-null-fields", 200, lists_seeded),
    ("list-endpoints/list-rest-null-fields", 200, lists_seeded),
    ("list-endpoints/get", 200, is_seeded),
    ("list-endpoints/get-rest", 200, is_seeded),
    ("list-endpoints/get-unknown", 404, no_check),
    ("list-endpoints/get-malformed-id", 404, no_check),
    ("list-endpoints/get-other-tenant", 404, no_check),
    ("list-endpoints/method-not-allowed", 405, allows_get),
    ("list-endpoints/no-authorizer", 401, unauthorized),
    ("create-endpoint/create", 201, created),
    ("create-endpoint/create-idempotency-key", 201, created),
    ("create-endpoint/create-base64", 201, created),
    ("create-endpoint/create-charset", 201, created),
    ("create-endpoint/create-no-content-type", 201, created),
    ("create-endpoint/create-skip-test", 201, created_untested),
    ("create-endpoint/create-stage-in-path", 201, created),
    ("create-endpoint/create-rest", 201, created),
    ("create-endpoint/create-bad-json", 400, names_position),
    ("create-endpoint/create-not-an-object", 400, no_check),
    ("create-endpoint/create-empty-body", 400, no_check),
    ("create-endpoint/create-wrong-content-type", 415, no_check),
    ("create-endpoint/create-oversize", 413, no_check),
    ("create-endpoint/create-no-authorizer", 401, unauthorized),
    (
        "create-endpoint/create-invalid-fields",
        422,
        names_every_invalid_field,
    ),
    (
        "create-endpoint/create-unknown-fields",
        422,
        names_unknown_fields,
    ),
    ("create-endpoint/create-wrong-type", 422, names_region),
    ("create-endpoint/create-bad-skip-test", 400, names_skip_test),
    (
        "create-endpoint/create-name-conflict",
        409,
        names_conflicting_name,
    ),
    (
        "create-endpoint/create-prefix-conflict",
        409,
        names_conflicting_prefix,
    ),
    ("create-endpoint/delete", 204, no_check),
    ("create-endpoint/delete-unknown", 404, no_check),
    ("create-endpoint/delete-other-tenant", 404, no_check),
    ("test-endpoint/test-unsaved", 200, has_report),
    (
        "test-endpoint/test-unsaved-lambda-authorizer",
        200,
        has_report,
    ),
    (
        "test-endpoint/test-unsaved-invalid",
        422,
        names_role_and_region,
    ),
    (
        "test-endpoint/test-unsaved-name-field",
        422,
        names_name_and_description,
    ),
    ("test-endpoint/test-saved", 200, has_health),
    ("test-endpoint/test-saved-other-tenant", 404, no_check),
    ("test-endpoint/test-saved-unknown", 404, no_check),
    ("test-endpoint/method-not-allowed", 405, no_check),
];

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

/// Lists every fixture as `<function>/<case>`.
fn fixture_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for folder in std::fs::read_dir(events_dir()).unwrap() {
        let folder = folder.unwrap().path();
        let function = folder.file_name().unwrap().to_string_lossy().into_owned();
        if OTHER_FOLDERS.contains(&function.as_str()) {
            continue;
        }
        for file in std::fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|ext| ext == "json") {
                let case = file.file_stem().unwrap().to_string_lossy().into_owned();
                names.insert(format!("{function}/{case}"));
            }
        }
    }
    names
}

/// Stores the endpoint that fixtures address by id, owned by tenant `acme`.
async fn seed(harness: &Harness) {
    let input = EndpointInput {
        name: Some("Seeded endpoint".to_owned()),
        mode: Some("read_only".to_owned()),
        role_arn: Some("arn:aws:iam::123456789012:role/Acme-S3-ReadOnly-Role".to_owned()),
        bucket: Some("acme-seeded".to_owned()),
        prefix: Some("exports".to_owned()),
        region: Some("eu-west-1".to_owned()),
        ..EndpointInput::default()
    };
    let endpoint = Endpoint {
        id: EndpointId::parse(SEEDED_ID).unwrap(),
        tenant: TenantId::parse("acme").unwrap(),
        spec: EndpointSpec::parse(&input).unwrap(),
        external_id: ExternalId::parse("seeded-external-id").unwrap(),
        created_at: datetime!(2026-02-01 08:00 UTC),
        created_by: "auth0|user-1".to_owned(),
    };
    harness.store.create_endpoint(&endpoint).await.unwrap();
}

#[test]
fn fixtures_and_cases_match() {
    let files = fixture_names();
    let cases: BTreeSet<String> = CASES
        .iter()
        .map(|(name, _, _)| (*name).to_owned())
        .collect();
    let untested: Vec<&String> = files.difference(&cases).collect();
    let missing: Vec<&String> = cases.difference(&files).collect();
    assert!(untested.is_empty(), "fixtures without a case: {untested:?}");
    assert!(missing.is_empty(), "cases without a fixture: {missing:?}");
}

#[test]
fn required_fixtures_exist() {
    for name in [
        "render-policy/get-external-id",
        "list-endpoints/list",
        "create-endpoint/create",
        "test-endpoint/test-unsaved",
    ] {
        assert!(
            fixture_names().contains(name),
            "events/{name}.json is missing"
        );
    }
}

/// Runs each fixture on a new harness with a new DynamoDB table.
#[tokio::test]
async fn every_fixture_gets_its_documented_response() {
    let contract = Contract::load();
    for (name, status, check) in CASES {
        let text = std::fs::read_to_string(events_dir().join(format!("{name}.json"))).unwrap();
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|error| panic!("{name}: lambda_http cannot parse the event: {error}"));
        let method = request.method().to_string();
        let path = route_path(&request);
        let (folder, _) = name.split_once('/').unwrap();
        let function = Function::from_folder(folder).unwrap();

        let harness = Harness::dynamo().await;
        seed(&harness).await;
        let answer = harness.call(function, request).await;

        assert_eq!(answer.status, *status, "{name}: body {}", answer.text);
        let template = contract.template_for(&path);
        contract.check(&method, template.as_deref(), &answer);
        check(&answer);
    }
}

fn no_check(_: &Answer) {}

fn unauthorized(answer: &Answer) {
    assert_eq!(answer.body["type"], "/problems/unauthorized");
    assert_eq!(answer.headers["www-authenticate"], "Bearer");
}

fn has_external_id(answer: &Answer) {
    assert!(answer.body["external_id"].as_str().unwrap().len() >= 32);
    assert_eq!(
        answer.body["platform_principal_arn"],
        api::PLATFORM_PRINCIPAL_ARN
    );
}

fn has_policies(answer: &Answer) {
    let trust = answer.body["trust_policy"].to_string();
    assert!(trust.contains(api::PLATFORM_PRINCIPAL_ARN), "{trust}");
    assert!(trust.contains("sts:ExternalId"), "{trust}");
    assert!(answer.body["role_name"]
        .as_str()
        .unwrap()
        .starts_with("CostPlatform"));
    assert!(!answer.body["cli_commands"].as_array().unwrap().is_empty());
}

fn names_mode_and_prefix(answer: &Answer) {
    has_field_error(answer, "mode", "admin");
    has_field_error(answer, "prefix", "logs/*");
}

fn names_region_partition(answer: &Answer) {
    has_field_error(answer, "region", "cn-north-1");
}

fn lists_seeded(answer: &Answer) {
    let endpoints = answer.body["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "{}", answer.text);
    assert_eq!(endpoints[0]["id"], SEEDED_ID);
    assert_eq!(answer.body["next_cursor"], Value::Null);
}

fn is_seeded(answer: &Answer) {
    assert_eq!(answer.body["id"], SEEDED_ID);
    assert_eq!(answer.body["prefix"], "exports/");
    assert_eq!(answer.body["features"], serde_json::json!(["telemetry"]));
}

fn has_field_error(answer: &Answer, field: &str, value: &str) {
    let errors = answer.body["errors"].as_array().unwrap();
    let found = errors
        .iter()
        .any(|error| error["field"] == field && error["value"] == value);
    assert!(found, "no error for {field}={value:?} in {}", answer.text);
}

fn cursor_decoded(answer: &Answer) {
    has_field_error(answer, "cursor", "page 2+more");
}

fn names_feature(answer: &Answer) {
    has_field_error(answer, "feature", "telemetry");
}

fn names_limit(answer: &Answer) {
    has_field_error(answer, "limit", "101");
}

fn names_tenant(answer: &Answer) {
    has_field_error(answer, "tenant", "globex");
}

fn allows_get(answer: &Answer) {
    assert_eq!(answer.headers["allow"], "GET");
}

fn created(answer: &Answer) {
    let endpoint = &answer.body["endpoint"];
    assert_eq!(endpoint["name"], "Billing imports");
    assert_eq!(endpoint["prefix"], "cur/daily/");
    assert!(!endpoint["created_by"].as_str().unwrap().is_empty());
    assert_eq!(endpoint["health"]["state"], "healthy");
    assert_eq!(answer.body["test"]["outcome"], "passed");
    let location = answer.headers["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!("/endpoints/{}", endpoint["id"].as_str().unwrap())
    );
}

fn created_untested(answer: &Answer) {
    assert_eq!(answer.body["test"], Value::Null);
    assert_eq!(answer.body["endpoint"]["health"], Value::Null);
}

fn names_position(answer: &Answer) {
    assert_eq!(answer.body["type"], "/problems/malformed-json");
    assert_eq!(answer.body["line"], 4);
    assert_eq!(answer.body["column"], 1);
}

fn names_every_invalid_field(answer: &Answer) {
    assert_eq!(
        answer.error_fields(),
        ["name", "mode", "role_arn", "bucket", "prefix", "region"]
    );
    has_field_error(answer, "mode", "write");
    has_field_error(answer, "bucket", "Bad_Bucket");
}

fn names_unknown_fields(answer: &Answer) {
    has_field_error(answer, "tenant", "globex");
    has_field_error(answer, "skip_test", "true");
}

fn names_region(answer: &Answer) {
    has_field_error(answer, "region", "5");
}

fn names_skip_test(answer: &Answer) {
    has_field_error(answer, "skip_test", "yes");
}

fn names_conflicting_name(answer: &Answer) {
    has_field_error(answer, "name", "Seeded endpoint");
    assert_eq!(answer.body["conflicting_endpoint"]["id"], SEEDED_ID);
}

fn names_conflicting_prefix(answer: &Answer) {
    has_field_error(answer, "prefix", "exports/2026/");
    assert_eq!(answer.body["conflicting_endpoint"]["id"], SEEDED_ID);
    assert_eq!(answer.body["conflicting_endpoint"]["prefix"], "exports/");
}

fn has_report(answer: &Answer) {
    assert_eq!(answer.body["report"]["outcome"], "passed");
}

fn names_role_and_region(answer: &Answer) {
    assert_eq!(answer.error_fields(), ["role_arn", "region"]);
}

fn names_name_and_description(answer: &Answer) {
    let mut fields = answer.error_fields();
    fields.sort();
    assert_eq!(fields, ["description", "name"]);
}

fn has_health(answer: &Answer) {
    assert_eq!(answer.body["endpoint_id"], SEEDED_ID);
    assert_eq!(answer.body["health"]["state"], "healthy");
}

#[test]
#[should_panic(expected = "does not match the contract")]
fn contract_rejects_an_undocumented_body() {
    let contract = Contract::load();
    let body = serde_json::json!({"endpoints": [{"id": "x"}], "next_cursor": null});
    let schema = serde_json::json!({"$ref": "#/components/schemas/EndpointList"});
    contract.validate_against(&schema, &body, "list");
}
