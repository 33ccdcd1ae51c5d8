//! What the customer does in their own account, as they would in the console: create the
//! bucket with their billing files, and create or change roles from the policies the API
//! rendered. It runs as the admin user of the customer account.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use serde_json::Value;

use super::WalkthroughError;
use crate::stack::{iam_client, s3_client, stack};
use crate::unique_name;

/// Cost reports in the formats that billing exports use, as (key, body) pairs. The Parquet
/// files carry only the format's magic bytes, because no check reads their content.
pub const BILLING_FILES: [(&str, &[u8]); 4] = [
    (
        "billing/2026/01/cost-and-usage-2026-01.csv",
        b"line_item_usage_start_date,product_code,line_item_unblended_cost\n\
          2026-01-01T00:00:00Z,AmazonS3,12.40\n\
          2026-01-01T00:00:00Z,AmazonEC2,310.02\n",
    ),
    (
        "billing/2026/01/cost-and-usage-2026-01-00001.snappy.parquet",
        b"PAR1\x15\x04PAR1",
    ),
    (
        "billing/2026/02/cost-and-usage-2026-02.csv",
        b"line_item_usage_start_date,product_code,line_item_unblended_cost\n\
          2026-02-01T00:00:00Z,AmazonS3,13.95\n",
    ),
    (
        "billing/2026/02/cost-and-usage-2026-02-00001.snappy.parquet",
        b"PAR1\x15\x04PAR1",
    ),
];

/// A customer account, acted on with its admin user.
pub struct Customer {
    pub account_id: String,
    pub region: String,
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
}

/// A role that the customer created from rendered policies.
#[derive(Debug, Clone)]
pub struct CreatedRole {
    pub name: String,
    pub arn: String,
    pub policy_name: String,
    pub permissions_policy: Value,
}

impl Customer {
    pub fn new(account_id: &str, region: &str) -> Self {
        let stack = stack();
        Self {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            s3: s3_client(&stack.admin_config_in(account_id, region)),
            iam: iam_client(&stack.admin_config(account_id)),
        }
    }

    /// Creates a uniquely named bucket in the customer's region and uploads
    /// [`BILLING_FILES`] to it. Returns the bucket name.
    pub async fn create_billing_bucket(&self) -> Result<String, WalkthroughError> {
        let name = unique_name("acme-billing");
        let mut request = self.s3.create_bucket().bucket(&name);
        // us-east-1 is the one region that rejects an explicit location constraint.
        if self.region != "us-east-1" {
            let configuration = CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                .build();
            request = request.create_bucket_configuration(configuration);
        }
        request
            .send()
            .await
            .map_err(WalkthroughError::aws(format!("creating bucket {name}")))?;

        for (key, body) in BILLING_FILES {
            self.s3
                .put_object()
                .bucket(&name)
                .key(key)
                .body(ByteStream::from_static(body))
                .send()
                .await
                .map_err(WalkthroughError::aws(format!("uploading {key}")))?;
        }
        Ok(name)
    }

    /// Creates the role `name` with `trust_policy`, and `permissions_policy` as its inline
    /// policy `policy_name`.
    pub async fn create_role(
        &self,
        name: &str,
        policy_name: &str,
        trust_policy: &Value,
        permissions_policy: &Value,
    ) -> Result<CreatedRole, WalkthroughError> {
        let created = self
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust_policy.to_string())
            .send()
            .await
            .map_err(WalkthroughError::aws(format!("creating role {name}")))?;
        let arn = match created.role() {
            Some(role) => role.arn().to_owned(),
            None => {
                return Err(WalkthroughError::new(format!(
                    "CreateRole {name} returned no role"
                )))
            }
        };

        let role = CreatedRole {
            name: name.to_owned(),
            arn,
            policy_name: policy_name.to_owned(),
            permissions_policy: permissions_policy.clone(),
        };
        self.put_permissions(&role, permissions_policy).await?;
        Ok(role)
    }

    /// Replaces the inline permissions policy of `role` with `policy`.
    pub async fn put_permissions(
        &self,
        role: &CreatedRole,
        policy: &Value,
    ) -> Result<(), WalkthroughError> {
        self.iam
            .put_role_policy()
            .role_name(&role.name)
            .policy_name(&role.policy_name)
            .policy_document(policy.to_string())
            .send()
            .await
            .map_err(WalkthroughError::aws(format!(
                "putting policy {} on role {}",
                role.policy_name, role.name
            )))?;
        Ok(())
    }
}

/// Returns `trust_policy` with every `sts:ExternalId` condition value replaced by
/// `external_id`, the mistake of pasting another tenant's or an old External ID.
pub fn with_external_id(trust_policy: &Value, external_id: &str) -> Value {
    let mut changed = trust_policy.clone();
    replace_external_id(&mut changed, external_id);
    changed
}

fn replace_external_id(value: &mut Value, external_id: &str) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                if name == "sts:ExternalId" {
                    *field = Value::String(external_id.to_owned());
                } else {
                    replace_external_id(field, external_id);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| replace_external_id(item, external_id)),
        _ => {}
    }
}

/// Returns `policy` without the action `action` in any statement, dropping statements that
/// are left with no action.
pub fn without_action(policy: &Value, action: &str) -> Value {
    let mut changed = policy.clone();
    if let Some(statements) = changed.get_mut("Statement").and_then(Value::as_array_mut) {
        for statement in statements.iter_mut() {
            remove_action(statement, action);
        }
        statements.retain(has_action);
    }
    changed
}

fn remove_action(statement: &mut Value, action: &str) {
    match statement.get_mut("Action") {
        Some(Value::Array(actions)) => actions.retain(|candidate| candidate != action),
        Some(Value::String(only)) if only == action => {
            statement["Action"] = Value::Array(Vec::new());
        }
        _ => {}
    }
}

fn has_action(statement: &Value) -> bool {
    match statement.get("Action") {
        Some(Value::Array(actions)) => !actions.is_empty(),
        Some(_) => true,
        None => statement.get("NotAction").is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn with_external_id_replaces_condition() {
        let trust = json!({"Statement": [{
            "Condition": {"StringEquals": {"sts:ExternalId": "right"}}
        }]});

        let changed = with_external_id(&trust, "wrong");

        assert_eq!(
            changed["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
            "wrong"
        );
    }

    #[test]
    fn without_action_removes_action_and_empty_statements() {
        let policy = json!({"Statement": [
            {"Action": ["s3:GetObject", "s3:PutObject"]},
            {"Action": "s3:PutObject"},
            {"Action": "s3:ListBucket"}
        ]});

        let changed = without_action(&policy, "s3:PutObject");

        assert_eq!(
            changed["Statement"],
            json!([{"Action": ["s3:GetObject"]}, {"Action": "s3:ListBucket"}])
        );
    }
}
