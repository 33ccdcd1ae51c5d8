//! Typed configuration of the revalidate-endpoints function, read once at init so that a
//! missing or invalid setting stops the function with a clear message.

use super::run::Settings;
use crate::domain::RoleArn;
use std::num::NonZeroU32;

pub const TABLE_NAME: &str = "TABLE_NAME";
pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
pub const PLATFORM_PRINCIPAL_ARN: &str = "PLATFORM_PRINCIPAL_ARN";
pub const REVALIDATE_CONCURRENCY: &str = "REVALIDATE_CONCURRENCY";
pub const STS_MAX_REQUESTS_PER_SECOND: &str = "STS_MAX_REQUESTS_PER_SECOND";

pub const DEFAULT_CONCURRENCY: usize = 8;
/// The template's `RevalidateConcurrency` maximum.
pub const MAX_CONCURRENCY: usize = 64;
pub const DEFAULT_STS_MAX_REQUESTS_PER_SECOND: u32 = 20;
/// The template's `StsMaxRequestsPerSecond` maximum.
pub const MAX_STS_REQUESTS_PER_SECOND: u32 = 500;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevalidateConfig {
    pub table_name: String,
    pub event_bus_name: String,
    /// The platform role that calls AssumeRole, named in the hints of failed checks.
    pub platform_principal_arn: RoleArn,
    /// Connection tests running at the same time.
    pub concurrency: usize,
    /// The most STS requests per second that one run sends.
    pub sts_max_requests_per_second: NonZeroU32,
}

impl RevalidateConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value or `None`.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = required(lookup, TABLE_NAME, "the name of the endpoints table")?;
        let event_bus_name = required(
            lookup,
            EVENT_BUS_NAME,
            "the name of the EventBridge bus that receives health changes",
        )?;
        let principal = required(
            lookup,
            PLATFORM_PRINCIPAL_ARN,
            "the ARN of the platform role that customers' trust policies name",
        )?;
        let platform_principal_arn =
            RoleArn::parse(&principal).map_err(|error| ConfigError::Invalid {
                name: PLATFORM_PRINCIPAL_ARN,
                reason: error.message,
            })?;

        let concurrency = number_in_range(
            lookup,
            REVALIDATE_CONCURRENCY,
            DEFAULT_CONCURRENCY as u64,
            MAX_CONCURRENCY as u64,
        )?;
        let sts_rate = number_in_range(
            lookup,
            STS_MAX_REQUESTS_PER_SECOND,
            u64::from(DEFAULT_STS_MAX_REQUESTS_PER_SECOND),
            u64::from(MAX_STS_REQUESTS_PER_SECOND),
        )?;

        Ok(Self {
            table_name,
            event_bus_name,
            platform_principal_arn,
            concurrency: concurrency as usize,
            sts_max_requests_per_second: NonZeroU32::new(sts_rate as u32)
                .unwrap_or(NonZeroU32::MIN),
        })
    }

    /// Returns the run settings: the defaults with the configured concurrency.
    pub fn settings(&self) -> Settings {
        Settings {
            concurrency: self.concurrency,
            ..Settings::default()
        }
    }
}

fn required(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    expected: &'static str,
) -> Result<String, ConfigError> {
    lookup(name)
        .filter(|value| !value.trim().is_empty())
        .ok_or(ConfigError::Missing { name, expected })
}

/// Reads a whole number from 1 to `max`, or `default` when the variable is unset or empty.
fn number_in_range(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = lookup(name).filter(|value| !value.trim().is_empty()) else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(value) if (1..=max).contains(&value) => Ok(value),
        _ => Err(ConfigError::Invalid {
            name,
            reason: format!("{raw:?} is not a whole number from 1 to {max}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup_in(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    const REQUIRED: [(&str, &str); 3] = [
        (TABLE_NAME, "endpoints"),
        (EVENT_BUS_NAME, "default"),
        (
            PLATFORM_PRINCIPAL_ARN,
            "arn:aws:iam::111111111111:role/s3-endpoints-platform",
        ),
    ];

    #[test]
    fn config_uses_defaults_for_tuning() {
        let config = RevalidateConfig::from_lookup(&lookup_in(&REQUIRED)).unwrap();
        assert_eq!(config.table_name, "endpoints");
        assert_eq!(config.event_bus_name, "default");
        assert_eq!(config.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(config.sts_max_requests_per_second.get(), 20);
        assert_eq!(config.settings().concurrency, DEFAULT_CONCURRENCY);
    }

    #[test]
    fn config_reads_tuning_values() {
        let mut vars = REQUIRED.to_vec();
        vars.push((REVALIDATE_CONCURRENCY, "16"));
        vars.push((STS_MAX_REQUESTS_PER_SECOND, " 50 "));
        let config = RevalidateConfig::from_lookup(&lookup_in(&vars)).unwrap();
        assert_eq!(config.concurrency, 16);
        assert_eq!(config.sts_max_requests_per_second.get(), 50);
    }

    #[test]
    fn config_rejects_out_of_range_numbers() {
        for (name, value) in [
            (REVALIDATE_CONCURRENCY, "0"),
            (REVALIDATE_CONCURRENCY, "65"),
            (STS_MAX_REQUESTS_PER_SECOND, "many"),
            (STS_MAX_REQUESTS_PER_SECOND, "501"),
        ] {
            let mut vars = REQUIRED.to_vec();
            vars.push((name, value));
            let error = RevalidateConfig::from_lookup(&lookup_in(&vars)).unwrap_err();
            assert!(
                matches!(&error, ConfigError::Invalid { name: n, .. } if *n == name),
                "{name}={value}: {error:?}"
            );
        }
    }

    #[test]
    fn config_names_missing_variable() {
        for missing in [TABLE_NAME, EVENT_BUS_NAME, PLATFORM_PRINCIPAL_ARN] {
            let vars: Vec<(&str, &str)> = REQUIRED
                .iter()
                .copied()
                .filter(|(name, _)| *name != missing)
                .collect();
            let error = RevalidateConfig::from_lookup(&lookup_in(&vars)).unwrap_err();
            assert!(
                matches!(error, ConfigError::Missing { name, .. } if name == missing),
                "{missing}"
            );
        }
    }

    #[test]
    fn config_rejects_invalid_principal() {
        let mut vars: Vec<(&str, &str)> = REQUIRED[..2].to_vec();
        vars.push((
            PLATFORM_PRINCIPAL_ARN,
            "arn:aws:iam::111111111111:user/alice",
        ));
        let error = RevalidateConfig::from_lookup(&lookup_in(&vars)).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Invalid {
                name: PLATFORM_PRINCIPAL_ARN,
                ..
            }
        ));
    }
}
