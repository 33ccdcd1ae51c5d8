//! The AWS SDK configuration that every function loads at start-up: region and credentials from
//! the environment, and one HTTPS client, shared by all SDK clients of the function, that
//! trusts a chosen set of root certificates.
//!
//! By default the functions trust only the roots of Amazon Trust Services, which issues the
//! certificates of every AWS endpoint they call. That narrows who could impersonate an AWS
//! endpoint from the hundred or more authorities of the system store to AWS's own. It also
//! shortens start-up, because the SDK reads and decodes the whole system store when a client is
//! built, which was most of the functions' extra init time in the cold-start benchmark.

use crate::config::{environment, non_empty, ConfigError};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// Optional: `amazon` or `system`, the root certificates that TLS connections trust.
pub const TLS_TRUST_ROOTS: &str = "TLS_TRUST_ROOTS";

/// The root certificates of Amazon Trust Services, in PEM, with their fingerprints.
const AMAZON_TRUST_ROOTS_PEM: &str = include_str!("amazon-trust-roots.pem");

/// The set of root certificates that TLS connections to AWS trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    /// Amazon Root CA 1 to 4 and Starfield Services Root CA G2, built into the binary.
    Amazon,
    /// The operating system's certificate store, read at start-up.
    System,
}

impl TrustRoots {
    /// Reads [`TLS_TRUST_ROOTS`] through `lookup`. When it is unset, regions of the China
    /// partition get the system store, because their endpoints are run by other operators
    /// whose certificate authorities this project does not list.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        match non_empty(lookup, TLS_TRUST_ROOTS).as_deref() {
            Some("amazon") => Ok(Self::Amazon),
            Some("system") => Ok(Self::System),
            Some(other) => Err(ConfigError::Invalid {
                name: TLS_TRUST_ROOTS,
                reason: format!(
                    "{other:?} is neither amazon nor system; leave it unset for amazon"
                ),
            }),
            None if is_china_region(lookup) => Ok(Self::System),
            None => Ok(Self::Amazon),
        }
    }

    fn trust_store(self) -> TrustStore {
        match self {
            Self::Amazon => TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(AMAZON_TRUST_ROOTS_PEM),
            Self::System => TrustStore::default(),
        }
    }
}

fn is_china_region(lookup: &dyn Fn(&str) -> Option<String>) -> bool {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| non_empty(lookup, name))
        .is_some_and(|region| region.starts_with("cn-"))
}

/// Builds the HTTPS client (rustls with ring) that trusts `roots`. It also speaks plain
/// HTTP, which local emulators use.
pub fn http_client(roots: TrustRoots) -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(roots.trust_store())
        .build()
        .expect("a TLS context with a trust store and no other settings always builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// Loads the SDK configuration from the environment, as `aws_config::load_defaults` does,
/// with the HTTPS client of [`TLS_TRUST_ROOTS`].
pub async fn load_from_env() -> Result<SdkConfig, ConfigError> {
    let roots = TrustRoots::from_lookup(&environment)?;
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client(roots))
        .load()
        .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(variables: &[(&str, &str)]) -> Result<TrustRoots, ConfigError> {
        TrustRoots::from_lookup(&|name| {
            variables
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn trust_roots_default_to_amazon() {
        assert_eq!(roots(&[]), Ok(TrustRoots::Amazon));
        assert_eq!(roots(&[(TLS_TRUST_ROOTS, "")]), Ok(TrustRoots::Amazon));
        assert_eq!(
            roots(&[("AWS_REGION", "eu-west-1")]),
            Ok(TrustRoots::Amazon)
        );
    }

    #[test]
    fn trust_roots_default_to_system_in_china() {
        assert_eq!(
            roots(&[("AWS_REGION", "cn-north-1")]),
            Ok(TrustRoots::System)
        );
        assert_eq!(
            roots(&[("AWS_DEFAULT_REGION", "cn-northwest-1")]),
            Ok(TrustRoots::System)
        );
    }

    #[test]
    fn trust_roots_follow_the_setting() {
        assert_eq!(
            roots(&[(TLS_TRUST_ROOTS, "system")]),
            Ok(TrustRoots::System)
        );
        let in_china = [(TLS_TRUST_ROOTS, "amazon"), ("AWS_REGION", "cn-north-1")];
        assert_eq!(roots(&in_china), Ok(TrustRoots::Amazon));
    }

    #[test]
    fn trust_roots_reject_other_values() {
        let error = roots(&[(TLS_TRUST_ROOTS, "Amazon")]).unwrap_err();

        assert!(error.to_string().contains(TLS_TRUST_ROOTS), "{error}");
        assert!(error.to_string().contains("\"Amazon\""), "{error}");
    }

    #[test]
    fn amazon_roots_hold_five_certificates() {
        let count = AMAZON_TRUST_ROOTS_PEM
            .matches("-----BEGIN CERTIFICATE-----")
            .count();
        assert_eq!(count, 5);
    }

    /// Returns (fingerprint from the comment, SHA-256 of the DER) for each certificate.
    fn stated_and_computed_fingerprints() -> Vec<(String, String)> {
        use base64::Engine;
        use sha2::{Digest, Sha256};

        let mut pairs = Vec::new();
        let mut stated = None;
        let mut body = String::new();
        for line in AMAZON_TRUST_ROOTS_PEM.lines() {
            if let Some(fingerprint) = line.strip_prefix("# SHA-256 ") {
                stated = Some(fingerprint.replace(':', "").to_ascii_lowercase());
            } else if line == "-----END CERTIFICATE-----" {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(&body)
                    .unwrap();
                let computed = hex::encode(Sha256::digest(&der));
                pairs.push((stated.take().unwrap_or_default(), computed));
                body.clear();
            } else if !line.starts_with('#') && !line.starts_with("-----") {
                body.push_str(line.trim());
            }
        }
        pairs
    }

    #[test]
    fn amazon_roots_match_their_fingerprints() {
        let pairs = stated_and_computed_fingerprints();

        assert_eq!(pairs.len(), 5);
        for (stated, computed) in pairs {
            assert_eq!(stated, computed);
        }
    }

    /// The SDK parses the trust store when a client is built and panics on a certificate it
    /// cannot read, so building a client proves that every certificate parses.
    #[test]
    fn amazon_roots_build_a_client() {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
            .http_client(http_client(TrustRoots::Amazon))
            .build();

        let _client = aws_sdk_dynamodb::Client::from_conf(config);
    }
}
