//! The platform's own identity: the principal customers trust and the name used in the role
//! and policy names suggested to them.

use super::error::PlatformConfigError;
use crate::domain::{
    check_iam_name, check_iam_path, is_iam_name_byte, split_path_and_name, AccessMode, Partition,
};

/// IAM's maximum length of a role name.
const MAX_ROLE_NAME_LEN: usize = 64;

/// IAM's maximum length of an ARN used as a principal.
const MAX_PRINCIPAL_ARN_LEN: usize = 2_048;

const READ_ONLY_ROLE_SUFFIX: &str = "-S3-ReadOnly-Role";
const READ_WRITE_ROLE_SUFFIX: &str = "-DataExporter-Role";
const POLICY_NAME_SUFFIX: &str = "-s3-access-policy";

/// Maximum length of the platform name, so that suggested role names stay within IAM's 64
/// characters.
pub const MAX_PLATFORM_NAME_LEN: usize = MAX_ROLE_NAME_LEN - READ_WRITE_ROLE_SUFFIX.len();

/// The principal that customers' roles trust and the platform name used in suggested names.
/// Both come from the service's configuration and are checked once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformIdentity {
    principal_arn: String,
    partition: Partition,
    platform_name: String,
}

impl PlatformIdentity {
    /// Validates the principal ARN and the platform name.
    ///
    /// The principal is an IAM role, an IAM user or an account root. IAM stores a role or user
    /// principal as its unique id when a trust policy is saved, so deleting and recreating the
    /// platform's role breaks every customer's trust policy. An account root survives that, but
    /// then every principal of the platform account that may call `sts:AssumeRole` can assume
    /// customers' roles, with the External ID still required.
    pub fn new(principal_arn: &str, platform_name: &str) -> Result<Self, PlatformConfigError> {
        let partition = parse_principal(principal_arn).map_err(|reason| {
            PlatformConfigError::InvalidPrincipal {
                value: principal_arn.to_owned(),
                reason,
            }
        })?;
        check_platform_name(platform_name).map_err(|reason| {
            PlatformConfigError::InvalidPlatformName {
                value: platform_name.to_owned(),
                reason,
            }
        })?;
        Ok(Self {
            principal_arn: principal_arn.to_owned(),
            partition,
            platform_name: platform_name.to_owned(),
        })
    }

    pub fn principal_arn(&self) -> &str {
        &self.principal_arn
    }

    pub fn partition(&self) -> Partition {
        self.partition
    }

    pub fn platform_name(&self) -> &str {
        &self.platform_name
    }

    /// Returns the role name suggested to customers for an endpoint of `mode`.
    pub fn role_name(&self, mode: AccessMode) -> String {
        let suffix = match mode {
            AccessMode::ReadOnly => READ_ONLY_ROLE_SUFFIX,
            AccessMode::ReadWrite => READ_WRITE_ROLE_SUFFIX,
        };
        format!("{}{suffix}", self.platform_name)
    }

    /// Returns the name suggested for the role's inline permissions policy.
    pub fn policy_name(&self) -> String {
        format!(
            "{}{POLICY_NAME_SUFFIX}",
            self.platform_name.to_ascii_lowercase()
        )
    }
}

/// Checks `arn:<partition>:iam::<account>:root`, `...:role/<path/>name` or
/// `...:user/<path/>name` and returns the partition.
fn parse_principal(arn: &str) -> Result<Partition, String> {
    if arn.len() > MAX_PRINCIPAL_ARN_LEN {
        return Err(format!(
            "ARN must be at most {MAX_PRINCIPAL_ARN_LEN} characters"
        ));
    }

    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", partition, "iam", "", account_id, resource] = parts[..] else {
        return Err(
            "value is not an IAM ARN of the form arn:<partition>:iam::<account>:<resource>"
                .to_owned(),
        );
    };
    let partition = Partition::parse(partition)
        .ok_or_else(|| "partition must be aws, aws-cn or aws-us-gov".to_owned())?;
    if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err("account id must be 12 digits".to_owned());
    }

    if resource == "root" {
        return Ok(partition);
    }
    let (kind, path_and_name) = if let Some(rest) = resource.strip_prefix("role/") {
        ("role", rest)
    } else if let Some(rest) = resource.strip_prefix("user/") {
        ("user", rest)
    } else {
        return Err("resource must be root, role/<name> or user/<name>".to_owned());
    };
    let (path, name) = split_path_and_name(path_and_name);
    check_iam_name(kind, name)?;
    check_iam_path(kind, &path)?;
    Ok(partition)
}

/// Checks that the platform name fits IAM role names, which allow 64 characters of letters,
/// digits and `_ + = , . @ -`, with the longest suffix appended.
fn check_platform_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_PLATFORM_NAME_LEN {
        return Err(format!(
            "platform name must be 1 to {MAX_PLATFORM_NAME_LEN} characters, so that \"<name>{READ_WRITE_ROLE_SUFFIX}\" stays within IAM's {MAX_ROLE_NAME_LEN}-character role names; got {}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !u8::try_from(*c).is_ok_and(is_iam_name_byte))
    {
        return Err(format!(
            "platform name may contain only letters, digits and _ + = , . @ - because it becomes part of IAM role names; found {bad:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_accepts_role_user_and_root() {
        for (arn, partition) in [
            (
                "arn:aws:iam::111122223333:role/PlatformConnector",
                Partition::Aws,
            ),
            (
                "arn:aws:iam::111122223333:role/service/Connector",
                Partition::Aws,
            ),
            (
                "arn:aws-cn:iam::111122223333:user/connector",
                Partition::AwsCn,
            ),
            ("arn:aws-us-gov:iam::111122223333:root", Partition::AwsUsGov),
        ] {
            let platform = PlatformIdentity::new(arn, "Acme").unwrap();
            assert_eq!(platform.partition(), partition, "{arn}");
            assert_eq!(platform.principal_arn(), arn);
        }
    }

    #[test]
    fn platform_rejects_other_principals() {
        for arn in [
            "arn:aws:iam::111122223333:group/admins",
            "arn:aws:sts::111122223333:assumed-role/Connector/session",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role/has space",
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::1111:root",
            "arn:aws:iam:us-east-1:111122223333:root",
            "arn:aws-iso:iam::111122223333:root",
            "111122223333",
            "*",
            "",
        ] {
            let error = PlatformIdentity::new(arn, "Acme").unwrap_err();
            assert!(
                matches!(error, PlatformConfigError::InvalidPrincipal { .. }),
                "{arn}"
            );
        }
    }

    #[test]
    fn platform_suggests_names_per_mode() {
        let platform = PlatformIdentity::new("arn:aws:iam::111122223333:root", "Acme").unwrap();
        assert_eq!(
            platform.role_name(AccessMode::ReadOnly),
            "Acme-S3-ReadOnly-Role"
        );
        assert_eq!(
            platform.role_name(AccessMode::ReadWrite),
            "Acme-DataExporter-Role"
        );
        assert_eq!(platform.policy_name(), "acme-s3-access-policy");
    }

    #[test]
    fn platform_name_fits_role_names() {
        let root = "arn:aws:iam::111122223333:root";
        let longest = "P".repeat(MAX_PLATFORM_NAME_LEN);
        let platform = PlatformIdentity::new(root, &longest).unwrap();
        for mode in AccessMode::ALL {
            assert!(platform.role_name(mode).len() <= MAX_ROLE_NAME_LEN);
        }

        let too_long = "P".repeat(MAX_PLATFORM_NAME_LEN + 1);
        for name in [
            too_long.as_str(),
            "",
            "Acme Cloud",
            "Acme/Cloud",
            "Äcme",
            "Acme*",
        ] {
            let error = PlatformIdentity::new(root, name).unwrap_err();
            assert!(
                matches!(error, PlatformConfigError::InvalidPlatformName { .. }),
                "{name:?}"
            );
        }
    }
}
