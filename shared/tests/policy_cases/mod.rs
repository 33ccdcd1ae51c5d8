//! Policy requests rendered by the snapshot tests and by the `render_policy_cases` example,
//! which writes them out for the IAM and CloudFormation linters.

// Each test crate and the example include this module and use a different part of it.
#![allow(dead_code)]

use endpoint_core::domain::ExternalId;
use endpoint_core::policy::{PlatformIdentity, PolicyInput, PolicyRequest};

pub const BUCKET: &str = "acme-billing";
pub const PREFIX: &str = "exports/daily/";
pub const EXTERNAL_ID: &str = "tenant-7Qm2xVb9KpL4sNc8RtY3wHd6";
pub const PLATFORM_NAME: &str = "Acme";

/// Prefixes that need careful quoting in JSON and in a shell: spaces, both quote characters,
/// shell metacharacters, a backslash and non-ASCII letters.
pub const UNUSUAL_PREFIXES: &[(&str, &str)] = &[
    ("spaces_and_quote", "Kosten 2026/O'Brien & Co/"),
    ("shell_characters", "it's \"quoted\"/$HOME `date` \\ ;|<>/"),
    ("non_ascii", "報告/données/Ärger/"),
];

/// One request to render, with the platform and External ID to render it for.
pub struct PolicyCase {
    pub name: String,
    pub request: PolicyRequest,
    pub platform: PlatformIdentity,
    pub external_id: ExternalId,
}

/// A representative region of each partition.
const PARTITION_REGIONS: &[(&str, &str)] = &[
    ("aws", "eu-west-1"),
    ("aws-cn", "cn-north-1"),
    ("aws-us-gov", "us-gov-west-1"),
];

/// Returns a case for every mode, with and without a prefix and a KMS key, in each partition.
pub fn snapshot_cases() -> Vec<PolicyCase> {
    let mut cases = Vec::new();
    for (partition, region) in PARTITION_REGIONS {
        for mode in ["read_only", "read_write"] {
            for (scope, prefix) in [("whole_bucket", ""), ("prefix", PREFIX)] {
                for with_key in [false, true] {
                    let encryption = if with_key { "kms" } else { "sse_s3" };
                    cases.push(case(
                        format!("{partition}_{mode}_{scope}_{encryption}"),
                        mode,
                        prefix,
                        partition,
                        region,
                        with_key,
                    ));
                }
            }
        }
    }
    cases
}

/// Returns a case for both modes with each of [`UNUSUAL_PREFIXES`], with a KMS key, in the aws
/// partition.
pub fn unusual_prefix_cases() -> Vec<PolicyCase> {
    let mut cases = Vec::new();
    for (label, prefix) in UNUSUAL_PREFIXES {
        for mode in ["read_only", "read_write"] {
            cases.push(case(
                format!("aws_{mode}_{label}"),
                mode,
                prefix,
                "aws",
                "eu-west-1",
                true,
            ));
        }
    }
    cases
}

pub fn all_cases() -> Vec<PolicyCase> {
    let mut cases = snapshot_cases();
    cases.extend(unusual_prefix_cases());
    cases
}

pub fn platform(partition: &str) -> PlatformIdentity {
    let principal = format!("arn:{partition}:iam::111122223333:role/PlatformConnector");
    PlatformIdentity::new(&principal, PLATFORM_NAME).expect("test platform is valid")
}

pub fn kms_key_arn(partition: &str, region: &str) -> String {
    format!("arn:{partition}:kms:{region}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
}

fn case(
    name: String,
    mode: &str,
    prefix: &str,
    partition: &str,
    region: &str,
    with_key: bool,
) -> PolicyCase {
    let input = PolicyInput {
        mode: Some(mode.to_owned()),
        bucket: Some(BUCKET.to_owned()),
        prefix: Some(prefix.to_owned()),
        region: Some(region.to_owned()),
        kms_key_arn: with_key.then(|| kms_key_arn(partition, region)),
    };
    PolicyCase {
        request: PolicyRequest::parse(&input).expect("test request is valid"),
        platform: platform(partition),
        external_id: ExternalId::parse(EXTERNAL_ID).expect("test External ID is valid"),
        name,
    }
}
