//! Behaviour of the rendered policies, template and CLI commands, checked on their content
//! rather than on snapshots.

mod policy_cases;

use endpoint_core::domain::ExternalId;
use endpoint_core::policy::{
    render, PlatformIdentity, PolicyBundle, PolicyDocument, PolicyError, PolicyInput,
    PolicyRequest, MAX_INLINE_POLICIES_CHARS, MAX_TRUST_POLICY_CHARS,
};
use policy_cases::{kms_key_arn, platform, BUCKET, EXTERNAL_ID, PREFIX};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;

fn request(mode: &str, prefix: &str, region: &str, kms_key_arn: Option<String>) -> PolicyRequest {
    PolicyRequest::parse(&PolicyInput {
        mode: Some(mode.to_owned()),
        bucket: Some(BUCKET.to_owned()),
        prefix: Some(prefix.to_owned()),
        region: Some(region.to_owned()),
        kms_key_arn,
    })
    .unwrap()
}

fn external_id() -> ExternalId {
    ExternalId::parse(EXTERNAL_ID).unwrap()
}

fn render_aws(mode: &str, prefix: &str, with_key: bool) -> PolicyBundle {
    let key = with_key.then(|| kms_key_arn("aws", "eu-west-1"));
    render(
        &request(mode, prefix, "eu-west-1", key),
        &platform("aws"),
        &external_id(),
    )
    .unwrap()
}

fn to_value(document: &PolicyDocument) -> Value {
    serde_json::to_value(document).unwrap()
}

/// Returns each statement of a permissions policy by Sid.
fn statement<'a>(policy: &'a Value, sid: &str) -> &'a Value {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|statement| statement["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid} in {policy}"))
}

/// Collects every action the policy allows, across statements.
fn allowed_actions(policy: &Value) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        match &statement["Action"] {
            Value::String(action) => {
                actions.insert(action.clone());
            }
            Value::Array(list) => {
                actions.extend(list.iter().map(|a| a.as_str().unwrap().to_owned()));
            }
            other => panic!("unexpected Action {other}"),
        }
    }
    actions
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[test]
fn trust_policy_allows_only_platform_with_external_id() {
    let bundle = render_aws("read_only", PREFIX, false);
    let trust = to_value(&bundle.trust_policy);
    assert_eq!(
        trust,
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "TrustPlatformWithExternalId",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:role/PlatformConnector"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}
            }]
        })
    );
}

#[test]
fn read_only_lists_and_reads_under_prefix() {
    let policy = to_value(&render_aws("read_only", PREFIX, false).permissions_policy);
    assert_eq!(policy["Version"], "2012-10-17");
    assert_eq!(
        allowed_actions(&policy),
        set(&["s3:GetObject", "s3:ListBucket"])
    );

    let list = statement(&policy, "ListBucket");
    assert_eq!(list["Resource"], "arn:aws:s3:::acme-billing");
    assert_eq!(
        list["Condition"],
        json!({"StringLike": {"s3:prefix": ["exports/daily/", "exports/daily/*"]}})
    );
    let read = statement(&policy, "ReadObjects");
    assert_eq!(
        read["Resource"],
        "arn:aws:s3:::acme-billing/exports/daily/*"
    );
}

#[test]
fn read_write_adds_writes_under_prefix() {
    let policy = to_value(&render_aws("read_write", PREFIX, false).permissions_policy);
    assert_eq!(
        allowed_actions(&policy),
        set(&[
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:ListBucketMultipartUploads",
            "s3:ListMultipartUploadParts",
            "s3:PutObject",
        ])
    );

    let write = statement(&policy, "WriteObjects");
    assert_eq!(
        write["Resource"],
        "arn:aws:s3:::acme-billing/exports/daily/*"
    );
    let uploads = statement(&policy, "ListMultipartUploads");
    assert_eq!(uploads["Resource"], "arn:aws:s3:::acme-billing");
    assert!(uploads.get("Condition").is_none());
}

#[test]
fn whole_bucket_has_no_prefix_condition() {
    for mode in ["read_only", "read_write"] {
        let policy = to_value(&render_aws(mode, "", false).permissions_policy);
        let list = statement(&policy, "ListBucket");
        assert!(list.get("Condition").is_none(), "{mode}: {list}");
        let read = statement(&policy, "ReadObjects");
        assert_eq!(read["Resource"], "arn:aws:s3:::acme-billing/*", "{mode}");
    }
}

#[test]
fn kms_key_allows_decrypt_for_reads() {
    let policy = to_value(&render_aws("read_only", PREFIX, true).permissions_policy);
    let kms = statement(&policy, "UseBucketKmsKey");
    assert_eq!(kms["Action"], "kms:Decrypt");
    assert_eq!(kms["Resource"], kms_key_arn("aws", "eu-west-1"));
    assert_eq!(
        kms["Condition"],
        json!({"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}})
    );
}

#[test]
fn kms_key_allows_data_keys_for_writes() {
    let policy = to_value(&render_aws("read_write", PREFIX, true).permissions_policy);
    let kms = statement(&policy, "UseBucketKmsKey");
    assert_eq!(kms["Action"], json!(["kms:Decrypt", "kms:GenerateDataKey"]));
}

#[test]
fn policies_use_the_region_partition() {
    let cases = [
        (
            "aws-cn",
            "cn-northwest-1",
            "s3.cn-northwest-1.amazonaws.com.cn",
        ),
        (
            "aws-us-gov",
            "us-gov-east-1",
            "s3.us-gov-east-1.amazonaws.com",
        ),
    ];
    for (partition, region, s3_endpoint) in cases {
        let key = kms_key_arn(partition, region);
        let bundle = render(
            &request("read_write", PREFIX, region, Some(key)),
            &platform(partition),
            &external_id(),
        )
        .unwrap();
        let policy = to_value(&bundle.permissions_policy);

        let bucket_arn = format!("arn:{partition}:s3:::acme-billing");
        assert_eq!(statement(&policy, "ListBucket")["Resource"], bucket_arn);
        assert_eq!(
            statement(&policy, "WriteObjects")["Resource"],
            format!("{bucket_arn}/exports/daily/*")
        );
        assert_eq!(
            statement(&policy, "UseBucketKmsKey")["Condition"]["StringEquals"]["kms:ViaService"],
            s3_endpoint
        );
        assert!(bundle.cli_commands[0].contains(&format!("--region {region}")));
    }
}

#[test]
fn render_rejects_principal_in_another_partition() {
    let error = render(
        &request("read_only", PREFIX, "cn-north-1", None),
        &platform("aws"),
        &external_id(),
    )
    .unwrap_err();
    assert!(
        matches!(error, PolicyError::PartitionMismatch { .. }),
        "{error}"
    );
    assert_eq!(error.field(), Some("region"));
}

#[test]
fn render_is_byte_identical_across_calls() {
    for case in policy_cases::all_cases() {
        let first = render(&case.request, &case.platform, &case.external_id).unwrap();
        let second = render(&case.request, &case.platform, &case.external_id).unwrap();
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&second).unwrap(),
            "{}",
            case.name
        );
    }
}

#[test]
fn longest_prefix_fits_inline_policy_quota() {
    // The maximum-length prefix that Prefix::parse accepts, with a key, in the mode with the
    // most statements.
    let longest = format!(
        "{}/",
        "a".repeat(endpoint_core::domain::MAX_PREFIX_BYTES - 1)
    );
    let bundle = render_aws("read_write", &longest, true);
    let size = bundle.permissions_policy.quota_size().unwrap();
    assert!(size <= MAX_INLINE_POLICIES_CHARS, "{size}");
}

#[test]
fn longest_principal_and_external_id_fit_trust_quota() {
    // The maximum-length role path (512 characters with its slashes), role name and External ID
    // that the parsers accept, in the partition with the longest name.
    let principal = format!(
        "arn:aws-us-gov:iam::111122223333:role/{}/{}",
        "p".repeat(510),
        "r".repeat(64)
    );
    let platform = PlatformIdentity::new(&principal, "Acme").unwrap();
    let external_id = ExternalId::parse(&"x".repeat(1_224)).unwrap();

    let bundle = render(
        &request("read_only", PREFIX, "us-gov-west-1", None),
        &platform,
        &external_id,
    )
    .unwrap();
    let size = bundle.trust_policy.quota_size().unwrap();
    assert!(size <= MAX_TRUST_POLICY_CHARS, "{size}");
}

#[test]
fn template_contains_both_policies() {
    for case in policy_cases::all_cases() {
        let bundle = render(&case.request, &case.platform, &case.external_id).unwrap();
        let template: Value = serde_json::from_str(&bundle.cloudformation).unwrap();
        let properties = &template["Resources"]["EndpointRole"]["Properties"];

        assert_eq!(template["AWSTemplateFormatVersion"], "2010-09-09");
        assert_eq!(properties["RoleName"], bundle.role_name.as_str());
        assert_eq!(
            properties["AssumeRolePolicyDocument"],
            to_value(&bundle.trust_policy),
            "{}",
            case.name
        );
        let inline = &properties["Policies"][0];
        assert_eq!(inline["PolicyName"], bundle.policy_name.as_str());
        assert_eq!(
            inline["PolicyDocument"],
            to_value(&bundle.permissions_policy),
            "{}",
            case.name
        );
    }
}

/// The arguments the CLI commands should pass, in order.
fn expected_arguments(bundle: &PolicyBundle, region: &str) -> [Vec<String>; 2] {
    let description = if bundle.role_name.ends_with("ReadOnly-Role") {
        "Lets Acme read objects in the S3 bucket acme-billing"
    } else {
        "Lets Acme read and write objects in the S3 bucket acme-billing"
    };
    let create_role = [
        "aws",
        "iam",
        "create-role",
        "--region",
        region,
        "--role-name",
        &bundle.role_name,
        "--description",
        description,
        "--assume-role-policy-document",
        &bundle.trust_policy.to_json().unwrap(),
    ];
    let put_role_policy = [
        "aws",
        "iam",
        "put-role-policy",
        "--region",
        region,
        "--role-name",
        &bundle.role_name,
        "--policy-name",
        &bundle.policy_name,
        "--policy-document",
        &bundle.permissions_policy.to_json().unwrap(),
    ];
    [
        create_role.iter().map(|s| (*s).to_owned()).collect(),
        put_role_policy.iter().map(|s| (*s).to_owned()).collect(),
    ]
}

#[test]
fn cli_commands_split_back_into_the_policies() {
    for case in policy_cases::all_cases() {
        let bundle = render(&case.request, &case.platform, &case.external_id).unwrap();
        let expected = expected_arguments(&bundle, case.request.region.as_str());
        assert_eq!(bundle.cli_commands.len(), 2);

        for (command, expected) in bundle.cli_commands.iter().zip(&expected) {
            let words = shell_words::split(command).unwrap();
            assert_eq!(&words, expected, "{}", case.name);
        }

        let create_role = shell_words::split(&bundle.cli_commands[0]).unwrap();
        let trust: Value = serde_json::from_str(create_role.last().unwrap()).unwrap();
        assert_eq!(trust, to_value(&bundle.trust_policy), "{}", case.name);
        let put_role_policy = shell_words::split(&bundle.cli_commands[1]).unwrap();
        let permissions: Value = serde_json::from_str(put_role_policy.last().unwrap()).unwrap();
        assert_eq!(
            permissions,
            to_value(&bundle.permissions_policy),
            "{}",
            case.name
        );
    }
}

/// Runs `command` in `/bin/sh` with `aws` defined as a function that prints each argument
/// followed by a NUL byte, and returns the arguments.
fn shell_arguments(command: &str) -> Vec<String> {
    let script = format!(
        "aws() {{ for arg in aws \"$@\"; do printf '%s\\0' \"$arg\"; done; }}\n{command}\n"
    );
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    text.split_terminator('\0').map(str::to_owned).collect()
}

#[test]
fn cli_commands_run_in_a_posix_shell() {
    for case in policy_cases::unusual_prefix_cases() {
        let bundle = render(&case.request, &case.platform, &case.external_id).unwrap();
        let expected = expected_arguments(&bundle, case.request.region.as_str());
        for (command, expected) in bundle.cli_commands.iter().zip(&expected) {
            assert_eq!(&shell_arguments(command), expected, "{}", case.name);
        }
    }
}

proptest! {
    /// Whatever prefix parses, the only `*` in the permissions policy is the one the renderer
    /// appends at the end of a value, and no `?` or `${` appears at all.
    #[test]
    fn rendered_policy_has_no_wildcards_from_input(raw in "[a-z/ *?${}'\"\\\\.é]{0,24}") {
        let Ok(request) = PolicyRequest::parse(&PolicyInput {
            mode: Some("read_write".to_owned()),
            bucket: Some(BUCKET.to_owned()),
            prefix: Some(raw.clone()),
            region: Some("eu-west-1".to_owned()),
            kms_key_arn: None,
        }) else {
            return Ok(());
        };
        let bundle = render(&request, &platform("aws"), &external_id()).unwrap();
        let json = bundle.permissions_policy.to_json().unwrap();

        prop_assert!(!json.replace("*\"", "").contains('*'), "{raw:?}: {json}");
        prop_assert!(!json.contains('?'), "{raw:?}: {json}");
        prop_assert!(!json.contains("${"), "{raw:?}: {json}");
    }
}
