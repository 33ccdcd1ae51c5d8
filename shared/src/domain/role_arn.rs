//! IAM role ARNs in the customer's account.

use super::error::{string_newtype_serde, FieldError};
use super::region::Partition;

const MAX_ARN_LEN: usize = 2_048;
const MAX_ROLE_NAME_LEN: usize = 64;
const MAX_PATH_LEN: usize = 512;
const SHAPE: &str = "a role ARN looks like arn:aws:iam::123456789012:role/RoleName or arn:aws:iam::123456789012:role/path/RoleName";

/// The ARN of an IAM role: `arn:<partition>:iam::<12-digit account>:role/<optional path/><name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleArn {
    arn: String,
    partition: Partition,
    account_id: String,
    path: String,
    name: String,
}

impl RoleArn {
    pub const FIELD: &'static str = "role_arn";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let reject = |reason: &str| FieldError::new(Self::FIELD, raw, format!("{reason}; {SHAPE}"));

        if raw.len() > MAX_ARN_LEN {
            return Err(reject(&format!(
                "role ARN must be at most {MAX_ARN_LEN} characters"
            )));
        }
        let parts: Vec<&str> = raw.splitn(6, ':').collect();
        let [arn, partition, service, region, account_id, resource] = parts[..] else {
            return Err(reject("value is not an ARN"));
        };
        if arn != "arn" {
            return Err(reject("value is not an ARN"));
        }
        let partition = Partition::parse(partition)
            .ok_or_else(|| reject("partition must be aws, aws-cn or aws-us-gov"))?;
        if service == "sts" && resource.starts_with("assumed-role/") {
            return Err(reject(
                "this is an assumed-role session ARN, not a role; use the ARN of the role itself",
            ));
        }
        if service != "iam" {
            return Err(reject(&format!(
                "this is an ARN of {service}, not an IAM role"
            )));
        }
        if !region.is_empty() {
            return Err(reject(
                "IAM ARNs have no region: the fourth field must be empty",
            ));
        }
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(reject("account id must be 12 digits"));
        }
        let Some(role_path_and_name) = resource.strip_prefix("role/") else {
            let kind = resource.split('/').next().unwrap_or(resource);
            return Err(reject(&format!("this is an IAM {kind} ARN, not a role")));
        };
        let (path, name) = split_path_and_name(role_path_and_name);
        check_iam_name("role", name).map_err(|reason| reject(&reason))?;
        check_iam_path("role", &path).map_err(|reason| reject(&reason))?;

        Ok(Self {
            arn: raw.to_owned(),
            partition,
            account_id: account_id.to_owned(),
            path,
            name: name.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }

    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// The 12-digit account that owns the role, and so, by our setup, the customer's bucket.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The role path, `/` when the role has none.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Splits `path/to/Name` into (`/path/to/`, `Name`); a bare name gets the root path `/`.
pub(crate) fn split_path_and_name(value: &str) -> (String, &str) {
    match value.rfind('/') {
        Some(slash) => (format!("/{}", &value[..=slash]), &value[slash + 1..]),
        None => ("/".to_owned(), value),
    }
}

/// Checks the name of an IAM role or user (`kind`), which share the same rules.
pub(crate) fn check_iam_name(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_ROLE_NAME_LEN {
        return Err(format!(
            "{kind} name must be 1 to {MAX_ROLE_NAME_LEN} characters"
        ));
    }
    if !name.bytes().all(is_iam_name_byte) {
        return Err(format!(
            "{kind} name may contain only letters, digits and _ + = , . @ -"
        ));
    }
    Ok(())
}

/// Checks the path of an IAM role or user (`kind`), which share the same rules.
pub(crate) fn check_iam_path(kind: &str, path: &str) -> Result<(), String> {
    if path == "/" {
        return Ok(());
    }
    if path.len() > MAX_PATH_LEN {
        return Err(format!(
            "{kind} path must be at most {MAX_PATH_LEN} characters"
        ));
    }
    // The path is `/a/b/`: strip one slash from each end to get its segments.
    let inner = &path[1..path.len() - 1];
    let segments: Vec<&str> = inner.split('/').collect();
    if segments.iter().any(|segment| segment.is_empty()) {
        return Err(format!("{kind} path must not contain empty segments (//)"));
    }
    if !segments
        .iter()
        .all(|segment| segment.bytes().all(is_iam_name_byte))
    {
        return Err(format!(
            "{kind} path may contain only letters, digits, / and _ + = , . @ -"
        ));
    }
    Ok(())
}

pub(crate) fn is_iam_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"_+=,.@-".contains(&byte)
}

string_newtype_serde!(RoleArn);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arn_accepts_roles_in_every_partition() {
        for (raw, partition) in [
            (
                "arn:aws:iam::123456789012:role/Acme-S3-ReadOnly-Role",
                Partition::Aws,
            ),
            ("arn:aws-cn:iam::123456789012:role/reader", Partition::AwsCn),
            (
                "arn:aws-us-gov:iam::123456789012:role/reader",
                Partition::AwsUsGov,
            ),
        ] {
            let arn = RoleArn::parse(raw).unwrap();
            assert_eq!(arn.partition(), partition);
            assert_eq!(arn.account_id(), "123456789012");
        }
    }

    #[test]
    fn role_arn_splits_path_and_name() {
        let arn = RoleArn::parse("arn:aws:iam::123456789012:role/service/finops/Reader").unwrap();
        assert_eq!(arn.path(), "/service/finops/");
        assert_eq!(arn.name(), "Reader");
        let bare = RoleArn::parse("arn:aws:iam::123456789012:role/Reader").unwrap();
        assert_eq!(bare.path(), "/");
    }

    #[test]
    fn role_arn_rejects_other_arns_with_a_reason() {
        let cases = [
            ("arn:aws:iam::123456789012:user/alice", "user ARN"),
            ("arn:aws:iam::123456789012:group/admins", "group ARN"),
            ("arn:aws:iam::123456789012:policy/ReadOnly", "policy ARN"),
            (
                "arn:aws:sts::123456789012:assumed-role/Reader/session",
                "assumed-role",
            ),
            ("arn:aws:s3:::my-bucket", "ARN of s3"),
            ("arn:aws:iam::12345:role/Reader", "12 digits"),
            (
                "arn:aws:iam:us-east-1:123456789012:role/Reader",
                "no region",
            ),
            ("arn:aws-iso:iam::123456789012:role/Reader", "partition"),
            ("arn:aws:iam::123456789012:role/", "1 to 64"),
            (
                "arn:aws:iam::123456789012:role/has space",
                "may contain only",
            ),
            ("arn:aws:iam::123456789012:role/a//Reader", "empty segments"),
            ("123456789012", "not an ARN"),
            ("", "not an ARN"),
        ];
        for (raw, reason) in cases {
            let error = RoleArn::parse(raw).unwrap_err();
            assert_eq!(error.field, "role_arn");
            assert!(error.message.contains(reason), "{raw}: {}", error.message);
            assert!(error
                .message
                .contains("arn:aws:iam::123456789012:role/RoleName"));
        }
    }

    #[test]
    fn role_arn_limits_name_length() {
        let ok = format!("arn:aws:iam::123456789012:role/{}", "r".repeat(64));
        let long = format!("arn:aws:iam::123456789012:role/{}", "r".repeat(65));
        assert!(RoleArn::parse(&ok).is_ok());
        assert!(RoleArn::parse(&long).is_err());
    }
}
