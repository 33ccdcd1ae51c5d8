//! The AWS connection tester against the local stack: moto with IAM checks on, customer
//! buckets and roles created per test, and the platform principal's own credentials.
//!
//! Each test names the behaviour of the moto extension (`scripts/local-stack/moto_ext.py`)
//! it depends on, if any. Stock moto 5.2.5 lacks those behaviours, so a test that depends on
//! one fails there.

use aws_config::SdkConfig;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use endpoint_core::check::{
    AwsConnectionTester, CheckName, CheckStatus, ConnectionTester, TestReport, TestRequest,
    TesterOptions,
};
use endpoint_core::domain::{
    ConnectionInput, ConnectionSpec, EndpointId, ExternalId, TenantId, TEST_OBJECT_FOLDER,
};
use s3_endpoints::{
    assume_role_as_platform, create_customer_bucket, create_customer_role, platform_trust_policy,
    read_prefix_policy, s3_client, stack, unique_name, CustomerBucket, CustomerRole,
};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const EXTERNAL_ID: &str = "tenant-acme-external-id";
const DEADLINE: Duration = Duration::from_secs(20);

/// Options with short retries, so that tests of denied roles finish in about a second.
fn options() -> TesterOptions {
    TesterOptions {
        per_call_timeout: Duration::from_secs(5),
        assume_role_retry_budget: Duration::from_secs(1),
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_millis(400),
        ..TesterOptions::new(stack().platform_principal_arn.clone())
    }
}

fn tester() -> AwsConnectionTester {
    AwsConnectionTester::new(&stack().platform_config(), options())
}

fn spec(mode: &str, role_arn: &str, bucket: &str, prefix: &str, region: &str) -> ConnectionSpec {
    let input = ConnectionInput {
        mode: Some(mode.to_owned()),
        role_arn: Some(role_arn.to_owned()),
        bucket: Some(bucket.to_owned()),
        prefix: Some(prefix.to_owned()),
        region: Some(region.to_owned()),
        kms_key_arn: None,
    };
    match ConnectionSpec::parse(&input) {
        Ok(spec) => spec,
        Err(errors) => panic!("invalid test endpoint {input:?}: {errors:?}"),
    }
}

fn request(spec: ConnectionSpec, external_id: &str) -> TestRequest {
    TestRequest {
        tenant: TenantId::parse("tenant-acme").unwrap(),
        endpoint_id: Some(EndpointId::parse("01JBQ4ZK3M5N6P7Q8R9S0T1V2W").unwrap()),
        spec,
        external_id: ExternalId::parse(external_id).unwrap(),
        deadline: DEADLINE,
    }
}

fn status(report: &TestReport, check: CheckName) -> CheckStatus {
    match report.check(check) {
        Some(result) => result.status,
        None => panic!("report has no {check:?} check: {report:#?}"),
    }
}

fn error_code(report: &TestReport, check: CheckName) -> Option<&str> {
    report.check(check)?.error_code.as_deref()
}

fn message(report: &TestReport, check: CheckName) -> &str {
    report
        .check(check)
        .and_then(|result| result.message.as_deref())
        .unwrap_or("")
}

fn hint(report: &TestReport, check: CheckName) -> &str {
    report
        .check(check)
        .and_then(|result| result.hint.as_deref())
        .unwrap_or("")
}

/// Asserts that `failed` is the first failed check with `code`, that every check before it
/// passed, and that every check after it was skipped.
fn assert_fails_at(report: &TestReport, failed: CheckName, code: &str) {
    assert!(!report.passed(), "test passed: {report:#?}");
    let failure = report.failure().expect("report names no failure");
    assert_eq!(failure.check, failed.as_str(), "{report:#?}");
    assert_eq!(failure.error_code.as_deref(), Some(code), "{report:#?}");

    let position = report
        .checks
        .iter()
        .position(|result| result.check == failed)
        .unwrap();
    for result in &report.checks[..position] {
        assert_eq!(result.status, CheckStatus::Passed, "{report:#?}");
    }
}

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

async fn reader_role(bucket: &CustomerBucket, prefix: &str) -> CustomerRole {
    create_customer_role(
        &bucket.account_id,
        &platform_trust_policy(EXTERNAL_ID),
        Some(&read_prefix_policy(bucket, prefix)),
    )
    .await
}

/// Returns the keys under `prefix` in `bucket`, listed with the bucket owner's admin user.
async fn keys_under(bucket: &CustomerBucket, prefix: &str) -> Vec<String> {
    let s3 = s3_client(&stack().admin_config_in(&bucket.account_id, &bucket.region));
    let output = s3
        .list_objects_v2()
        .bucket(&bucket.name)
        .prefix(prefix)
        .send()
        .await
        .expect("listing the bucket as its admin failed");
    output
        .contents()
        .iter()
        .filter_map(|object| object.key())
        .map(str::to_owned)
        .collect()
}

// Depends on the extension: HeadBucket returns the region on a 403 to the platform, whose
// policies grant no S3 access, and trust policies are evaluated across accounts.
#[tokio::test]
async fn read_only_endpoint_passes() {
    let customer = stack().customer_account_id();
    let bucket =
        create_customer_bucket(customer, "eu-west-1", &[("reports/2026-01.csv", b"a,b\n")]).await;
    let role = reader_role(&bucket, "reports/").await;
    let spec = spec("read_only", &role.arn, &bucket.name, "reports", "eu-west-1");

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert!(report.passed(), "{report:#?}");
    let names: Vec<CheckName> = report.checks.iter().map(|result| result.check).collect();
    assert_eq!(
        names,
        [
            CheckName::Region,
            CheckName::AssumeRole,
            CheckName::List,
            CheckName::Read
        ]
    );
    assert!(message(&report, CheckName::Region).contains("is in eu-west-1"));
    assert!(
        message(&report, CheckName::AssumeRole).contains("s3-endpoint-01JBQ4ZK3M5N6P7Q8R9S0T1V2W")
    );
    assert!(message(&report, CheckName::Read).contains("reports/2026-01.csv"));
}

// Depends on the extension for the region header and trust policy evaluation, as above.
// Scheduled revalidation tests many endpoints of one role at once with a shared credentials
// cache. If each test sent its own AssumeRole, a run would spend the account's STS quota.
#[tokio::test]
async fn concurrent_tests_of_one_role_assume_it_once() {
    let customer = stack().customer_account_id();
    let bucket =
        create_customer_bucket(customer, "eu-west-1", &[("reports/2026-01.csv", b"a,b\n")]).await;
    let role = reader_role(&bucket, "reports/").await;
    let spec = spec("read_only", &role.arn, &bucket.name, "reports", "eu-west-1");
    let cached = AwsConnectionTester::new(
        &stack().platform_config(),
        options().with_credentials_cache(),
    );
    let request = request(spec, EXTERNAL_ID);

    let reports = futures::future::join_all((0..8).map(|_| cached.test(&request))).await;

    for report in &reports {
        assert!(report.passed(), "{report:#?}");
    }
    let assumed = reports
        .iter()
        .filter(|report| message(report, CheckName::AssumeRole).starts_with("assumed "))
        .count();
    assert_eq!(assumed, 1, "{reports:#?}");
}

// Depends on the extension for the region header and trust policy evaluation, as above.
#[tokio::test]
async fn read_only_endpoint_with_empty_prefix_probes_read() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "us-east-1", &[]).await;
    let role = reader_role(&bucket, "").await;
    let spec = spec("read_only", &role.arn, &bucket.name, "", "us-east-1");

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert!(report.passed(), "{report:#?}");
    assert!(message(&report, CheckName::List).contains("none exist yet"));
    assert!(message(&report, CheckName::Read).contains("NoSuchKey"));
}

// Depends on the extension for the region header and trust policy evaluation.
#[tokio::test]
async fn read_write_endpoint_passes_and_cleans_up() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "us-east-1", &[]).await;
    let role = create_customer_role(
        customer,
        &platform_trust_policy(EXTERNAL_ID),
        Some(&read_write_policy(&bucket, "exports/")),
    )
    .await;
    let spec = spec(
        "read_write",
        &role.arn,
        &bucket.name,
        "exports",
        "us-east-1",
    );

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.checks.len(), 7);
    for check in [CheckName::Write, CheckName::ReadBack, CheckName::Delete] {
        assert_eq!(status(&report, check), CheckStatus::Passed, "{check:?}");
    }
    let written = message(&report, CheckName::Write);
    assert!(
        written.contains(&format!("exports/{TEST_OBJECT_FOLDER}")),
        "{written}"
    );
    let left = keys_under(&bucket, "exports/").await;
    assert!(left.is_empty(), "test objects left behind: {left:?}");
}

// Depends on the extension: stock moto does not check the External ID across accounts.
#[tokio::test]
async fn wrong_external_id_fails_assume_role() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "us-east-1", &[]).await;
    let role = reader_role(&bucket, "").await;
    let spec = spec("read_only", &role.arn, &bucket.name, "", "us-east-1");

    let report = tester()
        .test(&request(spec, "some-other-external-id"))
        .await;

    assert_fails_at(&report, CheckName::AssumeRole, "AccessDenied");
    let hint = hint(&report, CheckName::AssumeRole);
    assert!(hint.contains(&stack().platform_principal_arn), "{hint}");
    assert!(hint.contains("some-other-external-id"), "{hint}");
    // The denial is retried within the budget, because IAM applies new roles with a delay.
    assert!(message(&report, CheckName::AssumeRole).contains("attempts"));
    assert_eq!(status(&report, CheckName::List), CheckStatus::Skipped);
    assert_eq!(status(&report, CheckName::Read), CheckStatus::Skipped);
}

// Depends on the extension: stock moto skips trust policies of roles in other accounts.
#[tokio::test]
async fn trust_policy_naming_another_principal_fails() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "us-east-1", &[]).await;
    let other_principal = format!("arn:aws:iam::{}:root", stack().other_customer_account_id());
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": other_principal},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}
        }]
    });
    let role = create_customer_role(customer, &trust, Some(&read_prefix_policy(&bucket, ""))).await;
    let spec = spec("read_only", &role.arn, &bucket.name, "", "us-east-1");

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert_fails_at(&report, CheckName::AssumeRole, "AccessDenied");
    assert!(hint(&report, CheckName::AssumeRole).contains(&role.arn));
}

// Depends on the extension: stock moto lets a caller assume a role that does not exist.
#[tokio::test]
async fn missing_role_fails_assume_role() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "us-east-1", &[]).await;
    let role_arn = format!("arn:aws:iam::{customer}:role/{}", unique_name("missing"));
    let spec = spec("read_only", &role_arn, &bucket.name, "", "us-east-1");

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert_fails_at(&report, CheckName::AssumeRole, "AccessDenied");
    assert!(hint(&report, CheckName::AssumeRole).contains("role exists"));
}

// Depends on moto's IAM checks, with the extension's policy evaluation: the role may read and
// list but not put.
#[tokio::test]
async fn read_write_role_without_put_fails_write() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "us-east-1", &[]).await;
    let role = reader_role(&bucket, "exports/").await;
    let spec = spec(
        "read_write",
        &role.arn,
        &bucket.name,
        "exports",
        "us-east-1",
    );

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert_fails_at(&report, CheckName::Write, "AccessDenied");
    let hint = hint(&report, CheckName::Write);
    assert!(hint.contains("s3:PutObject"), "{hint}");
    assert!(
        hint.contains(&format!("{}/exports/*", bucket.arn())),
        "{hint}"
    );
    assert_eq!(status(&report, CheckName::ReadBack), CheckStatus::Skipped);
    assert_eq!(status(&report, CheckName::Delete), CheckStatus::Skipped);
}

// Depends on the extension: stock moto ignores the s3:prefix condition of the list grant.
#[tokio::test]
async fn prefix_outside_the_grant_fails_list() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "us-east-1", &[("other/file.csv", b"x")]).await;
    let role = reader_role(&bucket, "allowed/").await;
    let spec = spec("read_only", &role.arn, &bucket.name, "other", "us-east-1");

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert_fails_at(&report, CheckName::List, "AccessDenied");
    let hint = hint(&report, CheckName::List);
    assert!(hint.contains("s3:ListBucket"), "{hint}");
    assert!(
        hint.contains("s3:prefix [\"other/\", \"other/*\"]"),
        "{hint}"
    );
    assert_eq!(status(&report, CheckName::Read), CheckStatus::Skipped);
}

// Depends on the extension: moto ignores `x-amz-expected-bucket-owner`. The bucket is in
// another account than the role, as when a deleted bucket's name was taken by someone else,
// and its bucket policy grants the role everything it needs.
#[tokio::test]
async fn bucket_of_another_owner_fails_list() {
    let customer = stack().customer_account_id();
    let other = stack().other_customer_account_id();
    let bucket = create_customer_bucket(other, "us-east-1", &[("a.csv", b"a")]).await;
    let role = create_customer_role(
        customer,
        &platform_trust_policy(EXTERNAL_ID),
        Some(&read_prefix_policy(&bucket, "")),
    )
    .await;
    grant_bucket_to_role(&bucket, &role).await;
    let spec = spec("read_only", &role.arn, &bucket.name, "", "us-east-1");

    // The role can list the bucket when no owner is expected, so the denial below comes from
    // the owner check alone.
    let credentials = assume_role_as_platform(&role.arn, Some(EXTERNAL_ID))
        .await
        .expect("assuming the role directly failed");
    let config = stack().config_for(credentials, "us-east-1");
    let listed = s3_client(&config)
        .list_objects_v2()
        .bucket(&bucket.name)
        .send()
        .await;
    assert!(listed.is_ok(), "{listed:?}");

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert_fails_at(&report, CheckName::List, "AccessDenied");
    let hint = hint(&report, CheckName::List);
    assert!(
        hint.contains(&format!("owned by account {customer}")),
        "{hint}"
    );
}

async fn grant_bucket_to_role(bucket: &CustomerBucket, role: &CustomerRole) {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": role.arn},
            "Action": ["s3:ListBucket", "s3:GetObject"],
            "Resource": [bucket.arn(), format!("{}/*", bucket.arn())]
        }]
    });
    let s3 = s3_client(&stack().admin_config_in(&bucket.account_id, &bucket.region));
    s3.put_bucket_policy()
        .bucket(&bucket.name)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap_or_else(|error| panic!("putting the policy of {} failed: {error:?}", bucket.name));
}

// Depends on the extension: HeadBucket of a missing bucket returns 404 to any caller, as in
// AWS, where stock moto with IAM checks on denies the platform (403) first.
#[tokio::test]
async fn missing_bucket_fails_region() {
    let customer = stack().customer_account_id();
    let role_arn = format!("arn:aws:iam::{customer}:role/{}", unique_name("unused"));
    let spec = spec(
        "read_only",
        &role_arn,
        &unique_name("missing"),
        "",
        "us-east-1",
    );

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert_fails_at(&report, CheckName::Region, "NoSuchBucket");
    assert_eq!(status(&report, CheckName::AssumeRole), CheckStatus::Skipped);
}

// Depends on the extension: the 301 with `x-amz-bucket-region` for a client in another region.
#[tokio::test]
async fn wrong_region_fails_region() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "eu-west-1", &[]).await;
    let role = reader_role(&bucket, "").await;
    let spec = spec("read_only", &role.arn, &bucket.name, "", "us-east-1");

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert_fails_at(&report, CheckName::Region, "WrongRegion");
    assert_eq!(
        message(&report, CheckName::Region),
        "bucket is in eu-west-1, endpoint says us-east-1"
    );
    assert!(hint(&report, CheckName::Region).contains("region eu-west-1"));
    assert_eq!(status(&report, CheckName::AssumeRole), CheckStatus::Skipped);
}

// Depends on the extension for the region header and trust policy evaluation. On the local IP
// endpoint the SDK uses path-style requests for every bucket, so this proves that a dotted
// name passes every check, not that the tester picks path style for it.
#[tokio::test]
async fn dotted_bucket_name_passes() {
    let customer = stack().customer_account_id();
    let bucket = create_dotted_bucket(customer, "us-east-1").await;
    let role = create_customer_role(
        customer,
        &platform_trust_policy(EXTERNAL_ID),
        Some(&read_write_policy(&bucket, "")),
    )
    .await;
    let spec = spec("read_write", &role.arn, &bucket.name, "", "us-east-1");

    let report = tester().test(&request(spec, EXTERNAL_ID)).await;

    assert!(report.passed(), "{report:#?}");
    assert!(keys_under(&bucket, "").await.is_empty());
}

async fn create_dotted_bucket(account_id: &str, region: &str) -> CustomerBucket {
    let name = format!("dotted.{}", unique_name("bucket"));
    let s3 = s3_client(&stack().admin_config_in(account_id, region));
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap_or_else(|error| panic!("creating bucket {name} failed: {error:?}"));
    CustomerBucket {
        account_id: account_id.to_owned(),
        name,
        region: region.to_owned(),
    }
}

// --- Servers that stop responding --------------------------------------------------------

/// Endpoint URLs of a test: S3 and STS each at their own URL, and moto for the rest.
#[derive(Debug, Clone)]
struct Endpoints {
    s3: String,
    sts: String,
    other: String,
}

impl LoadServiceConfig for Endpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        let url = match key.service_id() {
            "S3" => &self.s3,
            "STS" => &self.sts,
            _ => &self.other,
        };
        Some(url.clone())
    }
}

/// Returns the platform's configuration with S3 and STS sent to the given URLs.
fn platform_config_with(s3: &str, sts: &str) -> SdkConfig {
    let endpoints = Endpoints {
        s3: s3.to_owned(),
        sts: sts.to_owned(),
        other: stack().moto_endpoint().to_owned(),
    };
    stack()
        .platform_config()
        .to_builder()
        .endpoint_url(stack().moto_endpoint())
        .service_config(endpoints)
        .build()
}

fn moto_address() -> SocketAddr {
    let endpoint = stack().moto_endpoint();
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
    address
        .parse()
        .unwrap_or_else(|_| panic!("moto endpoint {endpoint} is not http://<ip>:<port>"))
}

/// Starts a listener on 127.0.0.1 that accepts connections and never reads or responds.
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    (url, task)
}

/// Starts a TCP proxy on 127.0.0.1 to moto. Once `cut` turns true, it closes every open
/// connection and each new one right after accepting it. When `on_accept` is given, the proxy
/// sets it to true on its first connection.
async fn proxy_to_moto(
    cut: watch::Receiver<bool>,
    on_accept: Option<watch::Sender<bool>>,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            if let Some(sender) = &on_accept {
                sender.send_replace(true);
            }
            if *cut.borrow() {
                drop(inbound);
                continue;
            }
            tokio::spawn(forward(inbound, cut.clone()));
        }
    });
    (url, task)
}

async fn forward(mut inbound: TcpStream, mut cut: watch::Receiver<bool>) {
    let Ok(mut outbound) = TcpStream::connect(moto_address()).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}

// Depends on no extension behaviour, because the region check passes on a bare 403 too. STS
// never responds, and the deadline of 2 s is shorter than the 5-second call timeout, so the
// deadline ends the call.
#[tokio::test]
async fn silent_sts_times_out_within_deadline() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "us-east-1", &[]).await;
    let role = reader_role(&bucket, "").await;
    let (sts_url, server) = silent_server().await;
    let config = platform_config_with(stack().moto_endpoint(), &sts_url);
    let tester = AwsConnectionTester::new(&config, options());
    let mut request = request(
        spec("read_only", &role.arn, &bucket.name, "", "us-east-1"),
        EXTERNAL_ID,
    );
    request.deadline = Duration::from_secs(2);

    let started = Instant::now();
    let report = tester.test(&request).await;
    let elapsed = started.elapsed();
    server.abort();

    assert!(elapsed < Duration::from_millis(2_500), "took {elapsed:?}");
    assert_fails_at(&report, CheckName::AssumeRole, "Timeout");
    assert_eq!(status(&report, CheckName::List), CheckStatus::Skipped);
    assert_eq!(
        error_code(&report, CheckName::List),
        None,
        "list is skipped for the failed assume_role, not for the deadline"
    );
}

// Depends on the extension for the region header and trust policy evaluation. S3 works for the
// region check and goes away when the tester first connects to STS, so the list check is the
// first to meet the closed connections.
#[tokio::test]
async fn s3_stopping_mid_test_fails_list() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "us-east-1", &[]).await;
    let role = reader_role(&bucket, "").await;
    let (cut_s3, s3_cut) = watch::channel(false);
    let (_never, sts_cut) = watch::channel(false);
    let (s3_url, s3_proxy) = proxy_to_moto(s3_cut, None).await;
    let (sts_url, sts_proxy) = proxy_to_moto(sts_cut, Some(cut_s3)).await;
    let tester = AwsConnectionTester::new(&platform_config_with(&s3_url, &sts_url), options());
    let request = request(
        spec("read_only", &role.arn, &bucket.name, "", "us-east-1"),
        EXTERNAL_ID,
    );

    let started = Instant::now();
    let report = tester.test(&request).await;
    let elapsed = started.elapsed();
    s3_proxy.abort();
    sts_proxy.abort();

    assert!(elapsed < DEADLINE, "took {elapsed:?}");
    assert_fails_at(&report, CheckName::List, "ConnectionError");
    assert_eq!(status(&report, CheckName::Read), CheckStatus::Skipped);
}

// Depends on no extension behaviour: nothing listens on the S3 port, so the first call fails.
#[tokio::test]
async fn refused_s3_connection_fails_region() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let config = platform_config_with(&closed_url, stack().moto_endpoint());
    let tester = AwsConnectionTester::new(&config, options());
    let customer = stack().customer_account_id();
    let role_arn = format!("arn:aws:iam::{customer}:role/unused");
    let request = request(
        spec("read_only", &role_arn, "acme-unreachable", "", "us-east-1"),
        EXTERNAL_ID,
    );

    let report = tester.test(&request).await;

    assert_fails_at(&report, CheckName::Region, "ConnectionError");
    assert!(hint(&report, CheckName::Region).contains("run the test again"));
}

// Depends on the extension for trust policy evaluation: the second test of a role reuses the
// credentials of the first, which the cache keeps by role and External ID.
#[tokio::test]
async fn credentials_cache_reuses_assumed_role() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "us-east-1", &[]).await;
    let role = reader_role(&bucket, "").await;
    let tester = AwsConnectionTester::new(
        &stack().platform_config(),
        options().with_credentials_cache(),
    );
    let request = request(
        spec("read_only", &role.arn, &bucket.name, "", "us-east-1"),
        EXTERNAL_ID,
    );

    let first = tester.test(&request).await;
    let second = tester.test(&request).await;

    assert!(first.passed(), "{first:#?}");
    assert!(second.passed(), "{second:#?}");
    assert!(message(&first, CheckName::AssumeRole).starts_with("assumed"));
    assert!(message(&second, CheckName::AssumeRole).contains("reused"));
    let cache = tester.options().credentials_cache.as_ref().unwrap();
    assert_eq!(cache.len(), 1);
}
