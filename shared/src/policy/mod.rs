//! IAM policies for a customer's role, and the CloudFormation template and AWS CLI commands
//! that create it.
//!
//! [`render`] builds the trust policy, which lets only the platform principal assume the role
//! and only with the tenant's External ID, and the permissions policy, which allows the
//! endpoint's mode on its bucket and prefix and nothing else. Output is deterministic: the
//! same input renders byte-identical JSON.

mod cli;
mod cloudformation;
mod document;
mod error;
mod input;
mod permissions;
mod platform;
mod trust;

pub use document::{
    ConditionValues, Conditions, PolicyDocument, Principal, Statement, POLICY_VERSION,
};
pub use error::{PlatformConfigError, PolicyError};
pub use input::{PolicyInput, PolicyRequest};
pub use platform::{PlatformIdentity, MAX_PLATFORM_NAME_LEN};

use crate::domain::{AccessMode, BucketName, ExternalId, Prefix};
use cloudformation::RoleDefinition;
use serde::Serialize;

/// IAM's default quota for a role trust policy, in characters. An account can raise it to
/// 4,096, but the platform cannot see the customer's quota, so it assumes the default.
pub const MAX_TRUST_POLICY_CHARS: usize = 2_048;

/// IAM's quota for all inline policies of one role together, in characters. The rendered role
/// has one inline policy, so a customer who adds others to the same role shares this budget.
pub const MAX_INLINE_POLICIES_CHARS: usize = 10_240;

/// Everything a customer needs to create the role: both policies, suggested names and two
/// ready-made ways to create it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyBundle {
    pub role_name: String,
    pub policy_name: String,
    pub trust_policy: PolicyDocument,
    pub permissions_policy: PolicyDocument,
    /// A CloudFormation template in JSON that creates the role with both policies.
    pub cloudformation: String,
    /// `aws iam create-role` and `aws iam put-role-policy`, quoted for a POSIX shell.
    pub cli_commands: Vec<String>,
}

/// Renders the policies, template and CLI commands for `request`.
///
/// Fails when the platform principal is in another partition than the bucket, when a policy
/// would exceed an IAM size quota, or, as a second line of defence behind [`Prefix::parse`],
/// when the prefix contains a wildcard or policy variable.
pub fn render(
    request: &PolicyRequest,
    platform: &PlatformIdentity,
    external_id: &ExternalId,
) -> Result<PolicyBundle, PolicyError> {
    check_partition(request, platform)?;
    check_no_wildcards(Prefix::FIELD, request.prefix.as_str())?;
    check_no_wildcards(BucketName::FIELD, request.bucket.as_str())?;

    let trust_policy = trust::trust_policy(platform, external_id);
    let permissions_policy = permissions::permissions_policy(request);
    check_sizes(
        &trust_policy,
        &permissions_policy,
        MAX_TRUST_POLICY_CHARS,
        MAX_INLINE_POLICIES_CHARS,
    )?;

    let role_name = platform.role_name(request.mode);
    let policy_name = platform.policy_name();
    let description = role_description(request, platform);
    let role = RoleDefinition {
        role_name: &role_name,
        description: &description,
        policy_name: &policy_name,
        trust_policy: &trust_policy,
        permissions_policy: &permissions_policy,
    };
    let cloudformation =
        cloudformation::template(&role).map_err(|source| PolicyError::Serialize {
            document: "CloudFormation template",
            source,
        })?;
    let cli_commands =
        cli::commands(&role, request.region).map_err(|source| PolicyError::Serialize {
            document: "AWS CLI commands",
            source,
        })?;

    Ok(PolicyBundle {
        role_name,
        policy_name,
        trust_policy,
        permissions_policy,
        cloudformation,
        cli_commands,
    })
}

/// Rejects a bucket in another partition than the platform principal, because a role can
/// trust only principals of its own partition.
fn check_partition(
    request: &PolicyRequest,
    platform: &PlatformIdentity,
) -> Result<(), PolicyError> {
    let region_partition = request.region.partition();
    if region_partition == platform.partition() {
        return Ok(());
    }
    Err(PolicyError::PartitionMismatch {
        region: request.region,
        region_partition,
        principal_partition: platform.partition(),
    })
}

/// Checks both documents against IAM's quotas, naming the request field that can make each
/// one grow: the External ID in the trust policy and the prefix in the permissions policy.
///
/// NOTE: with the current parsers neither quota can be reached. The maximum-length External
/// ID (1,224 characters) and principal ARN render a trust policy of 2,030 characters, and the
/// maximum-length prefix (960 bytes) and bucket name a permissions policy under 5,000. The
/// checks stay so that a change to either parser cannot produce a policy that IAM rejects.
fn check_sizes(
    trust_policy: &PolicyDocument,
    permissions_policy: &PolicyDocument,
    trust_limit: usize,
    inline_limit: usize,
) -> Result<(), PolicyError> {
    trust_policy.check_size("trust policy", ExternalId::FIELD, trust_limit)?;
    permissions_policy.check_size("permissions policy", Prefix::FIELD, inline_limit)
}

/// Rejects `*` and `?`, which IAM matches as wildcards in resources and `StringLike`
/// conditions, and `${`, which starts a policy variable.
fn check_no_wildcards(field: &'static str, value: &str) -> Result<(), PolicyError> {
    let found = ["*", "?", "${"]
        .into_iter()
        .find(|pattern| value.contains(pattern));
    match found {
        Some(found) => Err(PolicyError::UnsafeValue {
            field,
            value: value.to_owned(),
            found,
        }),
        None => Ok(()),
    }
}

/// Describes the role without the prefix, because IAM role descriptions allow only Latin-1
/// characters and a prefix may contain others.
fn role_description(request: &PolicyRequest, platform: &PlatformIdentity) -> String {
    let access = match request.mode {
        AccessMode::ReadOnly => "read objects in",
        AccessMode::ReadWrite => "read and write objects in",
    };
    format!(
        "Lets {} {access} the S3 bucket {}",
        platform.platform_name(),
        request.bucket
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Region;

    fn documents() -> (PolicyDocument, PolicyDocument) {
        let platform = PlatformIdentity::new("arn:aws:iam::111122223333:root", "Acme").unwrap();
        let external_id = ExternalId::parse("tenant-external-id").unwrap();
        let request = PolicyRequest {
            mode: AccessMode::ReadWrite,
            bucket: BucketName::parse("acme-billing").unwrap(),
            prefix: Prefix::parse("exports/").unwrap(),
            region: Region::parse("eu-west-1").unwrap(),
            kms_key_arn: None,
        };
        (
            trust::trust_policy(&platform, &external_id),
            permissions::permissions_policy(&request),
        )
    }

    #[test]
    fn size_check_names_external_id_for_trust_policy() {
        let (trust, permissions) = documents();
        let error = check_sizes(&trust, &permissions, 100, MAX_INLINE_POLICIES_CHARS).unwrap_err();
        assert_eq!(error.field(), Some("external_id"));
        assert!(error.to_string().contains("trust policy"), "{error}");
        assert!(error.to_string().contains("limit of 100"), "{error}");
    }

    #[test]
    fn size_check_names_prefix_for_permissions_policy() {
        let (trust, permissions) = documents();
        let error = check_sizes(&trust, &permissions, MAX_TRUST_POLICY_CHARS, 100).unwrap_err();
        assert_eq!(error.field(), Some("prefix"));
        assert!(error.to_string().contains("permissions policy"), "{error}");
        assert!(check_sizes(
            &trust,
            &permissions,
            MAX_TRUST_POLICY_CHARS,
            MAX_INLINE_POLICIES_CHARS
        )
        .is_ok());
    }

    #[test]
    fn wildcard_check_rejects_each_pattern() {
        for value in ["logs/*", "a?b/", "${aws:username}/"] {
            let error = check_no_wildcards(Prefix::FIELD, value).unwrap_err();
            assert_eq!(error.field(), Some("prefix"), "{value}");
        }
        assert!(check_no_wildcards(Prefix::FIELD, "a$b/{c}/").is_ok());
    }
}
