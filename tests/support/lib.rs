//! Support library for the integration tests in `tests/`.
//!
//! The tests run against the local AWS stack that `scripts/test.sh` starts: DynamoDB Local,
//! and moto for S3, STS, IAM and EventBridge, both on 127.0.0.1. [`stack()`] reads its
//! endpoints and seeded identities from the environment, and builds SDK configurations for
//! the admin user of each account and for the platform principal. The fixtures create
//! customer buckets, objects and roles under unique names, so tests can run in parallel.

pub mod api_server;
pub mod cli;
mod fixtures;
mod stack;
pub mod walkthrough;

pub use fixtures::{
    assume_role_as_platform, create_customer_bucket, create_customer_role, platform_trust_policy,
    read_prefix_policy, CustomerBucket, CustomerRole,
};
pub use stack::{
    dynamodb_client, eventbridge_client, iam_client, s3_client, stack, sts_client, Stack,
    DEFAULT_REGION,
};

/// Maximum length of a name from [`unique_name`]: the limit of S3 bucket names, which is also
/// below IAM's 64-character limit for role names.
pub const MAX_UNIQUE_NAME_LEN: usize = 63;

/// Returns `prefix` followed by a ULID in lower case, which is a valid S3 bucket name, IAM
/// role name and DynamoDB table name when `prefix` is made of lower-case letters, digits and
/// hyphens.
///
/// ULIDs carry 80 random bits, so parallel tests, in one process or several, do not collide.
/// The prefix is cut so that the name fits [`MAX_UNIQUE_NAME_LEN`].
pub fn unique_name(prefix: &str) -> String {
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let max_prefix_len = MAX_UNIQUE_NAME_LEN - id.len() - 1;
    let prefix: String = prefix.chars().take(max_prefix_len).collect();
    format!("{prefix}-{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_name_differs_each_call() {
        assert_ne!(unique_name("bucket"), unique_name("bucket"));
    }

    #[test]
    fn unique_name_fits_bucket_rules() {
        let name = unique_name(&"long-prefix".repeat(10));

        assert!(name.len() <= MAX_UNIQUE_NAME_LEN, "{name} is too long");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name} has characters that S3 rejects"
        );
    }
}
