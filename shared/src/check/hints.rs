//! The calls a connection test makes, and the hints that tell a customer what to change when
//! one of them fails.

use crate::domain::{ConnectionSpec, ExternalId};

pub(crate) const TRANSPORT: &str = "The platform could not complete the request to AWS, which the endpoint's configuration does not cause; run the test again in a few minutes.";

pub(crate) const THROTTLING: &str = "AWS throttled the requests; run the test again in a minute.";

pub(crate) const INVALID_CREDENTIALS: &str = "AWS rejected the credentials the platform signed the request with, which the endpoint's configuration does not cause; run the test again in a few minutes.";

/// One AWS call of a connection test, with what the customer's policies must allow for it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call<'a> {
    AssumeRole(AssumeRoleCall<'a>),
    S3(S3Call<'a>),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct AssumeRoleCall<'a> {
    pub spec: &'a ConnectionSpec,
    /// The principal the role's trust policy must name.
    pub platform_principal_arn: &'a str,
    pub external_id: &'a ExternalId,
}

/// The resource an S3 request acts on: the bucket itself or objects under the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Bucket,
    Objects,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct S3Call<'a> {
    pub spec: &'a ConnectionSpec,
    /// The S3 API operation, such as `ListObjectsV2`.
    pub operation: &'static str,
    /// The IAM action that authorizes the operation.
    pub action: &'static str,
    pub target: Target,
    /// The KMS action the operation needs when objects are encrypted with SSE-KMS.
    pub kms_action: Option<&'static str>,
}

impl<'a> S3Call<'a> {
    /// Describes HeadBucket, which S3 authorizes as s3:ListBucket.
    pub fn head_bucket(spec: &'a ConnectionSpec) -> Self {
        Self::on(spec, "HeadBucket", "s3:ListBucket", Target::Bucket, None)
    }

    pub fn list(spec: &'a ConnectionSpec) -> Self {
        Self::on(spec, "ListObjectsV2", "s3:ListBucket", Target::Bucket, None)
    }

    pub fn read(spec: &'a ConnectionSpec) -> Self {
        Self::on(
            spec,
            "GetObject",
            "s3:GetObject",
            Target::Objects,
            Some("kms:Decrypt"),
        )
    }

    pub fn write(spec: &'a ConnectionSpec) -> Self {
        Self::on(
            spec,
            "PutObject",
            "s3:PutObject",
            Target::Objects,
            Some("kms:GenerateDataKey"),
        )
    }

    pub fn delete(spec: &'a ConnectionSpec) -> Self {
        Self::on(
            spec,
            "DeleteObject",
            "s3:DeleteObject",
            Target::Objects,
            None,
        )
    }

    /// Describes HeadObject, which S3 authorizes as s3:GetObject.
    pub fn head_object(spec: &'a ConnectionSpec) -> Self {
        Self::on(spec, "HeadObject", "s3:GetObject", Target::Objects, None)
    }

    fn on(
        spec: &'a ConnectionSpec,
        operation: &'static str,
        action: &'static str,
        target: Target,
        kms_action: Option<&'static str>,
    ) -> Self {
        Self {
            spec,
            operation,
            action,
            target,
            kms_action,
        }
    }

    /// Returns the ARN the role's policy must allow the action on.
    pub fn resource_arn(&self) -> String {
        let partition = self.spec.role_arn.partition();
        let bucket = self.spec.bucket.as_str();
        match self.target {
            Target::Bucket => format!("arn:{partition}:s3:::{bucket}"),
            Target::Objects => format!(
                "arn:{partition}:s3:::{bucket}/{}*",
                self.spec.prefix.as_str()
            ),
        }
    }
}

impl Call<'_> {
    /// Returns the service and operation, such as `S3 ListObjectsV2`, for messages.
    pub fn operation(&self) -> String {
        match self {
            Self::AssumeRole(_) => "STS AssumeRole".to_owned(),
            Self::S3(call) => format!("S3 {}", call.operation),
        }
    }

    pub fn spec(&self) -> &ConnectionSpec {
        match self {
            Self::AssumeRole(call) => call.spec,
            Self::S3(call) => call.spec,
        }
    }
}

pub(crate) fn access_denied(call: &Call) -> String {
    match call {
        Call::AssumeRole(call) => trust_policy(call),
        Call::S3(call) => s3_permission(call),
    }
}

fn trust_policy(call: &AssumeRoleCall) -> String {
    format!(
        "The trust policy of role {role} must allow sts:AssumeRole for the principal {principal} with the condition StringEquals sts:ExternalId \"{external_id}\". \
         Check that the role exists and that its ARN is spelled right. \
         IAM takes up to a minute to apply a new or changed role, so run the test again if you just changed it.",
        role = call.spec.role_arn.as_str(),
        principal = call.platform_principal_arn,
        external_id = call.external_id.as_str(),
    )
}

fn s3_permission(call: &S3Call) -> String {
    let prefix = call.spec.prefix.as_str();
    let condition = if call.target == Target::Bucket && !prefix.is_empty() {
        format!(" with the condition StringLike s3:prefix [\"{prefix}\", \"{prefix}*\"]")
    } else {
        String::new()
    };
    format!(
        "Allow {action} on {resource}{condition} in the permissions policy of role {role}, \
         and check that no bucket policy, service control policy or permissions boundary denies it. \
         S3 also denies every request when the bucket is not owned by account {account}, the role's account.",
        action = call.action,
        resource = call.resource_arn(),
        role = call.spec.role_arn.as_str(),
        account = call.spec.role_arn.account_id(),
    )
}

pub(crate) fn kms_denied(call: &Call) -> String {
    let spec = call.spec();
    let key = match &spec.kms_key_arn {
        Some(key) => key.as_str().to_owned(),
        None => "the KMS key that encrypts the bucket's objects".to_owned(),
    };
    let action = match call {
        Call::S3(S3Call {
            kms_action: Some(action),
            ..
        }) => *action,
        _ => "kms:Decrypt and kms:GenerateDataKey",
    };
    format!(
        "Allow {action} on {key} in the permissions policy of role {role}, \
         and check that the key policy allows the role to use the key.",
        role = spec.role_arn.as_str(),
    )
}

pub(crate) fn region_disabled(call: &Call) -> String {
    let spec = call.spec();
    let region = spec.region.as_str();
    let account = spec.role_arn.account_id();
    if spec.region.is_opt_in() {
        format!(
            "Region {region} is an opt-in region that is not enabled in account {account}, which owns the role. \
             Enable it in the AWS Management Console under Account, AWS Regions, and run the test again."
        )
    } else {
        format!(
            "STS is deactivated in region {region} for account {account}, which owns the role. \
             Activate it in the IAM console under Account settings, Security Token Service (STS), and run the test again."
        )
    }
}

pub(crate) fn no_such_bucket(call: &Call) -> String {
    let spec = call.spec();
    format!(
        "Check that bucket {bucket} exists in account {account}. \
         If the name is wrong, use the right one; a saved endpoint cannot be edited, so create a new one.",
        bucket = spec.bucket.as_str(),
        account = spec.role_arn.account_id(),
    )
}

pub(crate) fn wrong_region(actual: Option<&str>) -> String {
    match actual {
        Some(actual) => format!(
            "Use region {actual}; a saved endpoint cannot be edited, so create a new one with it."
        ),
        None => "Use the region the bucket was created in, as shown in the S3 console; a saved endpoint cannot be edited, so create a new one with it.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConnectionInput;

    fn spec(prefix: &str, kms_key_arn: Option<&str>) -> ConnectionSpec {
        ConnectionSpec::parse(&ConnectionInput {
            mode: Some("read_write".to_owned()),
            role_arn: Some("arn:aws-cn:iam::111122223333:role/Writer".to_owned()),
            bucket: Some("acme-exports".to_owned()),
            prefix: Some(prefix.to_owned()),
            region: Some("cn-north-1".to_owned()),
            kms_key_arn: kms_key_arn.map(str::to_owned),
        })
        .unwrap()
    }

    #[test]
    fn hint_uses_the_role_partition_in_resource_arns() {
        let spec = spec("daily", None);
        assert_eq!(
            S3Call::list(&spec).resource_arn(),
            "arn:aws-cn:s3:::acme-exports"
        );
        assert_eq!(
            S3Call::write(&spec).resource_arn(),
            "arn:aws-cn:s3:::acme-exports/daily/*"
        );
    }

    #[test]
    fn hint_adds_prefix_condition_only_for_bucket_actions() {
        let spec = spec("daily", None);
        let list = access_denied(&Call::S3(S3Call::list(&spec)));
        assert!(
            list.contains("s3:prefix [\"daily/\", \"daily/*\"]"),
            "{list}"
        );
        let write = access_denied(&Call::S3(S3Call::write(&spec)));
        assert!(!write.contains("s3:prefix"), "{write}");
        assert!(write.contains("s3:PutObject"), "{write}");
    }

    #[test]
    fn hint_omits_prefix_condition_for_whole_bucket() {
        let spec = spec("", None);
        let list = access_denied(&Call::S3(S3Call::list(&spec)));
        assert!(!list.contains("s3:prefix"), "{list}");
        assert!(list.contains("arn:aws-cn:s3:::acme-exports "), "{list}");
    }

    #[test]
    fn hint_names_kms_action_and_key() {
        let key = "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let spec = spec("daily", Some(key));
        let write = kms_denied(&Call::S3(S3Call::write(&spec)));
        assert!(write.contains("kms:GenerateDataKey"), "{write}");
        assert!(write.contains(key), "{write}");
        let read = kms_denied(&Call::S3(S3Call::read(&spec)));
        assert!(read.contains("kms:Decrypt"), "{read}");
    }

    #[test]
    fn hint_describes_unnamed_kms_key() {
        let spec = spec("daily", None);
        let read = kms_denied(&Call::S3(S3Call::read(&spec)));
        assert!(read.contains("the KMS key that encrypts"), "{read}");
    }

    #[test]
    fn hint_for_disabled_region_tells_opt_in_from_sts() {
        let opt_in = ConnectionSpec::parse(&ConnectionInput {
            mode: Some("read_only".to_owned()),
            role_arn: Some("arn:aws:iam::111122223333:role/Reader".to_owned()),
            bucket: Some("acme-exports".to_owned()),
            prefix: None,
            region: Some("af-south-1".to_owned()),
            kms_key_arn: None,
        })
        .unwrap();
        let opt_in_hint = region_disabled(&Call::S3(S3Call::list(&opt_in)));
        assert!(opt_in_hint.contains("opt-in region"), "{opt_in_hint}");
        assert!(opt_in_hint.contains("111122223333"), "{opt_in_hint}");

        let default_region = spec("daily", None);
        let sts_hint = region_disabled(&Call::S3(S3Call::list(&default_region)));
        assert!(sts_hint.contains("STS is deactivated"), "{sts_hint}");
        assert!(sts_hint.contains("cn-north-1"), "{sts_hint}");
    }

    #[test]
    fn hint_for_wrong_region_names_the_region() {
        assert!(wrong_region(Some("eu-central-1")).contains("region eu-central-1"));
        assert!(wrong_region(None).contains("S3 console"));
    }
}
