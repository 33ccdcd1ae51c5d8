//! Classification of failed AWS calls into stable error codes, messages and hints.
//!
//! An SDK error is first reduced to [`ErrorFacts`], an owned summary without SDK types, so
//! that the classifier is a pure function that unit tests can feed directly.

use super::error_code;
use super::hints::{self, Call};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// Response header in which S3 names the region of a bucket, sent in 200, 301 and 403
/// responses to HeadBucket.
pub(crate) const BUCKET_REGION_HEADER: &str = "x-amz-bucket-region";

/// The cause of a failed check, in the form reported to the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckFailure {
    /// A stable code from [`error_code`], or the AWS error code when no class fits.
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
}

impl CheckFailure {
    pub fn new(code: &str, message: impl Into<String>, hint: Option<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            hint,
        }
    }

    /// Returns whether the same call may succeed when repeated after a pause.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.code.as_str(),
            error_code::THROTTLING | error_code::SERVICE_UNAVAILABLE
        )
    }

    /// Returns whether the credentials were rejected as such, so a cached copy must not be reused.
    pub fn rejects_credentials(&self) -> bool {
        self.code == error_code::INVALID_CREDENTIALS
    }
}

/// The way a call failed: with a service error response or without any response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The service returned an error status.
    Service,
    /// The call or one of its phases (connect, read) timed out.
    Timeout,
    /// The connection could not be opened or broke.
    Connection,
    /// The service returned a response that could not be parsed.
    InvalidResponse,
    /// The request could not be built, which is a bug on the platform's side.
    Internal,
}

/// The parts of a failed call that classification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorFacts {
    pub kind: FailureKind,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    /// The bucket's region from the [`BUCKET_REGION_HEADER`] response header.
    pub bucket_region: Option<String>,
    /// The SDK's description of the error and its causes, for transport failures.
    pub detail: String,
}

impl ErrorFacts {
    /// Builds the facts of a service answer, as unit tests need them.
    #[cfg(test)]
    pub fn service(status: u16, code: Option<&str>, message: Option<&str>) -> Self {
        Self {
            kind: FailureKind::Service,
            status: Some(status),
            code: code.map(str::to_owned),
            message: message.map(str::to_owned),
            bucket_region: None,
            detail: String::new(),
        }
    }

    /// Builds the facts of a call that failed without a service answer.
    pub fn transport(kind: FailureKind, detail: String) -> Self {
        Self {
            kind,
            status: None,
            code: None,
            message: None,
            bucket_region: None,
            detail,
        }
    }

    /// Builds the facts of a call that did not finish within `limit`.
    pub fn timed_out(limit: Duration) -> Self {
        Self::transport(
            FailureKind::Timeout,
            format!("no answer within {} ms", limit.as_millis()),
        )
    }

    pub fn from_sdk<E>(error: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let raw = error.raw_response();
        let header = |name: &str| {
            raw.and_then(|response| response.headers().get(name))
                .map(str::to_owned)
        };
        Self {
            kind: kind_of(error),
            status: raw.map(|response| response.status().as_u16()),
            code: error.code().map(str::to_owned),
            message: error.message().map(str::to_owned),
            bucket_region: header(BUCKET_REGION_HEADER),
            detail: DisplayErrorContext(error).to_string(),
        }
    }

    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    fn message_or_status(&self) -> String {
        match (&self.message, self.status) {
            (Some(message), _) if !message.is_empty() => message.clone(),
            (_, Some(status)) => format!("HTTP status {status}"),
            _ => self.detail.clone(),
        }
    }
}

fn kind_of<E>(error: &SdkError<E, HttpResponse>) -> FailureKind {
    match error {
        SdkError::ServiceError(_) => FailureKind::Service,
        SdkError::TimeoutError(_) => FailureKind::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => FailureKind::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_user() => FailureKind::Internal,
        SdkError::DispatchFailure(_) => FailureKind::Connection,
        SdkError::ResponseError(_) => FailureKind::InvalidResponse,
        _ => FailureKind::Internal,
    }
}

/// Classifies a failed call. The result names the cause in the customer's terms and, where the
/// customer can fix it, contains a hint on what to change.
pub(crate) fn classify(facts: &ErrorFacts, call: &Call) -> CheckFailure {
    let operation = call.operation();
    match facts.kind {
        FailureKind::Service => classify_service(facts, call),
        FailureKind::Timeout => CheckFailure::new(
            error_code::TIMEOUT,
            format!("{operation} timed out: {}", facts.detail),
            Some(hints::TRANSPORT.to_owned()),
        ),
        FailureKind::Connection => CheckFailure::new(
            error_code::CONNECTION_ERROR,
            format!("{operation} failed to connect: {}", facts.detail),
            Some(hints::TRANSPORT.to_owned()),
        ),
        FailureKind::InvalidResponse => CheckFailure::new(
            error_code::INVALID_RESPONSE,
            format!(
                "{operation} returned a response that could not be read: {}",
                facts.detail
            ),
            Some(hints::TRANSPORT.to_owned()),
        ),
        FailureKind::Internal => CheckFailure::new(
            error_code::INTERNAL_ERROR,
            format!("{operation} could not be sent: {}", facts.detail),
            None,
        ),
    }
}

fn classify_service(facts: &ErrorFacts, call: &Call) -> CheckFailure {
    let operation = call.operation();
    let code = facts.code();
    let message = format!(
        "{operation} failed: {} ({})",
        facts.message_or_status(),
        code_or_status(facts)
    );

    if is_throttling(code, facts.status) {
        return CheckFailure::new(
            error_code::THROTTLING,
            message,
            Some(hints::THROTTLING.to_owned()),
        );
    }
    if code == "RegionDisabledException" {
        return CheckFailure::new(
            error_code::REGION_DISABLED,
            message,
            Some(hints::region_disabled(call)),
        );
    }
    if is_credentials_rejected(code) {
        return CheckFailure::new(
            error_code::INVALID_CREDENTIALS,
            message,
            Some(hints::INVALID_CREDENTIALS.to_owned()),
        );
    }
    if is_kms_denial(code, facts.message.as_deref()) {
        return CheckFailure::new(
            error_code::KMS_ACCESS_DENIED,
            message,
            Some(hints::kms_denied(call)),
        );
    }
    if is_access_denied(code, facts.status) {
        return CheckFailure::new(
            error_code::ACCESS_DENIED,
            message,
            Some(hints::access_denied(call)),
        );
    }
    if code == "NoSuchBucket" {
        return CheckFailure::new(
            error_code::NO_SUCH_BUCKET,
            message,
            Some(hints::no_such_bucket(call)),
        );
    }
    if is_wrong_region(code, facts.status) {
        return wrong_region(facts.bucket_region.as_deref(), call);
    }
    if facts.status.is_some_and(|status| status >= 500) {
        return CheckFailure::new(
            error_code::SERVICE_UNAVAILABLE,
            message,
            Some(hints::TRANSPORT.to_owned()),
        );
    }
    let passed_through = if code.is_empty() {
        error_code::UNEXPECTED_RESPONSE
    } else {
        code
    };
    CheckFailure::new(passed_through, message, None)
}

/// Builds the failure for a bucket that is not in the endpoint's region, naming the real region
/// when S3 sent it.
pub(crate) fn wrong_region(actual: Option<&str>, call: &Call) -> CheckFailure {
    let expected = call.spec().region.as_str();
    let message = match actual {
        Some(actual) => format!("bucket is in {actual}, endpoint says {expected}"),
        None => format!("bucket is not in {expected}, the region the endpoint says"),
    };
    CheckFailure::new(
        error_code::WRONG_REGION,
        message,
        Some(hints::wrong_region(actual)),
    )
}

fn code_or_status(facts: &ErrorFacts) -> String {
    match (facts.code(), facts.status) {
        ("", Some(status)) => format!("HTTP {status}"),
        ("", None) => "no error code".to_owned(),
        (code, _) => code.to_owned(),
    }
}

fn is_throttling(code: &str, status: Option<u16>) -> bool {
    const CODES: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
    ];
    CODES.contains(&code) || status == Some(429)
}

fn is_credentials_rejected(code: &str) -> bool {
    const CODES: &[&str] = &[
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidToken",
        "TokenRefreshRequired",
    ];
    CODES.contains(&code)
}

/// KMS denials arrive either with a `KMS.` code or as a plain S3 AccessDenied whose message
/// names a `kms:` action or the KMS key.
fn is_kms_denial(code: &str, message: Option<&str>) -> bool {
    if code.starts_with("KMS.") {
        return true;
    }
    let mentions_kms = message.is_some_and(|text| text.to_ascii_lowercase().contains("kms"));
    is_access_denied(code, None) && mentions_kms
}

fn is_access_denied(code: &str, status: Option<u16>) -> bool {
    // HEAD answers carry no body, so a denied HeadObject or HeadBucket has only its status.
    matches!(code, "AccessDenied" | "AccessDeniedException" | "Forbidden")
        || (code.is_empty() && status == Some(403))
}

fn is_wrong_region(code: &str, status: Option<u16>) -> bool {
    matches!(
        code,
        "PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException"
    ) || status == Some(301)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::hints::S3Call;
    use crate::domain::{ConnectionInput, ConnectionSpec};
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn spec() -> ConnectionSpec {
        ConnectionSpec::parse(&ConnectionInput {
            mode: Some("read_write".to_owned()),
            role_arn: Some("arn:aws:iam::111122223333:role/Reader".to_owned()),
            bucket: Some("acme-billing".to_owned()),
            prefix: Some("exports".to_owned()),
            region: Some("eu-west-1".to_owned()),
            kms_key_arn: None,
        })
        .unwrap()
    }

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
    }

    fn list_error(
        status: u16,
        code: &str,
        message: &str,
    ) -> SdkError<ListObjectsV2Error, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(ListObjectsV2Error::generic(meta), response(status))
    }

    fn classify_list(error: &SdkError<ListObjectsV2Error, HttpResponse>) -> CheckFailure {
        let spec = spec();
        classify(&ErrorFacts::from_sdk(error), &Call::S3(S3Call::list(&spec)))
    }

    #[test]
    fn classify_names_action_and_resource_on_access_denied() {
        let failure = classify_list(&list_error(403, "AccessDenied", "Access Denied"));
        assert_eq!(failure.code, "AccessDenied");
        assert!(
            failure.message.contains("ListObjectsV2"),
            "{}",
            failure.message
        );
        let hint = failure.hint.unwrap();
        assert!(hint.contains("s3:ListBucket"), "{hint}");
        assert!(hint.contains("arn:aws:s3:::acme-billing"), "{hint}");
        assert!(hint.contains("exports/*"), "{hint}");
        assert!(hint.contains("owned by account 111122223333"), "{hint}");
    }

    #[test]
    fn classify_detects_kms_denial_in_message() {
        let failure = classify_list(&list_error(
            403,
            "AccessDenied",
            "User is not authorized to perform: kms:Decrypt",
        ));
        assert_eq!(failure.code, "KmsAccessDenied");
        assert!(failure.hint.unwrap().contains("key policy"));
    }

    #[test]
    fn classify_detects_kms_error_codes() {
        let failure = classify_list(&list_error(400, "KMS.DisabledException", "key disabled"));
        assert_eq!(failure.code, "KmsAccessDenied");
    }

    #[test]
    fn classify_maps_missing_bucket() {
        let failure = classify_list(&list_error(
            404,
            "NoSuchBucket",
            "The bucket does not exist",
        ));
        assert_eq!(failure.code, "NoSuchBucket");
        assert!(failure.hint.unwrap().contains("acme-billing"));
    }

    #[test]
    fn classify_maps_redirect_to_wrong_region() {
        let meta = ErrorMetadata::builder().build();
        let mut raw = response(301);
        raw.headers_mut().insert(BUCKET_REGION_HEADER, "us-west-2");
        let error = SdkError::service_error(ListObjectsV2Error::generic(meta), raw);
        let failure = classify_list(&error);
        assert_eq!(failure.code, "WrongRegion");
        assert_eq!(
            failure.message,
            "bucket is in us-west-2, endpoint says eu-west-1"
        );
        assert!(failure.hint.unwrap().contains("us-west-2"));
    }

    #[test]
    fn classify_marks_throttling_and_server_errors_transient() {
        for (status, code) in [
            (503, "SlowDown"),
            (400, "Throttling"),
            (500, "InternalError"),
        ] {
            let failure = classify_list(&list_error(status, code, "try again"));
            assert!(failure.is_transient(), "{code}: {}", failure.code);
        }
        let denied = classify_list(&list_error(403, "AccessDenied", "no"));
        assert!(!denied.is_transient());
    }

    #[test]
    fn classify_maps_rejected_credentials() {
        let failure = classify_list(&list_error(400, "ExpiredToken", "token expired"));
        assert_eq!(failure.code, "InvalidCredentials");
        assert!(failure.rejects_credentials());
    }

    #[test]
    fn classify_keeps_unknown_codes() {
        let failure = classify_list(&list_error(400, "InvalidArgument", "bad"));
        assert_eq!(failure.code, "InvalidArgument");
        assert!(failure.message.contains("bad"));
    }

    #[test]
    fn classify_maps_head_forbidden_without_code() {
        let spec = spec();
        let facts = ErrorFacts::service(403, None, None);
        let failure = classify(&facts, &Call::S3(S3Call::read(&spec)));
        assert_eq!(failure.code, "AccessDenied");
        assert!(failure.message.contains("HTTP 403"), "{}", failure.message);
        assert!(failure
            .hint
            .unwrap()
            .contains("arn:aws:s3:::acme-billing/exports/*"));
    }

    #[test]
    fn classify_maps_connector_timeout_and_io() {
        let spec = spec();
        let call = Call::S3(S3Call::list(&spec));
        let timeout: SdkError<ListObjectsV2Error, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::timeout("read timed out".into()));
        assert_eq!(
            classify(&ErrorFacts::from_sdk(&timeout), &call).code,
            "Timeout"
        );
        let io: SdkError<ListObjectsV2Error, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        let failure = classify(&ErrorFacts::from_sdk(&io), &call);
        assert_eq!(failure.code, "ConnectionError");
        assert!(
            failure.message.contains("connection refused"),
            "{}",
            failure.message
        );
        let sdk_timeout: SdkError<ListObjectsV2Error, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        assert_eq!(
            classify(&ErrorFacts::from_sdk(&sdk_timeout), &call).code,
            "Timeout"
        );
    }

    #[test]
    fn classify_assume_role_denial_hint() {
        let spec = spec();
        let external_id = crate::domain::ExternalId::parse("tenant-external-id").unwrap();
        let call = Call::AssumeRole(hints::AssumeRoleCall {
            spec: &spec,
            platform_principal_arn: "arn:aws:iam::999988887777:role/platform",
            external_id: &external_id,
        });
        let meta = ErrorMetadata::builder()
            .code("AccessDenied")
            .message("not authorized to perform: sts:AssumeRole")
            .build();
        let error = SdkError::service_error(AssumeRoleError::generic(meta), response(403));
        let failure = classify(&ErrorFacts::from_sdk(&error), &call);
        assert_eq!(failure.code, "AccessDenied");
        let hint = failure.hint.unwrap();
        assert!(
            hint.contains("arn:aws:iam::999988887777:role/platform"),
            "{hint}"
        );
        assert!(hint.contains("tenant-external-id"), "{hint}");
        assert!(
            hint.contains("arn:aws:iam::111122223333:role/Reader"),
            "{hint}"
        );
    }

    #[test]
    fn classify_maps_region_disabled() {
        let spec = spec();
        let external_id = crate::domain::ExternalId::parse("tenant-external-id").unwrap();
        let call = Call::AssumeRole(hints::AssumeRoleCall {
            spec: &spec,
            platform_principal_arn: "arn:aws:iam::999988887777:role/platform",
            external_id: &external_id,
        });
        let facts = ErrorFacts::service(403, Some("RegionDisabledException"), Some("disabled"));
        let failure = classify(&facts, &call);
        assert_eq!(failure.code, "RegionDisabled");
        let hint = failure.hint.unwrap();
        assert!(hint.contains("eu-west-1"), "{hint}");
        assert!(hint.contains("111122223333"), "{hint}");
    }
}
