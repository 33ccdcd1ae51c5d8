//! KMS key ARNs for buckets encrypted with SSE-KMS.

use super::error::{string_newtype_serde, FieldError};
use super::region::{Partition, Region};

const SHAPE: &str = "a KMS key ARN looks like arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab; aliases are not accepted because policies must name the key itself";

/// The full ARN of a KMS key: `arn:<partition>:kms:<region>:<account>:key/<key id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KmsKeyArn {
    arn: String,
    partition: Partition,
    region: String,
    account_id: String,
}

impl KmsKeyArn {
    pub const FIELD: &'static str = "kms_key_arn";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let reject = |reason: &str| FieldError::new(Self::FIELD, raw, format!("{reason}; {SHAPE}"));

        let parts: Vec<&str> = raw.splitn(6, ':').collect();
        let ["arn", partition, "kms", region, account_id, resource] = parts[..] else {
            return Err(reject("value is not a KMS ARN"));
        };
        let partition = Partition::parse(partition)
            .ok_or_else(|| reject("partition must be aws, aws-cn or aws-us-gov"))?;
        if Region::parse(region).is_err() {
            return Err(reject("region is not a known AWS region"));
        }
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(reject("account id must be 12 digits"));
        }
        let Some(key_id) = resource.strip_prefix("key/") else {
            return Err(reject("resource must be key/<key id>"));
        };
        if !is_key_id(key_id) {
            return Err(reject(
                "key id must be a UUID or a multi-Region key id (mrk-...)",
            ));
        }
        Ok(Self {
            arn: raw.to_owned(),
            partition,
            region: region.to_owned(),
            account_id: account_id.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }

    pub fn partition(&self) -> Partition {
        self.partition
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }
}

/// A single-Region key id is a UUID; a multi-Region key id is `mrk-` and 32 hex digits.
fn is_key_id(key_id: &str) -> bool {
    if let Some(hex) = key_id.strip_prefix("mrk-") {
        return hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let groups: Vec<&str> = key_id.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    lengths == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

string_newtype_serde!(KmsKeyArn);

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn kms_key_arn_accepts_single_and_multi_region_keys() {
        let key = KmsKeyArn::parse(KEY).unwrap();
        assert_eq!(key.region(), "eu-west-1");
        assert_eq!(key.partition(), Partition::Aws);
        let mrk = "arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab";
        assert!(KmsKeyArn::parse(mrk).is_ok());
    }

    #[test]
    fn kms_key_arn_rejects_aliases_and_malformed_ids() {
        for raw in [
            "arn:aws:kms:eu-west-1:123456789012:alias/billing",
            "arn:aws:kms:eu-west-1:123456789012:key/not-a-uuid",
            "arn:aws:kms:nowhere-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:s3:::bucket",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
        ] {
            assert_eq!(
                KmsKeyArn::parse(raw).unwrap_err().field,
                "kms_key_arn",
                "{raw}"
            );
        }
    }
}
