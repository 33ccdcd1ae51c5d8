//! Locally signed JWTs and their verification, in place of the HTTP API's JWT authorizer.
//!
//! Tokens are JWS compact serializations signed with HS256 (RFC 7518, section 3.2) under a
//! random key that the server generates at start-up. Verification follows the JWT authorizer
//! of an HTTP API: the `Authorization` header holds the token, with or without a `Bearer `
//! prefix, the signature, `iss`, `aud` and `exp` are checked, `nbf` is checked when present,
//! and the verified claims reach the handler as strings. Tokens with any other `alg`,
//! including `none`, are rejected.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The `iss` claim of local tokens, which the server requires.
pub const ISSUER: &str = "urn:s3-endpoints:local-api";

/// The `aud` claim of local tokens, which the server requires.
pub const AUDIENCE: &str = "s3-endpoints-local";

/// The claim that carries the tenant unless `TENANT_CLAIM` names another one, as in the
/// functions' configuration.
pub const DEFAULT_TENANT_CLAIM: &str = "tenant_id";

/// Lifetime of a token unless the caller picks another one.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(12 * 60 * 60);

const KEY_BYTES: usize = 32;

/// Variable that overrides the path of the key file.
pub const KEY_FILE_VARIABLE: &str = "LOCAL_API_KEY_FILE";

/// Tolerance for clock differences when checking `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 5;

/// The HS256 signing key. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct TokenKey {
    secret: Vec<u8>,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("TokenKey(..)")
    }
}

/// Why a request was not authorized. The messages name the failed check, never the token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header is missing")]
    MissingHeader,

    #[error("the Authorization header is not valid UTF-8 or holds no token")]
    MalformedHeader,

    #[error("the token is not three base64url parts of JSON separated by dots")]
    MalformedToken,

    #[error("the token's algorithm {0:?} is not HS256")]
    UnsupportedAlgorithm(String),

    #[error("the token's signature does not match")]
    InvalidSignature,

    #[error("the token's {claim} claim is invalid: {reason}")]
    InvalidClaim {
        claim: &'static str,
        reason: &'static str,
    },
}

/// Failures to read or write the key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("reading the token key {path} failed: {source}; start the local API server first")]
    Read {
        path: String,
        source: std::io::Error,
    },

    #[error("the token key {path} is not {KEY_BYTES} bytes in hex; restart the local API server")]
    Invalid { path: String },

    #[error("writing the token key {path} failed: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// What a new token says about its holder.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    pub tenant: &'a str,
    pub subject: &'a str,
    /// The claim that carries `tenant`.
    pub tenant_claim: &'a str,
    pub ttl: Duration,
}

impl TokenKey {
    /// Generates a key from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut secret = vec![0u8; KEY_BYTES];
        getrandom::fill(&mut secret)?;
        Ok(Self { secret })
    }

    /// Writes the key in hex to `path`, readable only by its owner, replacing any earlier key.
    pub fn write_to(&self, path: &Path) -> Result<(), KeyFileError> {
        let write_error = |source| KeyFileError::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        let temporary = path.with_extension("tmp");
        let _ = std::fs::remove_file(&temporary);
        let mut file = open_owner_only(&temporary).map_err(write_error)?;
        file.write_all(hex::encode(&self.secret).as_bytes())
            .map_err(write_error)?;
        std::fs::rename(&temporary, path).map_err(write_error)
    }

    /// Reads a key that [`TokenKey::write_to`] wrote.
    pub fn read_from(path: &Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        match hex::decode(text.trim()) {
            Ok(secret) if secret.len() == KEY_BYTES => Ok(Self { secret }),
            _ => Err(KeyFileError::Invalid {
                path: path.display().to_string(),
            }),
        }
    }

    /// Signs a token for `request` that [`TokenKey::verify`] accepts until it expires.
    pub fn issue(&self, request: &TokenRequest<'_>) -> String {
        let now = unix_seconds(SystemTime::now());
        let mut claims = Map::new();
        claims.insert("iss".to_owned(), json!(ISSUER));
        claims.insert("aud".to_owned(), json!(AUDIENCE));
        claims.insert("sub".to_owned(), json!(request.subject));
        claims.insert("iat".to_owned(), json!(now));
        claims.insert("nbf".to_owned(), json!(now));
        claims.insert("exp".to_owned(), json!(now + request.ttl.as_secs()));
        claims.insert("scope".to_owned(), json!("endpoints"));
        claims.insert(request.tenant_claim.to_owned(), json!(request.tenant));
        self.sign(&Value::Object(claims))
    }

    /// Verifies the token in an `Authorization` header value and returns its claims in the
    /// form of `requestContext.authorizer.jwt.claims`.
    pub fn verify(
        &self,
        authorization: Option<&[u8]>,
    ) -> Result<BTreeMap<String, String>, AuthError> {
        let header = authorization.ok_or(AuthError::MissingHeader)?;
        let header = std::str::from_utf8(header).map_err(|_| AuthError::MalformedHeader)?;
        let header = header.trim();
        let token = strip_bearer(header);
        if token.is_empty() || header.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::MalformedHeader);
        }

        let claims = self.verified_claims(token)?;
        check_claims(&claims, unix_seconds(SystemTime::now()))?;
        Ok(gateway_claims(claims))
    }

    fn sign(&self, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&signing_input).finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Checks the header and the signature, and returns the payload.
    fn verified_claims(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(AuthError::MalformedToken)?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(AuthError::MalformedToken)?;
        if payload.contains('.') {
            return Err(AuthError::MalformedToken);
        }

        let header = decode_json_object(header)?;
        let algorithm = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if algorithm != "HS256" {
            return Err(AuthError::UnsupportedAlgorithm(algorithm.to_owned()));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AuthError::MalformedToken)?;
        // verify_slice compares in constant time.
        self.mac(signing_input)
            .verify_slice(&signature)
            .map_err(|_| AuthError::InvalidSignature)?;
        decode_json_object(payload)
    }

    fn mac(&self, signing_input: &str) -> HmacSha256 {
        // HMAC accepts keys of any length, so this never fails.
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(signing_input.as_bytes());
        mac
    }
}

fn decode_json_object(part: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::MalformedToken)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(AuthError::MalformedToken),
    }
}

/// Checks `iss`, `aud`, `exp` and, when present, `nbf` against `now` in seconds since the
/// Unix epoch, allowing [`LEEWAY_SECONDS`] of clock difference.
fn check_claims(claims: &Map<String, Value>, now: u64) -> Result<(), AuthError> {
    let invalid = |claim, reason| Err(AuthError::InvalidClaim { claim, reason });

    if claims.get("iss").and_then(Value::as_str) != Some(ISSUER) {
        return invalid("iss", "it is not the local issuer");
    }
    let audience_matches = match claims.get("aud") {
        Some(Value::String(audience)) => audience == AUDIENCE,
        Some(Value::Array(audiences)) => audiences.iter().any(|a| a.as_str() == Some(AUDIENCE)),
        _ => false,
    };
    if !audience_matches {
        return invalid("aud", "it does not name the local audience");
    }
    match claims.get("exp").and_then(Value::as_u64) {
        None => return invalid("exp", "it is missing or not a number of seconds"),
        Some(expires) if expires + LEEWAY_SECONDS <= now => {
            return invalid("exp", "the token has expired")
        }
        Some(_) => {}
    }
    match claims.get("nbf") {
        None => Ok(()),
        Some(not_before) => match not_before.as_u64() {
            Some(not_before) if not_before <= now + LEEWAY_SECONDS => Ok(()),
            Some(_) => invalid("nbf", "the token is not valid yet"),
            None => invalid("nbf", "it is not a number of seconds"),
        },
    }
}

/// Returns the path of the key file that the server writes and `local-api token` reads:
/// `LOCAL_API_KEY_FILE`, else `.local/local-api/token-key` in the repository.
pub fn default_key_file() -> PathBuf {
    match std::env::var_os(KEY_FILE_VARIABLE) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".local/local-api/token-key"),
    }
}

/// Strips a `Bearer ` prefix in any letter case, which the JWT authorizer accepts as well as
/// a bare token.
fn strip_bearer(header: &str) -> &str {
    let prefix = "bearer ";
    match header.get(..prefix.len()) {
        Some(start) if start.eq_ignore_ascii_case(prefix) => header[prefix.len()..].trim_start(),
        _ => header,
    }
}

/// Converts claims to strings as API Gateway does: numbers and booleans in JSON notation,
/// arrays as `[a b]`, and objects as JSON text.
fn gateway_claims(claims: Map<String, Value>) -> BTreeMap<String, String> {
    claims
        .into_iter()
        .map(|(name, value)| (name, claim_text(&value)))
        .collect()
}

fn claim_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(claim_text).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(unix)]
fn open_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_for(tenant: &str) -> TokenRequest<'_> {
        TokenRequest {
            tenant,
            subject: "local-user",
            tenant_claim: DEFAULT_TENANT_CLAIM,
            ttl: Duration::from_secs(60),
        }
    }

    fn sign(claims: Value, key: &TokenKey) -> String {
        key.sign(&claims)
    }

    fn valid_claims() -> Value {
        let now = unix_seconds(SystemTime::now());
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "user", "exp": now + 60, "tenant_id": "acme"})
    }

    #[test]
    fn verify_accepts_issued_token() {
        let key = TokenKey::generate().unwrap();
        let token = key.issue(&request_for("acme"));

        let claims = key
            .verify(Some(format!("Bearer {token}").as_bytes()))
            .unwrap();

        assert_eq!(claims["tenant_id"], "acme");
        assert_eq!(claims["sub"], "local-user");
        assert_eq!(claims["iss"], ISSUER);
        assert!(claims["exp"].parse::<u64>().is_ok(), "{}", claims["exp"]);
    }

    #[test]
    fn verify_accepts_bare_and_lowercase_bearer() {
        let key = TokenKey::generate().unwrap();
        let token = key.issue(&request_for("acme"));

        assert!(key.verify(Some(token.as_bytes())).is_ok());
        assert!(key
            .verify(Some(format!("bearer {token}").as_bytes()))
            .is_ok());
    }

    #[test]
    fn verify_rejects_other_key() {
        let token = TokenKey::generate().unwrap().issue(&request_for("acme"));
        let other = TokenKey::generate().unwrap();

        assert!(matches!(
            other.verify(Some(token.as_bytes())),
            Err(AuthError::InvalidSignature)
        ));
    }

    #[test]
    fn verify_rejects_wrong_claims() {
        let key = TokenKey::generate().unwrap();
        let now = unix_seconds(SystemTime::now());
        let mut cases = Vec::new();
        for (name, value) in [
            ("iss", json!("urn:other")),
            ("aud", json!("other-audience")),
            ("exp", json!(now - 3600)),
            ("nbf", json!(now + 3600)),
        ] {
            let mut claims = valid_claims();
            claims[name] = value;
            cases.push((name, claims));
        }
        let mut without_exp = valid_claims();
        without_exp.as_object_mut().unwrap().remove("exp");
        cases.push(("missing exp", without_exp));

        for (case, claims) in cases {
            let token = sign(claims, &key);
            assert!(key.verify(Some(token.as_bytes())).is_err(), "{case}");
        }
    }

    #[test]
    fn verify_rejects_missing_or_empty_header() {
        let key = TokenKey::generate().unwrap();

        assert!(matches!(key.verify(None), Err(AuthError::MissingHeader)));
        assert!(matches!(
            key.verify(Some(b"Bearer ")),
            Err(AuthError::MalformedHeader)
        ));
        assert!(matches!(
            key.verify(Some(b"\xff\xfe")),
            Err(AuthError::MalformedHeader)
        ));
        assert!(key.verify(Some(b"Bearer not.a.token")).is_err());
    }

    #[test]
    fn verify_rejects_unsigned_token() {
        let key = TokenKey::generate().unwrap();
        let header = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
        let body = base64_url(valid_claims().to_string().as_bytes());

        assert!(key
            .verify(Some(format!("{header}.{body}.").as_bytes()))
            .is_err());
    }

    #[test]
    fn gateway_claims_flatten_like_api_gateway() {
        let claims = json!({"n": 5, "b": true, "list": ["a", "b"], "object": {"k": 1}});
        let Value::Object(claims) = claims else {
            unreachable!()
        };

        let flat = gateway_claims(claims);

        assert_eq!(flat["n"], "5");
        assert_eq!(flat["b"], "true");
        assert_eq!(flat["list"], "[a b]");
        assert_eq!(flat["object"], r#"{"k":1}"#);
    }

    #[test]
    fn key_file_round_trips() {
        let directory = std::env::temp_dir().join(crate::unique_name("token-key"));
        let path = directory.join("jwt-secret");
        let key = TokenKey::generate().unwrap();

        key.write_to(&path).unwrap();
        let read = TokenKey::read_from(&path).unwrap();
        std::fs::remove_dir_all(&directory).unwrap();

        assert_eq!(read.secret, key.secret);
    }

    fn base64_url(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }
}
