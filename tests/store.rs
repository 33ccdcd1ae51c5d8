//! The DynamoDB endpoint store against DynamoDB Local.
//!
//! Set `AWS_ENDPOINT_URL_DYNAMODB` to DynamoDB Local's URL on 127.0.0.1 or localhost. Each test
//! creates its own table, so tests run in parallel. The timeout and fault-injection tests use
//! servers on 127.0.0.1 that the tests start themselves.

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use endpoint_core::clock::{IdGenerator, UlidGenerator};
use endpoint_core::domain::{
    AccessMode, Endpoint, EndpointId, EndpointInput, EndpointSpec, ExternalId, Health,
    HealthFailure, HealthState, TenantId,
};
use endpoint_core::sdk::{self, TrustRoots};
use endpoint_core::store::dynamo::{ClientSettings, DynamoStore, RetryPolicy};
use endpoint_core::store::schema;
use endpoint_core::store::{
    EndpointStore, HealthWrite, IdempotencyClaim, ListQuery, StoreError, StoredResponse,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ulid::Ulid;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Returns DynamoDB Local's URL, refusing any address but the loopback one so that a test run
/// never writes to a real AWS account.
fn local_endpoint_url() -> String {
    let url = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: start DynamoDB Local and set it to its URL, \
             such as http://127.0.0.1:8000"
        )
    });
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"];
    assert!(
        loopback.iter().any(|start| url.starts_with(start)),
        "AWS_ENDPOINT_URL_DYNAMODB must point at DynamoDB Local on the loopback address; got {url}"
    );
    url
}

/// Builds a client for `url` with static test credentials, so that no credential provider
/// looks for real ones.
fn client_for(url: &str, settings: &ClientSettings) -> Client {
    let builder = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .http_client(sdk::http_client(TrustRoots::Amazon))
        .endpoint_url(url);
    Client::from_conf(settings.apply(builder).build())
}

struct Fixture {
    client: Client,
    table: String,
    store: Arc<DynamoStore>,
}

impl Fixture {
    /// Creates a table of its own for one test.
    async fn new() -> Self {
        // DynamoDB Local on a busy machine can pause for seconds (JVM warm-up, garbage
        // collection), so the tests of behaviour allow more time than production does.
        let settings = ClientSettings {
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            ..ClientSettings::default()
        };
        let client = client_for(&local_endpoint_url(), &settings);
        let table = format!("endpoints-test-{}", new_id().as_str().to_lowercase());
        schema::create_table(&client, &table)
            .await
            .unwrap_or_else(|error| {
                panic!("creating table {table} in DynamoDB Local failed: {error}")
            });
        let store = Arc::new(DynamoStore::new(client.clone(), table.clone()));
        Self {
            client,
            table,
            store,
        }
    }

    /// Reads the raw claims map of a bucket, endpoint id to prefix.
    async fn bucket_claims(
        &self,
        tenant: &TenantId,
        bucket: &str,
    ) -> Option<BTreeMap<String, String>> {
        let item = self
            .raw_item(&format!("TENANT#{tenant}"), &format!("BUCKET#{bucket}"))
            .await?;
        let Some(AttributeValue::M(claims)) = item.get("claims") else {
            panic!("claims item of {bucket} has no claims map: {item:?}");
        };
        let claims = claims
            .iter()
            .map(|(id, prefix)| {
                (
                    id.clone(),
                    prefix.as_s().expect("prefix is a string").clone(),
                )
            })
            .collect();
        Some(claims)
    }

    async fn raw_item(&self, pk: &str, sk: &str) -> Option<HashMap<String, AttributeValue>> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem on DynamoDB Local failed")
            .item
    }
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// Returns ids whose time parts grow by one millisecond each, oldest first.
fn ids(count: usize) -> Vec<EndpointId> {
    let start = new_id().ulid().timestamp_ms();
    (0..count)
        .map(|i| {
            let random = new_id().ulid().random();
            EndpointId::from_ulid(Ulid::from_parts(start + i as u64, random))
        })
        .collect()
}

fn new_id() -> EndpointId {
    UlidGenerator.endpoint_id(OffsetDateTime::now_utc())
}

struct Spec<'a> {
    name: &'a str,
    bucket: &'a str,
    prefix: &'a str,
    mode: AccessMode,
}

impl<'a> Spec<'a> {
    fn new(name: &'a str, bucket: &'a str, prefix: &'a str) -> Self {
        Self {
            name,
            bucket,
            prefix,
            mode: AccessMode::ReadOnly,
        }
    }

    fn mode(self, mode: AccessMode) -> Self {
        Self { mode, ..self }
    }

    fn build(&self, tenant: &TenantId, id: &EndpointId) -> Endpoint {
        let input = EndpointInput {
            name: Some(self.name.to_owned()),
            description: Some(format!("Files under {}", self.prefix)),
            mode: Some(self.mode.as_str().to_owned()),
            role_arn: Some("arn:aws:iam::123456789012:role/Acme-S3-Access".to_owned()),
            bucket: Some(self.bucket.to_owned()),
            prefix: Some(self.prefix.to_owned()),
            region: Some("eu-west-1".to_owned()),
            kms_key_arn: None,
        };
        Endpoint {
            id: id.clone(),
            tenant: tenant.clone(),
            spec: EndpointSpec::parse(&input).expect("test endpoint is valid"),
            external_id: ExternalId::parse("test-external-id").unwrap(),
            created_at: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
            created_by: "test-user".to_owned(),
        }
    }
}

async fn create_all(store: &DynamoStore, endpoints: &[Endpoint]) {
    for endpoint in endpoints {
        store
            .create_endpoint(endpoint)
            .await
            .unwrap_or_else(|error| panic!("creating {} failed: {error}", endpoint.id));
    }
}

/// Runs `create_endpoint` for every endpoint at once, on the runtime's worker threads.
async fn create_concurrently(
    store: &Arc<DynamoStore>,
    endpoints: &[Endpoint],
) -> Vec<Result<(), StoreError>> {
    let tasks: Vec<_> = endpoints
        .iter()
        .cloned()
        .map(|endpoint| {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.create_endpoint(&endpoint).await })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.expect("create task panicked"));
    }
    results
}

/// Lists every page of `tenant` with `query`, checking that each page but the last is full.
async fn list_all(
    store: &DynamoStore,
    tenant: &TenantId,
    mut query: ListQuery,
) -> Vec<Vec<EndpointId>> {
    let mut pages = Vec::new();
    loop {
        let page = store
            .list_endpoints(tenant, &query)
            .await
            .expect("listing failed");
        let ids: Vec<EndpointId> = page.endpoints.iter().map(|e| e.id.clone()).collect();
        if page.next_cursor.is_some() {
            assert_eq!(
                ids.len(),
                query.limit as usize,
                "a page before the last is not full"
            );
        }
        pages.push(ids);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return pages,
        }
        assert!(pages.len() <= 100, "listing did not end");
    }
}

fn query(limit: u32) -> ListQuery {
    ListQuery {
        mode: None,
        limit,
        cursor: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Creating endpoints
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_with_existing_id_keeps_the_original() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let acme = tenant("acme");
    let id = new_id();
    let original = Spec::new("Billing", "acme-billing", "exports/").build(&acme, &id);
    store.create_endpoint(&original).await.unwrap();

    let elsewhere = Spec::new("Other name", "acme-other", "logs/")
        .mode(AccessMode::ReadWrite)
        .build(&acme, &id);
    let same_bucket = Spec::new("Third name", "acme-billing", "exports/daily/").build(&acme, &id);
    for duplicate in [&elsewhere, &same_bucket] {
        let error = store.create_endpoint(duplicate).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::IdExists(existing) if *existing == id),
            "{error:?}"
        );
    }

    let stored = store.get_endpoint(&acme, &id).await.unwrap();
    assert_eq!(stored.as_ref(), Some(&original));

    // The failed creates wrote nothing: their names and prefixes are still free.
    assert_eq!(fixture.bucket_claims(&acme, "acme-other").await, None);
    let reuse = Spec::new("Other name", "acme-other", "logs/").build(&acme, &new_id());
    store.create_endpoint(&reuse).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_concurrent_creates_have_one_winner() {
    let fixture = Fixture::new().await;
    let acme = tenant("acme");

    // Nested prefixes a/, a/a/, a/a/a/ ... all conflict with each other.
    let prefixes: Vec<String> = (1..=32).map(|depth| "a/".repeat(depth)).collect();
    let endpoints: Vec<Endpoint> = prefixes
        .iter()
        .enumerate()
        .map(|(i, prefix)| {
            Spec::new(&format!("Endpoint {i}"), "acme-shared", prefix).build(&acme, &new_id())
        })
        .collect();

    let results = create_concurrently(&fixture.store, &endpoints).await;

    let winners: Vec<&Endpoint> = endpoints
        .iter()
        .zip(&results)
        .filter(|(_, result)| result.is_ok())
        .map(|(endpoint, _)| endpoint)
        .collect();
    assert_eq!(winners.len(), 1, "results: {results:?}");
    let winner = winners[0];
    for (endpoint, result) in endpoints.iter().zip(&results) {
        if endpoint.id == winner.id {
            continue;
        }
        match result {
            Err(StoreError::PrefixConflict {
                prefix,
                existing,
                existing_prefix,
            }) => {
                assert_eq!(prefix, &endpoint.spec.connection.prefix);
                assert_eq!(existing, &winner.id);
                assert_eq!(existing_prefix, &winner.spec.connection.prefix);
            }
            other => panic!("expected PrefixConflict for {}, got {other:?}", endpoint.id),
        }
    }

    let claims = fixture.bucket_claims(&acme, "acme-shared").await.unwrap();
    let expected = BTreeMap::from([(
        winner.id.to_string(),
        winner.spec.connection.prefix.as_str().to_owned(),
    )]);
    assert_eq!(claims, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disjoint_concurrent_creates_all_succeed() {
    let fixture = Fixture::new().await;
    let acme = tenant("acme");
    let endpoints: Vec<Endpoint> = (0..32)
        .map(|i| {
            Spec::new(
                &format!("Endpoint {i}"),
                "acme-shared",
                &format!("team-{i:02}/"),
            )
            .build(&acme, &new_id())
        })
        .collect();

    let results = create_concurrently(&fixture.store, &endpoints).await;

    for (endpoint, result) in endpoints.iter().zip(&results) {
        assert!(
            result.is_ok(),
            "create of {} failed: {result:?}",
            endpoint.id
        );
    }
    let claims = fixture.bucket_claims(&acme, "acme-shared").await.unwrap();
    let expected: BTreeMap<String, String> = endpoints
        .iter()
        .map(|e| {
            (
                e.id.to_string(),
                e.spec.connection.prefix.as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(claims, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_name_concurrent_creates_have_one_winner() {
    let fixture = Fixture::new().await;
    let acme = tenant("acme");
    let names = [
        "Billing", "billing", "BILLING", "BiLLiNg", "bILLING", "Billing ", " billinG", "BILLing",
    ];
    let endpoints: Vec<Endpoint> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Spec::new(name, &format!("acme-bucket-{i}"), "").build(&acme, &new_id()))
        .collect();

    let results = create_concurrently(&fixture.store, &endpoints).await;

    let winners: Vec<&Endpoint> = endpoints
        .iter()
        .zip(&results)
        .filter(|(_, result)| result.is_ok())
        .map(|(endpoint, _)| endpoint)
        .collect();
    assert_eq!(winners.len(), 1, "results: {results:?}");
    let winner = winners[0];
    for (endpoint, result) in endpoints.iter().zip(&results) {
        if endpoint.id == winner.id {
            continue;
        }
        match result {
            Err(StoreError::NameTaken {
                requested,
                name,
                existing,
            }) => {
                // The error names the winner's name as saved, and the losing spelling apart.
                assert_eq!(name, winner.spec.name.as_str());
                assert_eq!(requested, endpoint.spec.name.as_str());
                assert_eq!(existing, &winner.id);
            }
            other => panic!("expected NameTaken for {}, got {other:?}", endpoint.id),
        }
        // The losing transaction claimed no prefix.
        let bucket = endpoint.spec.connection.bucket.as_str();
        assert_eq!(fixture.bucket_claims(&acme, bucket).await, None, "{bucket}");
    }
}

#[tokio::test]
async fn names_and_prefixes_are_per_tenant() {
    let fixture = Fixture::new().await;
    let acme = Spec::new("Billing", "shared-bucket", "").build(&tenant("acme"), &new_id());
    let globex = Spec::new("Billing", "shared-bucket", "").build(&tenant("globex"), &new_id());
    create_all(&fixture.store, &[acme, globex]).await;
}

// ---------------------------------------------------------------------------------------------
// Deleting endpoints
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_frees_prefix_and_name() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let acme = tenant("acme");
    let first = Spec::new("Billing", "acme-billing", "exports/").build(&acme, &new_id());
    store.create_endpoint(&first).await.unwrap();
    let healthy = Health::after(None, OffsetDateTime::now_utc(), None);
    store
        .record_health(&acme, &first.id, &healthy)
        .await
        .unwrap();

    let second = Spec::new("BILLING", "acme-billing", "exports/daily/").build(&acme, &new_id());
    let blocked = store.create_endpoint(&second).await.unwrap_err();
    assert!(
        matches!(blocked, StoreError::PrefixConflict { .. }),
        "{blocked:?}"
    );

    let deleted = store.delete_endpoint(&acme, &first.id).await.unwrap();
    assert_eq!(deleted, first);
    assert_eq!(store.get_endpoint(&acme, &first.id).await.unwrap(), None);
    let health = store
        .get_health(&acme, std::slice::from_ref(&first.id))
        .await
        .unwrap();
    assert!(health.is_empty(), "{health:?}");
    assert_eq!(
        fixture.bucket_claims(&acme, "acme-billing").await,
        Some(BTreeMap::new())
    );

    store.create_endpoint(&second).await.unwrap();

    let again = store.delete_endpoint(&acme, &first.id).await.unwrap_err();
    assert!(
        matches!(&again, StoreError::NotFound(id) if *id == first.id),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_have_one_winner() {
    let fixture = Fixture::new().await;
    let acme = tenant("acme");
    let endpoint = Spec::new("Billing", "acme-billing", "").build(&acme, &new_id());
    fixture.store.create_endpoint(&endpoint).await.unwrap();

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&fixture.store);
            let (acme, id) = (acme.clone(), endpoint.id.clone());
            tokio::spawn(async move { store.delete_endpoint(&acme, &id).await })
        })
        .collect();
    let mut deleted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(removed) => {
                assert_eq!(removed, endpoint);
                deleted += 1;
            }
            Err(StoreError::NotFound(id)) => assert_eq!(id, endpoint.id),
            Err(other) => panic!("expected NotFound, got {other:?}"),
        }
    }
    assert_eq!(deleted, 1);
}

#[tokio::test]
async fn delete_of_unknown_endpoint_is_not_found() {
    let fixture = Fixture::new().await;
    let error = fixture
        .store
        .delete_endpoint(&tenant("acme"), &new_id())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound(_)), "{error:?}");
}

// ---------------------------------------------------------------------------------------------
// Listing and scanning
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pages_cover_every_endpoint_newest_first() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;

    // 25 endpoints make pages of 7, 7, 7 and 4; 21 make three full pages and no fourth.
    for count in [25, 21] {
        let tenant = tenant(&format!("tenant-{count}"));
        let endpoints: Vec<Endpoint> = ids(count)
            .iter()
            .enumerate()
            .map(|(i, id)| {
                Spec::new(&format!("Endpoint {i}"), "bucket-a", &format!("p{i}/"))
                    .build(&tenant, id)
            })
            .collect();
        create_all(store, &endpoints).await;

        let pages = list_all(store, &tenant, query(7)).await;

        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        let expected_sizes = if count == 25 {
            vec![7, 7, 7, 4]
        } else {
            vec![7, 7, 7]
        };
        assert_eq!(sizes, expected_sizes);
        let listed: Vec<EndpointId> = pages.into_iter().flatten().collect();
        let newest_first: Vec<EndpointId> = endpoints.iter().rev().map(|e| e.id.clone()).collect();
        assert_eq!(listed, newest_first);
    }
}

#[tokio::test]
async fn mode_filter_lists_only_that_mode() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let acme = tenant("acme");
    let endpoints: Vec<Endpoint> = ids(11)
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mode = if i % 3 == 0 {
                AccessMode::ReadWrite
            } else {
                AccessMode::ReadOnly
            };
            Spec::new(&format!("Endpoint {i}"), "bucket-a", &format!("p{i}/"))
                .mode(mode)
                .build(&acme, id)
        })
        .collect();
    create_all(store, &endpoints).await;

    for mode in AccessMode::ALL {
        let filtered = ListQuery {
            mode: Some(mode),
            ..query(2)
        };
        let listed: Vec<EndpointId> = list_all(store, &acme, filtered)
            .await
            .into_iter()
            .flatten()
            .collect();
        let expected: Vec<EndpointId> = endpoints
            .iter()
            .rev()
            .filter(|e| e.spec.connection.mode == mode)
            .map(|e| e.id.clone())
            .collect();
        assert_eq!(listed, expected, "{mode:?}");
    }
}

#[tokio::test]
async fn other_tenants_cursor_shows_only_own_endpoints() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let acme_endpoints: Vec<Endpoint> = ids(6)
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Spec::new(&format!("Acme {i}"), "acme-bucket", &format!("p{i}/")).build(&acme, id)
        })
        .collect();
    create_all(store, &acme_endpoints).await;
    let globex_endpoints: Vec<Endpoint> = ids(3)
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Spec::new(&format!("Globex {i}"), "globex-bucket", &format!("p{i}/")).build(&globex, id)
        })
        .collect();
    create_all(store, &globex_endpoints).await;

    let acme_page = store.list_endpoints(&acme, &query(2)).await.unwrap();
    let acme_cursor = acme_page.next_cursor.expect("acme has more than one page");

    // Acme's real cursor is bound to acme's listing, so globex gets it rejected.
    let stolen = ListQuery {
        mode: None,
        limit: 100,
        cursor: Some(acme_cursor.clone()),
    };
    assert!(matches!(
        store.list_endpoints(&globex, &stolen).await,
        Err(StoreError::InvalidCursor)
    ));

    // Cursors that name acme's endpoints, oldest and newest, and acme's real cursor. Any that
    // the store accepts must still list only globex's endpoints.
    let mut cursors = vec![acme_cursor];
    for endpoint in [&acme_endpoints[0], &acme_endpoints[5]] {
        cursors.push(URL_SAFE_NO_PAD.encode(format!("ENDPOINT#{}", endpoint.id)));
    }
    for cursor in cursors {
        for mode in [None, Some(AccessMode::ReadOnly)] {
            let request = ListQuery {
                mode,
                limit: 100,
                cursor: Some(cursor.clone()),
            };
            let Ok(page) = store.list_endpoints(&globex, &request).await else {
                continue;
            };
            for endpoint in &page.endpoints {
                assert_eq!(
                    endpoint.tenant, globex,
                    "cursor {cursor} leaked {}",
                    endpoint.id
                );
            }
        }
    }

    for endpoint in &acme_endpoints {
        assert_eq!(
            store.get_endpoint(&globex, &endpoint.id).await.unwrap(),
            None
        );
        let error = store
            .delete_endpoint(&globex, &endpoint.id)
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::NotFound(_)), "{error:?}");
    }
    let all_globex: Vec<EndpointId> = list_all(store, &globex, query(100))
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(all_globex.len(), 3);
}

#[tokio::test]
async fn malformed_cursors_are_rejected() {
    let fixture = Fixture::new().await;
    let acme = tenant("acme");
    let id = new_id();
    let forged = [
        "not a cursor".to_owned(),
        URL_SAFE_NO_PAD.encode(format!("TENANT#globex#ENDPOINT#{id}")),
        URL_SAFE_NO_PAD.encode(format!("HEALTH#{id}")),
        URL_SAFE_NO_PAD.encode(format!("ENDPOINT#{}", id.as_str().to_lowercase())),
        URL_SAFE_NO_PAD.encode("ENDPOINT#"),
        "A".repeat(10_000),
    ];
    for cursor in forged {
        let request = ListQuery {
            cursor: Some(cursor.clone()),
            ..query(10)
        };
        let error = fixture
            .store
            .list_endpoints(&acme, &request)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::InvalidCursor),
            "{cursor}: {error:?}"
        );
    }

    for limit in [0, 101] {
        let error = fixture
            .store
            .list_endpoints(&acme, &query(limit))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::InvalidArgument(_)),
            "{limit}: {error:?}"
        );
    }
}

#[tokio::test]
async fn scan_segments_cover_every_endpoint_once() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let mut expected = BTreeSet::new();
    for name in ["acme", "globex", "initech"] {
        let tenant = tenant(name);
        store
            .get_or_create_external_id(&tenant, ExternalId::generate().unwrap())
            .await
            .unwrap();
        for (i, id) in ids(5).iter().enumerate() {
            let endpoint = Spec::new(&format!("Endpoint {i}"), "bucket-a", &format!("p{i}/"))
                .build(&tenant, id);
            store.create_endpoint(&endpoint).await.unwrap();
            let health = Health::after(None, OffsetDateTime::now_utc(), None);
            store.record_health(&tenant, id, &health).await.unwrap();
            expected.insert(id.clone());
        }
    }

    let mut scanned = Vec::new();
    for segment in 0..3 {
        let mut position: Option<String> = None;
        for _ in 0..100 {
            let page = store
                .scan_endpoints(segment, 3, position.as_deref(), 4)
                .await
                .unwrap();
            scanned.extend(page.endpoints.into_iter().map(|e| e.id));
            position = page.next_position;
            if position.is_none() {
                break;
            }
        }
        assert_eq!(position, None, "segment {segment} did not end");
    }

    let unique: BTreeSet<EndpointId> = scanned.iter().cloned().collect();
    assert_eq!(unique.len(), scanned.len(), "an endpoint was scanned twice");
    assert_eq!(unique, expected);

    let error = store
        .scan_endpoints(0, 3, Some("garbage"), 4)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidCursor), "{error:?}");
    let error = store.scan_endpoints(3, 3, None, 4).await.unwrap_err();
    assert!(matches!(error, StoreError::InvalidArgument(_)), "{error:?}");
}

// ---------------------------------------------------------------------------------------------
// External ID, health and idempotency
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_external_id_requests_agree() {
    let fixture = Fixture::new().await;
    let acme = tenant("acme");
    let candidates: Vec<ExternalId> = (0..16).map(|_| ExternalId::generate().unwrap()).collect();

    let tasks: Vec<_> = candidates
        .iter()
        .cloned()
        .map(|candidate| {
            let store = Arc::clone(&fixture.store);
            let acme = acme.clone();
            tokio::spawn(async move { store.get_or_create_external_id(&acme, candidate).await })
        })
        .collect();
    let mut returned = BTreeSet::new();
    for task in tasks {
        let external_id = task.await.unwrap().unwrap();
        returned.insert(external_id.as_str().to_owned());
    }

    assert_eq!(returned.len(), 1, "{returned:?}");
    let stored = returned.into_iter().next().unwrap();
    assert!(candidates.iter().any(|c| c.as_str() == stored));

    let later = fixture
        .store
        .get_or_create_external_id(&acme, ExternalId::generate().unwrap())
        .await
        .unwrap();
    assert_eq!(later.as_str(), stored);

    let other = fixture
        .store
        .get_or_create_external_id(&tenant("globex"), ExternalId::generate().unwrap())
        .await
        .unwrap();
    assert_ne!(other.as_str(), stored);
}

fn failing(at: OffsetDateTime, previous: Option<&Health>) -> Health {
    let failure = HealthFailure {
        check: "assume_role".to_owned(),
        error_code: Some("AccessDenied".to_owned()),
        message: "not authorized to perform sts:AssumeRole".to_owned(),
    };
    Health::after(previous, at, Some(failure))
}

#[tokio::test]
async fn health_is_written_only_when_newer() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let acme = tenant("acme");
    let id = new_id();
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let (t1, t2) = (t0 + Duration::from_millis(1), t0 + Duration::from_secs(60));

    let first = Health::after(None, t1, None);
    let written = store.record_health(&acme, &id, &first).await.unwrap();
    assert_eq!(written, HealthWrite::Written { previous: None });

    let second = failing(t2, Some(&first));
    let written = store.record_health(&acme, &id, &second).await.unwrap();
    assert_eq!(
        written,
        HealthWrite::Written {
            previous: Some(first.clone())
        }
    );

    // An older result and a second result of the same time change nothing.
    let older = failing(t0, None);
    assert_eq!(
        store.record_health(&acme, &id, &older).await.unwrap(),
        HealthWrite::Stale
    );
    let same_time = Health::after(None, t2, None);
    assert_eq!(
        store.record_health(&acme, &id, &same_time).await.unwrap(),
        HealthWrite::Stale
    );

    let stored = store
        .get_health(&acme, &[id.clone(), id.clone(), new_id()])
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[&id], second);
    assert_eq!(stored[&id].state, HealthState::Failing);
}

#[tokio::test]
async fn health_of_many_endpoints_is_read_in_batches() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let acme = tenant("acme");
    let all = ids(230);
    let at = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    for id in all.iter().step_by(2) {
        store
            .record_health(&acme, id, &Health::after(None, at, None))
            .await
            .unwrap();
    }

    let stored = store.get_health(&acme, &all).await.unwrap();

    let expected: BTreeSet<&EndpointId> = all.iter().step_by(2).collect();
    let found: BTreeSet<&EndpointId> = stored.keys().collect();
    assert_eq!(found, expected);
    let other_tenant = store.get_health(&tenant("globex"), &all).await.unwrap();
    assert!(other_tenant.is_empty());
}

#[tokio::test]
async fn idempotency_key_claim_complete_release() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let acme = tenant("acme");
    let later = OffsetDateTime::now_utc() + Duration::from_secs(3_600);
    let response = StoredResponse {
        status: 201,
        body: r#"{"id":"01J0000000000000000000000"}"#.to_owned(),
    };

    let claim = store
        .claim_idempotency_key(&acme, "key-1", "hash-a", later)
        .await
        .unwrap();
    assert_eq!(claim, IdempotencyClaim::Claimed);
    let again = store
        .claim_idempotency_key(&acme, "key-1", "hash-b", later)
        .await
        .unwrap();
    assert_eq!(
        again,
        IdempotencyClaim::InProgress {
            request_hash: "hash-a".to_owned()
        }
    );

    store
        .complete_idempotency_key(&acme, "key-1", &response)
        .await
        .unwrap();
    let completed = IdempotencyClaim::Completed {
        request_hash: "hash-a".to_owned(),
        response: response.clone(),
    };
    let replay = store
        .claim_idempotency_key(&acme, "key-1", "hash-a", later)
        .await
        .unwrap();
    assert_eq!(replay, completed);

    // Releasing a completed key keeps its response.
    store.release_idempotency_key(&acme, "key-1").await.unwrap();
    let replay = store
        .claim_idempotency_key(&acme, "key-1", "hash-a", later)
        .await
        .unwrap();
    assert_eq!(replay, completed);

    // A released key can be claimed again.
    let claim = store
        .claim_idempotency_key(&acme, "key-2", "hash-c", later)
        .await
        .unwrap();
    assert_eq!(claim, IdempotencyClaim::Claimed);
    store.release_idempotency_key(&acme, "key-2").await.unwrap();
    let claim = store
        .claim_idempotency_key(&acme, "key-2", "hash-d", later)
        .await
        .unwrap();
    assert_eq!(claim, IdempotencyClaim::Claimed);

    // Keys are per tenant.
    let other = store
        .claim_idempotency_key(&tenant("globex"), "key-1", "hash-a", later)
        .await
        .unwrap();
    assert_eq!(other, IdempotencyClaim::Claimed);
}

#[tokio::test]
async fn expired_idempotency_records_count_as_absent() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let acme = tenant("acme");
    let past = OffsetDateTime::now_utc() - Duration::from_secs(1);
    let later = OffsetDateTime::now_utc() + Duration::from_secs(3_600);
    let response = StoredResponse {
        status: 201,
        body: "{}".to_owned(),
    };

    // TTL has not deleted these records, but their expiry time has passed.
    let claim = store
        .claim_idempotency_key(&acme, "in-progress", "hash-a", past)
        .await
        .unwrap();
    assert_eq!(claim, IdempotencyClaim::Claimed);
    let claim = store
        .claim_idempotency_key(&acme, "in-progress", "hash-b", later)
        .await
        .unwrap();
    assert_eq!(claim, IdempotencyClaim::Claimed);

    let claim = store
        .claim_idempotency_key(&acme, "completed", "hash-a", past)
        .await
        .unwrap();
    assert_eq!(claim, IdempotencyClaim::Claimed);
    // Completing an expired claim stores nothing but still succeeds.
    store
        .complete_idempotency_key(&acme, "completed", &response)
        .await
        .unwrap();
    let claim = store
        .claim_idempotency_key(&acme, "completed", "hash-b", later)
        .await
        .unwrap();
    assert_eq!(claim, IdempotencyClaim::Claimed);
}

// ---------------------------------------------------------------------------------------------
// Unavailable and faulty DynamoDB
// ---------------------------------------------------------------------------------------------

fn short_timeouts() -> ClientSettings {
    ClientSettings {
        connect_timeout: Duration::from_millis(300),
        attempt_timeout: Duration::from_millis(500),
        operation_timeout: Duration::from_millis(1_500),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    }
}

/// Returns a 127.0.0.1 port that nothing listens on.
async fn unused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

async fn assert_unavailable_within(store: &DynamoStore, bound: Duration) {
    let acme = tenant("acme");
    let endpoint = Spec::new("Billing", "acme-billing", "").build(&acme, &new_id());

    let started = Instant::now();
    let read = store.get_endpoint(&acme, &endpoint.id).await;
    let write = store.create_endpoint(&endpoint).await;
    let elapsed = started.elapsed();

    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    assert!(
        matches!(write, Err(StoreError::Unavailable(_))),
        "{write:?}"
    );
    // Two calls, each bounded by the operation timeout, plus generous slack for a busy machine.
    assert!(
        elapsed < bound * 2 + Duration::from_secs(5),
        "took {elapsed:?}"
    );
}

#[tokio::test]
async fn refused_connections_make_the_store_unavailable() {
    let settings = short_timeouts();
    let client = client_for(
        &format!("http://127.0.0.1:{}", unused_port().await),
        &settings,
    );
    let store = DynamoStore::new(client, "endpoints".to_owned());
    assert_unavailable_within(&store, settings.operation_timeout).await;
}

#[tokio::test]
async fn silent_dynamodb_makes_the_store_unavailable() {
    // Accepts connections and never responds, like a DynamoDB behind a broken network path.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });

    let settings = short_timeouts();
    let client = client_for(&format!("http://127.0.0.1:{port}"), &settings);
    let store = DynamoStore::new(client, "endpoints".to_owned());
    assert_unavailable_within(&store, settings.operation_timeout).await;
    server.abort();
}

/// A fake DynamoDB on 127.0.0.1. It returns no item to GetItem, and `fault` to the first
/// `faults` TransactWriteItems requests and success to later ones.
struct FaultyDynamo {
    url: String,
    transactions: Arc<AtomicU32>,
    server: tokio::task::JoinHandle<()>,
}

const TRANSACTION_CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict, None]","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]}"#;

const THROTTLING: &str = r#"{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;

impl FaultyDynamo {
    async fn start(fault: &'static str, faults: u32) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let transactions = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&transactions);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(serve_connection(stream, counter, fault, faults));
            }
        });
        Self {
            url,
            transactions,
            server,
        }
    }
}

impl Drop for FaultyDynamo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    transactions: Arc<AtomicU32>,
    fault: &str,
    faults: u32,
) {
    while let Some(target) = read_request(&mut stream).await {
        let (status, body) = if target.ends_with(".TransactWriteItems") {
            let number = transactions.fetch_add(1, Ordering::SeqCst);
            if number < faults {
                ("400 Bad Request", fault)
            } else {
                ("200 OK", "{}")
            }
        } else {
            ("200 OK", "{}")
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: fake\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads one HTTP/1.1 request and returns its `X-Amz-Target` header, or `None` at the end of
/// the connection.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let header_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };

    let head = String::from_utf8_lossy(&buffer[..header_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body_read = buffer.len() - header_end;
    while body_read < length {
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        body_read += read;
    }
    Some(header("x-amz-target").unwrap_or_default())
}

#[tokio::test]
async fn transaction_conflicts_are_retried_until_success() {
    let faulty = FaultyDynamo::start(TRANSACTION_CONFLICT, 3).await;
    let client = client_for(&faulty.url, &short_timeouts());
    let store = DynamoStore::new(client, "endpoints".to_owned());
    let endpoint = Spec::new("Billing", "acme-billing", "").build(&tenant("acme"), &new_id());

    store.create_endpoint(&endpoint).await.unwrap();

    // The SDK does not retry a canceled transaction, so each conflict is one attempt of the
    // store's loop.
    assert_eq!(faulty.transactions.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn lasting_throttling_ends_as_unavailable() {
    let faulty = FaultyDynamo::start(THROTTLING, u32::MAX).await;
    let settings = ClientSettings {
        max_attempts: 2,
        operation_timeout: Duration::from_secs(10),
        ..short_timeouts()
    };
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    let store = DynamoStore::new(client_for(&faulty.url, &settings), "endpoints".to_owned())
        .with_retry_policy(policy);
    let endpoint = Spec::new("Billing", "acme-billing", "").build(&tenant("acme"), &new_id());

    let error = store.create_endpoint(&endpoint).await.unwrap_err();

    let StoreError::Unavailable(source) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(source.to_string().contains("3 attempts"), "{source}");
    // Each of the store's 3 attempts is one SDK call of 2 attempts.
    assert_eq!(faulty.transactions.load(Ordering::SeqCst), 6);
}

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

/// Checks `schema` against `EndpointsTable` in `template.yaml`. The template is written
/// separately from this code. Until it is in the repository, this test fails with a message
/// naming the missing file.
#[test]
fn schema_matches_the_template() {
    use serde_norway::Value;

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "template.yaml is needed to check the table schema: {}: {error}",
            path.display()
        )
    });
    let template: Value = serde_norway::from_str(&text).expect("template.yaml is not valid YAML");
    let table = &template["Resources"]["EndpointsTable"];
    assert_eq!(table["Type"].as_str(), Some("AWS::DynamoDB::Table"));
    let properties = &table["Properties"];

    let pairs = |list: &Value, first: &str, second: &str| -> Vec<(String, String)> {
        list.as_sequence()
            .unwrap_or_else(|| panic!("expected a list of {first} and {second}, got {list:?}"))
            .iter()
            .map(|entry| {
                let field = |name: &str| {
                    entry[name]
                        .as_str()
                        .unwrap_or_else(|| panic!("{name} missing in {entry:?}"))
                        .to_owned()
                };
                (field(first), field(second))
            })
            .collect()
    };

    let mut template_attributes = pairs(
        &properties["AttributeDefinitions"],
        "AttributeName",
        "AttributeType",
    );
    template_attributes.sort();
    let mut code_attributes: Vec<(String, String)> = schema::attribute_definitions()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    code_attributes.sort();
    assert_eq!(template_attributes, code_attributes, "AttributeDefinitions");

    let code_keys =
        |elements: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
            elements
                .iter()
                .map(|k| {
                    (
                        k.attribute_name().to_owned(),
                        k.key_type().as_str().to_owned(),
                    )
                })
                .collect()
        };
    let template_keys = pairs(&properties["KeySchema"], "AttributeName", "KeyType");
    assert_eq!(
        template_keys,
        code_keys(&schema::key_schema().unwrap()),
        "KeySchema"
    );

    let template_indexes = properties["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("GlobalSecondaryIndexes list");
    let code_indexes = schema::global_secondary_indexes().unwrap();
    assert_eq!(
        template_indexes.len(),
        code_indexes.len(),
        "number of GlobalSecondaryIndexes"
    );
    for code_index in &code_indexes {
        let name = code_index.index_name();
        let template_index = template_indexes
            .iter()
            .find(|index| index["IndexName"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("template has no index {name}"));
        let template_keys = pairs(&template_index["KeySchema"], "AttributeName", "KeyType");
        assert_eq!(
            template_keys,
            code_keys(code_index.key_schema()),
            "KeySchema of {name}"
        );
        let projection = code_index
            .projection()
            .and_then(|p| p.projection_type())
            .map(|p| p.as_str());
        assert_eq!(
            template_index["Projection"]["ProjectionType"].as_str(),
            projection,
            "Projection of {name}"
        );
    }

    let ttl = &properties["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"].as_str(), Some(schema::TTL_ATTRIBUTE));
    assert_eq!(ttl["Enabled"].as_bool(), Some(true));
}
