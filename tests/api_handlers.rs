//! Behaviour of the API handlers across requests: tenant isolation, idempotent creates,
//! conflicts, failed connection tests, health and paging, and the errors for bad input.
//!
//! Each test runs on the DynamoDB store with a new table in DynamoDB Local, whose URL
//! `AWS_ENDPOINT_URL_DYNAMODB` gives (scripts/test.sh sets it). The outage test points the
//! store at a closed port instead.
//!
//! The connection test is the scripted one; `tests/api_aws.rs` runs create and test with the
//! AWS tester against moto.

mod api;

use api::contract::Contract;
use api::{endpoint_body, Answer, Event, Function, Harness, TENANT_A, TENANT_B};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// Checks `answer` against the contract for `method` on `path`.
fn assert_documented(method: &str, path: &str, answer: &Answer) {
    let contract = Contract::load();
    let template = contract.template_for(path);
    contract.check(method, template.as_deref(), answer);
}

async fn get(harness: &Harness, tenant: &str, id: &str) -> Answer {
    let request = Event::new("GET", &format!("/endpoints/{id}"))
        .tenant(tenant)
        .build();
    harness.call(Function::ListEndpoints, request).await
}

async fn list(harness: &Harness, tenant: &str, query: &str) -> Answer {
    let request = Event::new("GET", "/endpoints")
        .tenant(tenant)
        .query(query)
        .build();
    harness.call(Function::ListEndpoints, request).await
}

fn listed_ids(answer: &Answer) -> Vec<String> {
    answer.body["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tenant_b_cannot_reach_tenant_a_endpoint() {
    let harness = &Harness::dynamo().await;
    let id = harness
        .create_endpoint(TENANT_A, endpoint_body("Billing", "billing"))
        .await;
    let runs_before = harness.tester.runs.load(Ordering::SeqCst);

    let got = get(harness, TENANT_B, &id).await;
    assert_eq!(got.status, 404);
    let unknown = get(harness, TENANT_B, "01JF8ZQ4V3K2N6R5T7W9X0Y1ZZ").await;
    assert_eq!(
        got.body["detail"].as_str().unwrap().replace(&id, "ID"),
        unknown.body["detail"]
            .as_str()
            .unwrap()
            .replace("01JF8ZQ4V3K2N6R5T7W9X0Y1ZZ", "ID"),
        "another tenant's id must answer like an unknown id"
    );

    let listed = list(harness, TENANT_B, "").await;
    assert_eq!(listed.status, 200);
    assert!(listed_ids(&listed).is_empty());

    let tested = Event::new("POST", &format!("/endpoints/{id}/test"))
        .tenant(TENANT_B)
        .build();
    let tested = harness.call(Function::TestEndpoint, tested).await;
    assert_eq!(tested.status, 404);
    assert_eq!(harness.tester.runs.load(Ordering::SeqCst), runs_before);

    let deleted = Event::new("DELETE", &format!("/endpoints/{id}"))
        .tenant(TENANT_B)
        .build();
    let deleted = harness.call(Function::CreateEndpoint, deleted).await;
    assert_eq!(deleted.status, 404);

    let still_there = get(harness, TENANT_A, &id).await;
    assert_eq!(still_there.status, 200);
    assert_eq!(still_there.body["health"]["consecutive_failures"], 0);
}

#[tokio::test]
async fn tenant_b_cursor_pages_nothing_of_a() {
    let harness = &Harness::dynamo().await;
    let mut ids = Vec::new();
    for prefix in ["a", "b", "c"] {
        ids.push(
            harness
                .create_endpoint(
                    TENANT_A,
                    endpoint_body(&format!("Endpoint {prefix}"), prefix),
                )
                .await,
        );
    }
    let first_page = list(harness, TENANT_A, "limit=1").await;
    let cursor = first_page.body["next_cursor"].as_str().unwrap().to_owned();

    let query = format!("limit=1&cursor={}", percent_encode(&cursor));
    let stolen = list(harness, TENANT_B, &query).await;
    // The store may reject the cursor or read it as the start of B's own list. Either way no
    // endpoint of A appears; the problem echoes only the cursor B sent.
    let listed = stolen.body["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        listed.is_empty(),
        "B's request with A's cursor: {}",
        stolen.text
    );
    let without_echo = stolen.text.replace(&cursor, "");
    for id in &ids {
        assert!(!without_echo.contains(id.as_str()), "B saw {id}");
    }
    assert_documented("GET", "/endpoints", &stolen);
}

#[tokio::test]
async fn list_pages_newest_first() {
    let harness = &Harness::dynamo().await;
    let mut ids = Vec::new();
    for prefix in ["a", "b", "c"] {
        ids.push(
            harness
                .create_endpoint(
                    TENANT_A,
                    endpoint_body(&format!("Endpoint {prefix}"), prefix),
                )
                .await,
        );
    }
    ids.reverse();

    let first = list(harness, TENANT_A, "limit=2").await;
    assert_eq!(listed_ids(&first), ids[..2]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = list(
        harness,
        TENANT_A,
        &format!("limit=2&cursor={}", percent_encode(cursor)),
    )
    .await;
    assert_eq!(listed_ids(&second), ids[2..]);
    assert_eq!(second.body["next_cursor"], Value::Null);
    assert_eq!(second.body["endpoints"][0]["health"]["state"], "healthy");

    let read_write = list(harness, TENANT_A, "feature=data_exporter").await;
    assert!(listed_ids(&read_write).is_empty());
    assert_documented("GET", "/endpoints", &second);
}

#[tokio::test]
async fn concurrent_retries_create_one_endpoint() {
    let harness = &Harness::dynamo().await;
    harness.tester.delay_ms.store(100, Ordering::SeqCst);
    let body = endpoint_body("Billing", "billing");
    let attempt = || {
        let request = Event::new("POST", "/endpoints")
            .tenant(TENANT_A)
            .header("Idempotency-Key", "retry-key-1")
            .json(&body)
            .build();
        harness.call(Function::CreateEndpoint, request)
    };

    let answers = futures::future::join_all((0..8).map(|_| attempt())).await;
    let created: Vec<&Answer> = answers.iter().filter(|a| a.status == 201).collect();
    let in_progress = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!(
        created.len(),
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(in_progress, 7);
    assert_eq!(harness.all_endpoints().await.len(), 1);
    for answer in &answers {
        assert_documented("POST", "/endpoints", answer);
    }
    let conflict = answers.iter().find(|a| a.status == 409).unwrap();
    assert_eq!(
        conflict.body["type"],
        "/problems/idempotency-key-in-progress"
    );
    assert_eq!(conflict.headers["retry-after"], "1");

    let replayed = attempt().await;
    assert_eq!(replayed.status, 201);
    assert_eq!(replayed.text, created[0].text);
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    assert_eq!(replayed.headers["location"], created[0].headers["location"]);
    assert_eq!(harness.all_endpoints().await.len(), 1);
}

#[tokio::test]
async fn idempotency_key_with_other_body_is_rejected() {
    let harness = &Harness::dynamo().await;
    let send = |body: Value| {
        let request = Event::new("POST", "/endpoints")
            .tenant(TENANT_A)
            .header("Idempotency-Key", "key-2")
            .json(&body)
            .build();
        harness.call(Function::CreateEndpoint, request)
    };
    assert_eq!(send(endpoint_body("Billing", "billing")).await.status, 201);

    // The same request with other formatting and an equivalent prefix spelling replays.
    let same = send(endpoint_body("Billing", "/billing/")).await;
    assert_eq!(same.status, 201);

    let other = send(endpoint_body("Billing 2", "billing2")).await;
    assert_eq!(other.status, 422);
    assert_eq!(other.body["type"], "/problems/idempotency-key-reused");
    assert_eq!(other.error_fields(), ["Idempotency-Key"]);
    assert_eq!(other.body["errors"][0]["value"], "key-2");
    assert_eq!(harness.all_endpoints().await.len(), 1);
    assert_documented("POST", "/endpoints", &other);
}

#[tokio::test]
async fn failing_connection_test_stores_nothing() {
    let harness = &Harness::dynamo().await;
    harness.tester.fail.store(true, Ordering::SeqCst);
    let request = || {
        Event::new("POST", "/endpoints")
            .tenant(TENANT_A)
            .header("Idempotency-Key", "key-3")
            .json(&endpoint_body("Billing", "billing"))
            .build()
    };

    let failed = harness.call(Function::CreateEndpoint, request()).await;
    assert_eq!(failed.status, 422);
    assert_eq!(failed.body["type"], "/problems/connection-test-failed");
    assert_eq!(failed.body["report"]["outcome"], "failed");
    assert_eq!(failed.body["report"]["checks"][1]["check"], "assume_role");
    assert!(harness.all_endpoints().await.is_empty());
    assert_documented("POST", "/endpoints", &failed);

    // The failure freed the key, so the retry after fixing the role runs the test again.
    harness.tester.fail.store(false, Ordering::SeqCst);
    let retried = harness.call(Function::CreateEndpoint, request()).await;
    assert_eq!(retried.status, 201);
    assert_eq!(harness.all_endpoints().await.len(), 1);
}

#[tokio::test]
async fn conflict_names_endpoint_and_prefix() {
    let harness = &Harness::dynamo().await;
    let first = harness
        .create_endpoint(TENANT_A, endpoint_body("Logs", "logs"))
        .await;

    let overlapping = Event::new("POST", "/endpoints")
        .tenant(TENANT_A)
        .json(&endpoint_body("App logs", "logs/app"))
        .build();
    let answer = harness.call(Function::CreateEndpoint, overlapping).await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.body["conflicting_endpoint"]["id"], first.as_str());
    assert_eq!(answer.body["conflicting_endpoint"]["prefix"], "logs/");
    assert_eq!(answer.body["errors"][0]["field"], "prefix");
    assert_eq!(answer.body["errors"][0]["value"], "logs/app/");
    assert!(answer.body["detail"].as_str().unwrap().contains(&first));
    assert_documented("POST", "/endpoints", &answer);

    let same_name = Event::new("POST", "/endpoints")
        .tenant(TENANT_A)
        .json(&endpoint_body("logs", "other"))
        .build();
    let answer = harness.call(Function::CreateEndpoint, same_name).await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.body["conflicting_endpoint"]["id"], first.as_str());
    assert_eq!(answer.body["errors"][0]["field"], "name");
}

/// Names and prefixes are claimed per tenant, so tenant B may connect the bucket and prefix
/// that tenant A uses, under the same name, and B's conflicts name only B's endpoints.
#[tokio::test]
async fn tenant_b_reuses_tenant_a_prefix() {
    let harness = &Harness::dynamo().await;
    let first = harness
        .create_endpoint(TENANT_A, endpoint_body("Logs", "logs"))
        .await;

    let same = Event::new("POST", "/endpoints")
        .tenant(TENANT_B)
        .json(&endpoint_body("Logs", "logs"))
        .build();
    let answer = harness.call(Function::CreateEndpoint, same).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert!(
        !answer.text.contains(&first),
        "B's response names A's endpoint: {}",
        answer.text
    );
    assert_eq!(answer.body["endpoint"]["bucket"], "acme-billing");
    assert_eq!(answer.body["endpoint"]["prefix"], "logs/");
    assert_documented("POST", "/endpoints", &answer);
    let second = answer.body["endpoint"]["id"].as_str().unwrap().to_owned();

    let overlapping = Event::new("POST", "/endpoints")
        .tenant(TENANT_B)
        .json(&endpoint_body("App logs", "logs/app"))
        .build();
    let answer = harness.call(Function::CreateEndpoint, overlapping).await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.body["conflicting_endpoint"]["id"], second.as_str());
    assert!(
        !answer.text.contains(&first),
        "B's conflict names A's endpoint: {}",
        answer.text
    );
    assert_documented("POST", "/endpoints", &answer);

    assert_eq!(listed_ids(&list(harness, TENANT_A, "").await), [first]);
    assert_eq!(listed_ids(&list(harness, TENANT_B, "").await), [second]);
}

#[tokio::test]
async fn saved_test_records_consecutive_failures() {
    let harness = &Harness::dynamo().await;
    let id = harness
        .create_endpoint(TENANT_A, endpoint_body("Billing", "billing"))
        .await;
    harness.tester.fail.store(true, Ordering::SeqCst);
    let path = format!("/endpoints/{id}/test");

    for expected_failures in [1, 2] {
        let request = Event::new("POST", &path).tenant(TENANT_A).build();
        let answer = harness.call(Function::TestEndpoint, request).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["report"]["outcome"], "failed");
        assert_eq!(answer.body["health"]["state"], "failing");
        assert_eq!(
            answer.body["health"]["consecutive_failures"],
            expected_failures
        );
        assert_eq!(answer.body["health"]["failure"]["check"], "assume_role");
        assert!(answer.body["health"]["last_healthy_at"].is_string());
        assert_documented("POST", "/endpoints/{id}/test", &answer);
    }

    let endpoint = get(harness, TENANT_A, &id).await;
    assert_eq!(endpoint.body["health"]["consecutive_failures"], 2);
}

#[tokio::test]
async fn delete_removes_the_endpoint() {
    let harness = &Harness::dynamo().await;
    let id = harness
        .create_endpoint(TENANT_A, endpoint_body("Billing", "billing"))
        .await;
    let delete = || {
        let request = Event::new("DELETE", &format!("/endpoints/{id}"))
            .tenant(TENANT_A)
            .build();
        harness.call(Function::CreateEndpoint, request)
    };

    let deleted = delete().await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.text.is_empty());
    assert_eq!(delete().await.status, 404);
    assert_eq!(get(harness, TENANT_A, &id).await.status, 404);
}

#[tokio::test]
async fn store_outage_answers_503_with_retry_after() {
    let harness = &Harness::unreachable_store();

    let answer = list(harness, TENANT_A, "").await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.headers["retry-after"], "2");
    assert_eq!(answer.body["type"], "/problems/service-unavailable");
    // The response must not show the store's address, the table name or the SDK's error.
    let text = answer.text.to_lowercase();
    for internal in [
        "127.0.0.1",
        "api-test",
        "dispatch failure",
        "connection refused",
    ] {
        assert!(
            !text.contains(internal),
            "internal text {internal:?} leaked: {}",
            answer.text
        );
    }
    assert_documented("GET", "/endpoints", &answer);
}

/// One bad input: the function, the request, the expected status and the rejected field and
/// value that the problem must name.
struct BadInput {
    function: Function,
    event: Event,
    status: u16,
    field: &'static str,
    value: &'static str,
}

fn bad_create(body: Value, field: &'static str, value: &'static str) -> BadInput {
    BadInput {
        function: Function::CreateEndpoint,
        event: Event::new("POST", "/endpoints")
            .tenant(TENANT_A)
            .json(&body),
        status: 422,
        field,
        value,
    }
}

fn bad_list_query(query: &str, field: &'static str, value: &'static str) -> BadInput {
    BadInput {
        function: Function::ListEndpoints,
        event: Event::new("GET", "/endpoints")
            .tenant(TENANT_A)
            .query(query),
        status: 400,
        field,
        value,
    }
}

fn with_field(field: &str, value: Value) -> Value {
    let mut body = endpoint_body("Billing", "billing");
    body[field] = value;
    body
}

fn bad_inputs() -> Vec<BadInput> {
    vec![
        bad_create(with_field("name", json!("")), "name", ""),
        bad_create(with_field("mode", json!("write")), "mode", "write"),
        bad_create(
            with_field("role_arn", json!("arn:aws:iam::123456789012:user/bob")),
            "role_arn",
            "arn:aws:iam::123456789012:user/bob",
        ),
        bad_create(with_field("bucket", json!("Bad_Bucket")), "bucket", "Bad_Bucket"),
        bad_create(with_field("prefix", json!("logs/*")), "prefix", "logs/*"),
        bad_create(with_field("region", json!("moon-1")), "region", "moon-1"),
        bad_create(
            with_field("kms_key_arn", json!("arn:aws:kms:eu-west-1:123456789012:alias/x")),
            "kms_key_arn",
            "arn:aws:kms:eu-west-1:123456789012:alias/x",
        ),
        bad_create(with_field("region", json!(["eu-west-1"])), "region", "[\"eu-west-1\"]"),
        bad_create(with_field("tenant_id", json!("globex")), "tenant_id", "globex"),
        bad_create(with_field("mode", Value::Null), "mode", ""),
        BadInput {
            function: Function::TestEndpoint,
            event: Event::new("POST", "/endpoints/test")
                .tenant(TENANT_A)
                .json(&json!({"mode": "read_only", "role_arn": "x", "bucket": "b-b-b", "region": "eu-west-1"})),
            status: 422,
            field: "role_arn",
            value: "x",
        },
        BadInput {
            function: Function::CreateEndpoint,
            event: Event::new("POST", "/endpoints")
                .tenant(TENANT_A)
                .query("skip_test=maybe")
                .json(&endpoint_body("Billing", "billing")),
            status: 400,
            field: "skip_test",
            value: "maybe",
        },
        BadInput {
            function: Function::CreateEndpoint,
            event: Event::new("POST", "/endpoints")
                .tenant(TENANT_A)
                .header("Idempotency-Key", "has space")
                .json(&endpoint_body("Billing", "billing")),
            status: 400,
            field: "Idempotency-Key",
            value: "has space",
        },
        BadInput {
            function: Function::CreateEndpoint,
            event: Event::new("POST", "/endpoints")
                .tenant(TENANT_A)
                .header("Idempotency-Key", "k1,k2")
                .json(&endpoint_body("Billing", "billing")),
            status: 400,
            field: "Idempotency-Key",
            value: "k1,k2",
        },
        bad_list_query("mode=write", "mode", "write"),
        bad_list_query("feature=exports", "feature", "exports"),
        bad_list_query("mode=read_only&feature=data_exporter", "feature", "data_exporter"),
        bad_list_query("limit=0", "limit", "0"),
        bad_list_query("limit=ten", "limit", "ten"),
        bad_list_query("limit=1&limit=2", "limit", "2"),
        bad_list_query("cursor=", "cursor", ""),
        bad_list_query("cursor=not-a-cursor", "cursor", "not-a-cursor"),
        bad_list_query("sort=name", "sort", "name"),
    ]
}

#[tokio::test]
async fn every_bad_input_names_field_and_value() {
    let harness = &Harness::dynamo().await;
    for case in bad_inputs() {
        let request = case.event.build();
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let answer = harness.call(case.function, request).await;

        let context = format!("{method} {path} ({}={:?})", case.field, case.value);
        assert_eq!(answer.status, case.status, "{context}: {}", answer.text);
        assert_eq!(
            answer.content_type(),
            "application/problem+json",
            "{context}"
        );
        let named = answer.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == case.field && e["value"] == case.value);
        assert!(
            named,
            "{context}: errors do not name the field: {}",
            answer.text
        );
        assert_documented(&method, &path, &answer);
    }
    assert!(harness.all_endpoints().await.is_empty());
}

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Returns the schema named `name` under `components.schemas` of the contract.
fn request_schema<'a>(contract: &'a Contract, name: &str) -> &'a Value {
    &contract.document()["components"]["schemas"][name]
}

#[test]
fn request_schemas_list_exactly_the_accepted_body_fields() {
    use endpoint_core::domain::{ConnectionInput, EndpointInput};
    use endpoint_core::http::JsonBody;
    use endpoint_core::policy::PolicyInput;
    let contract = Contract::load();

    for (name, fields) in [
        ("EndpointInput", EndpointInput::FIELDS),
        ("ConnectionInput", ConnectionInput::FIELDS),
        ("PolicyInput", PolicyInput::FIELDS),
    ] {
        let schema = request_schema(&contract, name);
        let mut documented: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut accepted = fields.to_vec();
        documented.sort_unstable();
        accepted.sort_unstable();

        assert_eq!(documented, accepted, "{name}");
        assert_eq!(schema["additionalProperties"], false, "{name}");
    }
}

#[test]
fn request_schema_lists_exactly_the_accepted_regions() {
    use endpoint_core::domain::Region;
    let contract = Contract::load();

    let documented: Vec<&str> = request_schema(&contract, "RegionName")["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|region| region.as_str().unwrap())
        .collect();
    let accepted: Vec<&str> = Region::names().collect();

    assert_eq!(documented, accepted);
}
