//! Typed configuration of the HTTP functions, read once from the environment at start-up so
//! that a missing or invalid setting stops the function at init with a clear message.

use crate::domain::RoleArn;
use crate::policy::{PlatformConfigError, PlatformIdentity};

/// Name of the DynamoDB table of endpoints, health, External IDs and idempotency keys.
pub const TABLE_NAME: &str = "TABLE_NAME";
/// ARN of the platform role that customers' trust policies name.
pub const PLATFORM_PRINCIPAL_ARN: &str = "PLATFORM_PRINCIPAL_ARN";
/// Product name written into rendered policies and instructions.
pub const PLATFORM_NAME: &str = "PLATFORM_NAME";
/// Optional: the JWT claim that contains the tenant id, `tenant_id` when unset.
pub const TENANT_CLAIM: &str = "TENANT_CLAIM";

/// The JWT claim read when [`TENANT_CLAIM`] is unset.
pub const DEFAULT_TENANT_CLAIM: &str = "tenant_id";

const MAX_TENANT_CLAIM_LEN: usize = 128;

/// Length of the platform role's sessions. Its credentials only sign the AssumeRole calls
/// for customer roles, so the shortest session STS allows is enough.
const PLATFORM_SESSION_SECONDS: u64 = 900;

/// Returns `base` with credentials of the platform role, which the function assumes with its
/// own execution role. Customers' trust policies name only the platform role, so customer
/// roles are always assumed through it. The provider assumes the role on first use and
/// refreshes the session before it expires.
pub async fn platform_role_config(
    base: &aws_config::SdkConfig,
    platform_role: &RoleArn,
    function_name: &str,
) -> aws_config::SdkConfig {
    let provider = aws_config::sts::AssumeRoleProvider::builder(platform_role.as_str())
        .session_name(function_name)
        .session_length(std::time::Duration::from_secs(PLATFORM_SESSION_SECONDS))
        .configure(base)
        .build()
        .await;
    base.to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is missing or empty; set it to {expected}")]
    Missing {
        name: &'static str,
        expected: &'static str,
    },

    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Settings for reading the tenant from the authorizer context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The JWT claim that contains the tenant id. A Lambda authorizer always passes it as
    /// `tenant_id` in its context instead.
    pub tenant_claim: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            tenant_claim: DEFAULT_TENANT_CLAIM.to_owned(),
        }
    }
}

/// Settings every HTTP function reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub table_name: String,
    pub auth: AuthConfig,
}

/// Settings of the functions that run connection tests: test-endpoint and create-endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TesterConfig {
    pub http: HttpConfig,
    /// The platform role, named in the hints of a failed AssumeRole check. It must be a role,
    /// because the functions assume it before they assume the customer's role.
    pub platform_principal_arn: RoleArn,
}

/// Settings of render-policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    pub http: HttpConfig,
    /// The principal that rendered trust policies name, and the product name in role names.
    pub platform: PlatformIdentity,
}

impl HttpConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&environment)
    }

    /// Reads the settings through `lookup`, which returns a variable's value or `None`.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = required(lookup, TABLE_NAME, "the name of the endpoints table")?;
        check_table_name(&table_name)?;
        let tenant_claim = match non_empty(lookup, TENANT_CLAIM) {
            Some(claim) => check_tenant_claim(claim)?,
            None => DEFAULT_TENANT_CLAIM.to_owned(),
        };
        Ok(Self {
            table_name,
            auth: AuthConfig { tenant_claim },
        })
    }
}

impl TesterConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&environment)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpConfig::from_lookup(lookup)?,
            platform_principal_arn: principal_arn(lookup)?,
        })
    }
}

impl PolicyConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&environment)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let http = HttpConfig::from_lookup(lookup)?;
        let principal_arn = required(
            lookup,
            PLATFORM_PRINCIPAL_ARN,
            "the ARN of the platform principal that customers' trust policies name",
        )?;
        let platform_name = required(
            lookup,
            PLATFORM_NAME,
            "the product name shown in rendered policies",
        )?;
        let platform = PlatformIdentity::new(&principal_arn, &platform_name).map_err(|error| {
            let name = match error {
                PlatformConfigError::InvalidPrincipal { .. } => PLATFORM_PRINCIPAL_ARN,
                PlatformConfigError::InvalidPlatformName { .. } => PLATFORM_NAME,
            };
            ConfigError::Invalid {
                name,
                reason: error.to_string(),
            }
        })?;
        Ok(Self { http, platform })
    }
}

pub(crate) fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub(crate) fn non_empty(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|value| !value.trim().is_empty())
}

fn required(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    expected: &'static str,
) -> Result<String, ConfigError> {
    non_empty(lookup, name).ok_or(ConfigError::Missing { name, expected })
}

fn principal_arn(lookup: &dyn Fn(&str) -> Option<String>) -> Result<RoleArn, ConfigError> {
    let raw = required(
        lookup,
        PLATFORM_PRINCIPAL_ARN,
        "the ARN of the platform role that customers' trust policies name",
    )?;
    RoleArn::parse(&raw).map_err(|error| ConfigError::Invalid {
        name: PLATFORM_PRINCIPAL_ARN,
        reason: error.message,
    })
}

/// Applies DynamoDB's table name rule: 3 to 255 characters of letters, digits, `_`, `-`, `.`.
fn check_table_name(name: &str) -> Result<(), ConfigError> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if (3..=255).contains(&name.len()) && valid_chars {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        name: TABLE_NAME,
        reason: format!(
            "{name:?} is not a DynamoDB table name (3 to 255 letters, digits, _ - or .)"
        ),
    })
}

fn check_tenant_claim(claim: String) -> Result<String, ConfigError> {
    let printable = claim.bytes().all(|b| b.is_ascii_graphic());
    if claim.len() <= MAX_TENANT_CLAIM_LEN && printable {
        return Ok(claim);
    }
    Err(ConfigError::Invalid {
        name: TENANT_CLAIM,
        reason: format!(
            "{claim:?} is not a claim name; use at most {MAX_TENANT_CLAIM_LEN} visible ASCII characters such as tenant_id or custom:tenant_id"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ROLE: &str = "arn:aws:iam::111122223333:role/PlatformPrincipalRole";

    fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn http_config_defaults_the_tenant_claim() {
        let config = HttpConfig::from_lookup(&lookup_from(&[(TABLE_NAME, "endpoints")])).unwrap();
        assert_eq!(config.table_name, "endpoints");
        assert_eq!(config.auth.tenant_claim, "tenant_id");
    }

    #[test]
    fn http_config_reads_a_custom_tenant_claim() {
        let lookup = lookup_from(&[(TABLE_NAME, "endpoints"), (TENANT_CLAIM, "custom:tenant")]);
        let config = HttpConfig::from_lookup(&lookup).unwrap();
        assert_eq!(config.auth.tenant_claim, "custom:tenant");
    }

    #[test]
    fn http_config_requires_the_table_name() {
        let error = HttpConfig::from_lookup(&lookup_from(&[(TABLE_NAME, " ")])).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Missing {
                name: TABLE_NAME,
                ..
            }
        ));
        assert!(error.to_string().contains("TABLE_NAME"));
    }

    #[test]
    fn http_config_rejects_an_invalid_table_name() {
        let error = HttpConfig::from_lookup(&lookup_from(&[(TABLE_NAME, "a b")])).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Invalid {
                name: TABLE_NAME,
                ..
            }
        ));
    }

    #[test]
    fn tester_config_requires_a_role_arn() {
        let lookup = lookup_from(&[(TABLE_NAME, "endpoints"), (PLATFORM_PRINCIPAL_ARN, "x")]);
        let error = TesterConfig::from_lookup(&lookup).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Invalid {
                name: PLATFORM_PRINCIPAL_ARN,
                ..
            }
        ));
        let lookup = lookup_from(&[(TABLE_NAME, "endpoints"), (PLATFORM_PRINCIPAL_ARN, ROLE)]);
        let config = TesterConfig::from_lookup(&lookup).unwrap();
        assert_eq!(config.platform_principal_arn.as_str(), ROLE);
    }

    #[test]
    fn policy_config_checks_the_platform_name() {
        let base = [(TABLE_NAME, "endpoints"), (PLATFORM_PRINCIPAL_ARN, ROLE)];
        let missing = PolicyConfig::from_lookup(&lookup_from(&base)).unwrap_err();
        assert!(matches!(
            missing,
            ConfigError::Missing {
                name: PLATFORM_NAME,
                ..
            }
        ));

        let mut with_bad_name = base.to_vec();
        with_bad_name.push((PLATFORM_NAME, "Cost Platform"));
        let invalid = PolicyConfig::from_lookup(&lookup_from(&with_bad_name)).unwrap_err();
        assert!(matches!(
            invalid,
            ConfigError::Invalid {
                name: PLATFORM_NAME,
                ..
            }
        ));

        let mut with_name = base.to_vec();
        with_name.push((PLATFORM_NAME, "CostPlatform"));
        let config = PolicyConfig::from_lookup(&lookup_from(&with_name)).unwrap();
        assert_eq!(config.platform.platform_name(), "CostPlatform");
        assert_eq!(config.platform.principal_arn(), ROLE);
    }
}
