//! Customer buckets, objects and roles for integration tests, created with the admin user of
//! a customer account.

use aws_credential_types::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sdk_sts::error::SdkError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use serde_json::{json, Value};

use crate::stack::{iam_client, s3_client, stack, sts_client};
use crate::unique_name;

/// A bucket that a test created in a customer account.
#[derive(Debug, Clone)]
pub struct CustomerBucket {
    pub account_id: String,
    pub name: String,
    pub region: String,
}

impl CustomerBucket {
    /// ARN of the bucket, as IAM policies name it.
    pub fn arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.name)
    }
}

/// A role that a test created in a customer account.
#[derive(Debug, Clone)]
pub struct CustomerRole {
    pub account_id: String,
    pub name: String,
    pub arn: String,
}

/// Creates a uniquely named bucket in `region` of `account_id` and puts `objects` in it, as
/// (key, body) pairs.
pub async fn create_customer_bucket(
    account_id: &str,
    region: &str,
    objects: &[(&str, &[u8])],
) -> CustomerBucket {
    let s3 = s3_client(&stack().admin_config_in(account_id, region));
    let name = unique_name("bucket");

    let mut request = s3.create_bucket().bucket(&name);
    // us-east-1 is the one region that rejects an explicit location constraint.
    if region != "us-east-1" {
        let configuration = CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(region))
            .build();
        request = request.create_bucket_configuration(configuration);
    }
    if let Err(error) = request.send().await {
        panic!("creating bucket {name} in {region} of account {account_id} failed: {error:?}");
    }

    for (key, body) in objects {
        let result = s3
            .put_object()
            .bucket(&name)
            .key(*key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await;
        if let Err(error) = result {
            panic!("putting object {key} into bucket {name} failed: {error:?}");
        }
    }

    CustomerBucket {
        account_id: account_id.to_owned(),
        name,
        region: region.to_owned(),
    }
}

/// Creates a uniquely named role in `account_id` with `trust_policy`, and with
/// `permissions_policy` as its inline policy when one is given.
pub async fn create_customer_role(
    account_id: &str,
    trust_policy: &Value,
    permissions_policy: Option<&Value>,
) -> CustomerRole {
    let iam = iam_client(&stack().admin_config(account_id));
    let name = unique_name("role");

    let created = iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(trust_policy.to_string())
        .send()
        .await;
    let arn = match created {
        Ok(output) => match output.role() {
            Some(role) => role.arn().to_owned(),
            None => panic!("CreateRole for {name} returned no role"),
        },
        Err(error) => panic!("creating role {name} in account {account_id} failed: {error:?}"),
    };

    if let Some(policy) = permissions_policy {
        let result = iam
            .put_role_policy()
            .role_name(&name)
            .policy_name("permissions")
            .policy_document(policy.to_string())
            .send()
            .await;
        if let Err(error) = result {
            panic!("putting the permissions policy on role {name} failed: {error:?}");
        }
    }

    CustomerRole {
        account_id: account_id.to_owned(),
        name,
        arn,
    }
}

/// Trust policy that lets the platform principal assume a role with `external_id`.
pub fn platform_trust_policy(external_id: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": stack().platform_principal_arn},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}}
        }]
    })
}

/// Permissions policy that allows reading every object of `bucket` under `prefix` and
/// listing that prefix.
pub fn read_prefix_policy(bucket: &CustomerBucket, prefix: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
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

/// Assumes `role_arn` as the platform principal and returns the session credentials.
pub async fn assume_role_as_platform(
    role_arn: &str,
    external_id: Option<&str>,
) -> Result<Credentials, SdkError<AssumeRoleError>> {
    let sts = sts_client(&stack().platform_config());
    let output = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(unique_name("session"))
        .set_external_id(external_id.map(str::to_owned))
        .send()
        .await?;
    let issued = output
        .credentials()
        .expect("AssumeRole returned no credentials");
    Ok(Credentials::new(
        issued.access_key_id(),
        issued.secret_access_key(),
        Some(issued.session_token().to_owned()),
        None,
        "assumed-customer-role",
    ))
}
