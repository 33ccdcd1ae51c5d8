//! One function per check, each making the AWS calls the check needs.

use super::deadline::{Backoff, Deadline};
use super::error_code;
use super::failure::{classify, wrong_region, CheckFailure, ErrorFacts, FailureKind};
use super::hints::{self, AssumeRoleCall, Call, S3Call};
use super::runner::CheckSteps;
use super::session::session_name;
use super::tester::AwsConnectionTester;
use super::{CheckName, TestRequest};
use crate::clock::{IdGenerator, UlidGenerator};
use crate::domain::{ConnectionSpec, TEST_OBJECT_FOLDER};
use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Lifetime of assumed-role credentials. It is the STS minimum, because a test needs seconds,
/// and stays below the 3,600-second cap STS sets on chained role sessions.
const SESSION_DURATION_SECONDS: i32 = 900;

/// An object the write check put into the bucket.
#[derive(Debug, Clone)]
struct TestObject {
    key: String,
    body: Vec<u8>,
}

/// The state of one test as it walks through the checks.
pub(crate) struct AwsSteps<'a> {
    tester: &'a AwsConnectionTester,
    request: &'a TestRequest,
    deadline: Deadline,
    role_s3: Option<aws_sdk_s3::Client>,
    first_listed_key: Option<String>,
    written: Option<TestObject>,
}

#[async_trait]
impl CheckSteps for AwsSteps<'_> {
    async fn run(&mut self, check: CheckName) -> Result<String, CheckFailure> {
        match check {
            CheckName::Region => self.check_region().await,
            CheckName::AssumeRole => self.check_assume_role().await,
            CheckName::List => self.check_list().await,
            CheckName::Read => self.check_read().await,
            CheckName::Write => self.check_write().await,
            CheckName::ReadBack => self.check_read_back().await,
            CheckName::Delete => self.check_delete().await,
        }
    }

    fn deadline_note(&self, check: CheckName) -> Option<String> {
        let written = self
            .written
            .as_ref()
            .filter(|_| check == CheckName::Delete)?;
        Some(format!(
            "the test object {} was left behind; delete it",
            written.key
        ))
    }
}

impl<'a> AwsSteps<'a> {
    pub fn new(
        tester: &'a AwsConnectionTester,
        request: &'a TestRequest,
        deadline: Deadline,
    ) -> Self {
        Self {
            tester,
            request,
            deadline,
            role_s3: None,
            first_listed_key: None,
            written: None,
        }
    }

    fn spec(&self) -> &'a ConnectionSpec {
        &self.request.spec
    }

    /// Finds the bucket's region with the platform's own credentials. HeadBucket returns the
    /// region even when it denies the request, so the check needs no permission
    /// from the customer and can run before AssumeRole.
    async fn check_region(&mut self) -> Result<String, CheckFailure> {
        let spec = self.spec();
        let call = Call::S3(S3Call::head_bucket(spec));
        let client = self.tester.platform_s3(spec);

        let result = self
            .send(&call, || {
                client
                    .head_bucket()
                    .bucket(spec.bucket.as_str())
                    .expected_bucket_owner(spec.role_arn.account_id())
                    .send()
            })
            .await;
        let reported = match result {
            Ok(output) => output.bucket_region().map(str::to_owned),
            Err(facts) => region_from_failure(&facts, &call)?,
        };

        let bucket = spec.bucket.as_str();
        match reported {
            Some(actual) if actual == spec.region.as_str() => {
                Ok(format!("bucket {bucket} is in {actual}"))
            }
            Some(actual) => Err(wrong_region(Some(&actual), &call)),
            None => Ok(format!(
                "bucket {bucket} exists, but S3 did not return its region, so the region is not confirmed"
            )),
        }
    }

    async fn check_assume_role(&mut self) -> Result<String, CheckFailure> {
        let spec = self.spec();
        let role = spec.role_arn.as_str();
        let cache = self.tester.options().credentials_cache.clone();
        // Held until this check returns, so that other tests of the role wait for the
        // credentials that this one may store. The test's deadline bounds the wait.
        let _turn = match &cache {
            Some(cache) => {
                let turn = cache.take_turn(&spec.role_arn, &self.request.external_id);
                Some(turn.await)
            }
            None => None,
        };
        let cached = cache
            .as_ref()
            .and_then(|cache| cache.get(&spec.role_arn, &self.request.external_id));
        if let Some(credentials) = cached {
            self.role_s3 = Some(self.tester.role_s3(spec, credentials));
            return Ok(format!(
                "reused the credentials of an earlier AssumeRole of {role}"
            ));
        }

        let session = session_name(self.request.endpoint_id.as_ref());
        let credentials = self.assume_role(&session).await?;

        if let Some(cache) = &cache {
            cache.insert(
                &spec.role_arn,
                &self.request.external_id,
                credentials.clone(),
            );
        }
        self.role_s3 = Some(self.tester.role_s3(spec, credentials));
        Ok(format!("assumed {role} as session {session}"))
    }

    /// Calls AssumeRole, repeating denied calls within the retry budget because IAM applies new
    /// and changed roles with a delay.
    async fn assume_role(&self, session: &str) -> Result<Credentials, CheckFailure> {
        let spec = self.spec();
        let options = self.tester.options();
        let call = Call::AssumeRole(AssumeRoleCall {
            spec,
            platform_principal_arn: &options.platform_principal_arn,
            external_id: &self.request.external_id,
        });
        let client = self.tester.sts(spec.region);
        let started = Instant::now();
        let retry_until = (started + options.assume_role_retry_budget).min(self.deadline.end());
        let mut backoff = Backoff::new(options.initial_backoff, options.max_backoff);

        let mut attempts = 1;
        loop {
            self.take_sts_slot(&call).await?;
            let result = self
                .send(&call, || {
                    client
                        .assume_role()
                        .role_arn(spec.role_arn.as_str())
                        .role_session_name(session)
                        .external_id(self.request.external_id.as_str())
                        .duration_seconds(SESSION_DURATION_SECONDS)
                        .send()
                })
                .await;
            let failure = match result {
                Ok(output) => return credentials_from(&output, &call),
                Err(facts) => classify(&facts, &call),
            };

            let delay = backoff.next_delay();
            let may_retry =
                failure.code == error_code::ACCESS_DENIED && Instant::now() + delay < retry_until;
            if !may_retry {
                return Err(with_attempts(failure, attempts, started.elapsed()));
            }
            tracing::info!(
                attempt = attempts,
                delay_ms = delay.as_millis() as u64,
                "AssumeRole denied; retrying because IAM may not have applied the role yet"
            );
            tokio::time::sleep(delay).await;
            attempts += 1;
        }
    }

    async fn take_sts_slot(&self, call: &Call<'_>) -> Result<(), CheckFailure> {
        let Some(limiter) = &self.tester.options().sts_rate_limiter else {
            return Ok(());
        };
        limiter.acquire(self.deadline.end()).await.map_err(|error| {
            CheckFailure::new(
                error_code::THROTTLING,
                format!("{} was not sent: {error}", call.operation()),
                Some(hints::THROTTLING.to_owned()),
            )
        })
    }

    async fn check_list(&mut self) -> Result<String, CheckFailure> {
        let spec = self.spec();
        let call = Call::S3(S3Call::list(spec));
        let client = self.role_client()?;
        let prefix = Some(spec.prefix.as_str()).filter(|prefix| !prefix.is_empty());

        let output = self
            .send(&call, || {
                client
                    .list_objects_v2()
                    .bucket(spec.bucket.as_str())
                    .set_prefix(prefix.map(str::to_owned))
                    .max_keys(1)
                    .expected_bucket_owner(spec.role_arn.account_id())
                    .send()
            })
            .await
            .map_err(|facts| self.fail(&facts, &call))?;

        self.first_listed_key = output
            .contents()
            .first()
            .and_then(|object| object.key())
            .map(str::to_owned);
        let place = describe_prefix(spec);
        Ok(match &self.first_listed_key {
            Some(key) => format!("listed objects {place}, the first is {key}"),
            None => format!("listed objects {place}, none exist yet"),
        })
    }

    /// Proves GetObject with one byte of the first listed object, or, when nothing is listed,
    /// with a key that does not exist: S3 returns NoSuchKey (404) to a caller allowed to
    /// read and to list, and AccessDenied (403) to one that may not read.
    async fn check_read(&mut self) -> Result<String, CheckFailure> {
        match self.first_listed_key.clone() {
            Some(key) => self.read_listed(&key).await,
            None => self.read_probe().await,
        }
    }

    async fn read_listed(&self, key: &str) -> Result<String, CheckFailure> {
        let call = Call::S3(S3Call::read(self.spec()));
        match self.get_first_byte(&call, key).await {
            Ok(_) => Ok(format!("read the first byte of {key}")),
            // An empty object has no byte 0, but S3 checks permission before the range.
            Err(facts) if facts.code() == "InvalidRange" => {
                Ok(format!("GetObject on {key} is allowed; the object is empty"))
            }
            Err(facts) if facts.code() == "InvalidObjectState" => Ok(format!(
                "GetObject on {key} is allowed; the object is in an archive storage class and must be restored before it can be read"
            )),
            Err(facts) if facts.code() == "NoSuchKey" => Ok(format!(
                "GetObject is allowed; {key} was deleted after it was listed"
            )),
            Err(facts) => Err(self.fail(&facts, &call)),
        }
    }

    async fn read_probe(&self) -> Result<String, CheckFailure> {
        let spec = self.spec();
        let call = Call::S3(S3Call::read(spec));
        let key = spec
            .prefix
            .object_key(&format!("{TEST_OBJECT_FOLDER}probe-{}", unique_id()));
        let place = describe_prefix(spec);

        match self.get_first_byte(&call, &key).await {
            Ok(_) => Ok(format!("read the first byte of {key}")),
            Err(facts) if facts.code() == "NoSuchKey" || facts.status == Some(404) => Ok(format!(
                "GetObject {place} is allowed: S3 returned NoSuchKey for the missing key {key}, as it does only to callers allowed to read"
            )),
            Err(facts) => Err(self.fail(&facts, &call)),
        }
    }

    /// Reads byte 0 of `key`, so that a large object is never downloaded.
    async fn get_first_byte(&self, call: &Call<'_>, key: &str) -> Result<Vec<u8>, ErrorFacts> {
        self.get_range(call, key, "bytes=0-0").await
    }

    async fn get_range(
        &self,
        call: &Call<'_>,
        key: &str,
        range: &str,
    ) -> Result<Vec<u8>, ErrorFacts> {
        let spec = self.spec();
        let client = self.role_client().map_err(|_| missing_client_facts())?;
        let output = self
            .send(call, || {
                client
                    .get_object()
                    .bucket(spec.bucket.as_str())
                    .key(key)
                    .range(range)
                    .expected_bucket_owner(spec.role_arn.account_id())
                    .send()
            })
            .await?;

        // Reading the body to its end lets the connection return to the pool.
        let limit = self
            .deadline
            .call_timeout(self.tester.options().per_call_timeout);
        match tokio::time::timeout(limit, output.body.collect()).await {
            Ok(Ok(bytes)) => Ok(bytes.into_bytes().to_vec()),
            Ok(Err(error)) => Err(ErrorFacts::transport(
                FailureKind::Connection,
                format!("reading the object body failed: {error}"),
            )),
            Err(_) => Err(ErrorFacts::timed_out(limit)),
        }
    }

    /// Puts a new object under the prefix. `If-None-Match: *` makes S3 reject the put if the
    /// key exists, so the test never overwrites a customer's object.
    async fn check_write(&mut self) -> Result<String, CheckFailure> {
        let spec = self.spec();
        let call = Call::S3(S3Call::write(spec));
        let client = self.role_client()?;
        let id = unique_id();
        let key = spec
            .prefix
            .object_key(&format!("{TEST_OBJECT_FOLDER}{id}.txt"));
        let body = format!(
            "Test object of the S3 endpoint connection test {id}. It is deleted right after it is written; if it is still here, it is safe to delete.\n"
        )
        .into_bytes();

        let result = self
            .send(&call, || {
                let mut put = client
                    .put_object()
                    .bucket(spec.bucket.as_str())
                    .key(&key)
                    .body(ByteStream::from(body.clone()))
                    .content_type("text/plain; charset=utf-8")
                    .if_none_match("*")
                    .expected_bucket_owner(spec.role_arn.account_id());
                if let Some(kms_key) = &spec.kms_key_arn {
                    put = put
                        .server_side_encryption(ServerSideEncryption::AwsKms)
                        .ssekms_key_id(kms_key.as_str());
                }
                put.send()
            })
            .await;

        match result {
            Ok(_) => {
                let message = format!("wrote {key}");
                self.written = Some(TestObject { key, body });
                Ok(message)
            }
            Err(facts) if facts.status == Some(412) => Err(CheckFailure::new(
                error_code::TEST_OBJECT_EXISTS,
                format!("an object with the test key {key} already exists, so nothing was written"),
                None,
            )),
            Err(facts) => {
                let mut failure = self.fail(&facts, &call);
                if matches!(facts.kind, FailureKind::Timeout | FailureKind::Connection) {
                    failure.message = format!(
                        "{}; the test object {key} may have been written",
                        failure.message
                    );
                }
                Err(failure)
            }
        }
    }

    async fn check_read_back(&mut self) -> Result<String, CheckFailure> {
        let written = self.written_object()?;
        let call = Call::S3(S3Call::read(self.spec()));
        // One byte more than written, so a longer object shows as different without being
        // downloaded whole.
        let range = format!("bytes=0-{}", written.body.len());

        let read = self
            .get_range(&call, &written.key, &range)
            .await
            .map_err(|facts| self.fail(&facts, &call))?;

        if read != written.body {
            return Err(CheckFailure::new(
                error_code::READ_BACK_MISMATCH,
                format!(
                    "{} read back as {} bytes that differ from the {} bytes written",
                    written.key,
                    read.len(),
                    written.body.len()
                ),
                Some("Check for a Lambda function, replication rule or other process that rewrites new objects under the prefix.".to_owned()),
            ));
        }
        Ok(format!("read back the {} bytes written", read.len()))
    }

    /// Deletes the test object and confirms with HeadObject that it is gone. In a versioned
    /// bucket the delete adds a delete marker, and the written version stays as a noncurrent
    /// version until a lifecycle rule removes it.
    async fn check_delete(&mut self) -> Result<String, CheckFailure> {
        let written = self.written_object()?;
        let spec = self.spec();
        let client = self.role_client()?;
        let left_behind = |mut failure: CheckFailure| {
            failure.message = format!(
                "{}; the test object {} was left behind, delete it",
                failure.message, written.key
            );
            failure
        };

        let delete_call = Call::S3(S3Call::delete(spec));
        self.send(&delete_call, || {
            client
                .delete_object()
                .bucket(spec.bucket.as_str())
                .key(&written.key)
                .expected_bucket_owner(spec.role_arn.account_id())
                .send()
        })
        .await
        .map_err(|facts| left_behind(self.fail(&facts, &delete_call)))?;

        let head_call = Call::S3(S3Call::head_object(spec));
        let head = self
            .send(&head_call, || {
                client
                    .head_object()
                    .bucket(spec.bucket.as_str())
                    .key(&written.key)
                    .expected_bucket_owner(spec.role_arn.account_id())
                    .send()
            })
            .await;
        match head {
            Err(facts) if facts.status == Some(404) => Ok(format!("deleted {}", written.key)),
            Ok(_) => Err(left_behind(CheckFailure::new(
                error_code::OBJECT_STILL_EXISTS,
                format!("{} still exists after DeleteObject", written.key),
                Some("Check for an Object Lock retention or legal hold on the bucket, or a process that writes the object again.".to_owned()),
            ))),
            Err(facts) => Err(left_behind(self.fail(&facts, &head_call))),
        }
    }

    /// Sends one call, repeating it after throttling and server errors while the deadline
    /// allows. Each attempt is limited by the per-call timeout.
    async fn send<T, E, F, Fut>(&self, call: &Call<'_>, mut attempt: F) -> Result<T, ErrorFacts>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let options = self.tester.options();
        let mut backoff = Backoff::new(options.initial_backoff, options.max_backoff);
        loop {
            let limit = self.deadline.call_timeout(options.per_call_timeout);
            let facts = match tokio::time::timeout(limit, attempt()).await {
                Ok(Ok(output)) => return Ok(output),
                Ok(Err(error)) => ErrorFacts::from_sdk(&error),
                Err(_) => ErrorFacts::timed_out(limit),
            };

            let failure = classify(&facts, call);
            let delay = backoff.next_delay();
            if !failure.is_transient() || delay >= self.deadline.remaining() {
                return Err(facts);
            }
            tracing::info!(
                operation = call.operation(),
                error_code = failure.code,
                delay_ms = delay.as_millis() as u64,
                "retrying after a transient error"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Classifies a failed call made with the role's credentials. Credentials that AWS
    /// rejected leave the cache, so the next test assumes the role again.
    fn fail(&self, facts: &ErrorFacts, call: &Call) -> CheckFailure {
        let failure = classify(facts, call);
        if failure.rejects_credentials() {
            if let Some(cache) = &self.tester.options().credentials_cache {
                cache.remove(&self.spec().role_arn, &self.request.external_id);
            }
        }
        failure
    }

    fn role_client(&self) -> Result<aws_sdk_s3::Client, CheckFailure> {
        self.role_s3.clone().ok_or_else(|| {
            CheckFailure::new(
                error_code::INTERNAL_ERROR,
                "the role's credentials are missing because the assume_role check did not pass",
                None,
            )
        })
    }

    fn written_object(&self) -> Result<TestObject, CheckFailure> {
        self.written.clone().ok_or_else(|| {
            CheckFailure::new(
                error_code::INTERNAL_ERROR,
                "no test object exists because the write check did not pass",
                None,
            )
        })
    }
}

/// Reads the region out of a failed HeadBucket. S3 sends the region header with a denial
/// (403) and with a redirect to another region (301), and a missing bucket returns 404.
fn region_from_failure(facts: &ErrorFacts, call: &Call) -> Result<Option<String>, CheckFailure> {
    if facts.kind != FailureKind::Service {
        return Err(classify(facts, call));
    }
    if facts.status == Some(404) {
        return Err(CheckFailure::new(
            error_code::NO_SUCH_BUCKET,
            format!(
                "bucket {} does not exist (HeadBucket returned 404)",
                call.spec().bucket.as_str()
            ),
            Some(hints::no_such_bucket(call)),
        ));
    }
    if let Some(region) = &facts.bucket_region {
        return Ok(Some(region.clone()));
    }
    // The platform's own credentials usually have no access to the bucket, so a bare 403
    // proves that the bucket exists without naming its region.
    if facts.status == Some(403) && matches!(facts.code(), "" | "AccessDenied") {
        return Ok(None);
    }
    Err(classify(facts, call))
}

fn credentials_from(output: &AssumeRoleOutput, call: &Call) -> Result<Credentials, CheckFailure> {
    let Some(issued) = output.credentials() else {
        return Err(CheckFailure::new(
            error_code::INVALID_RESPONSE,
            format!("{} returned no credentials", call.operation()),
            Some(hints::TRANSPORT.to_owned()),
        ));
    };
    let expiry = SystemTime::try_from(*issued.expiration()).ok();
    Ok(Credentials::new(
        issued.access_key_id(),
        issued.secret_access_key(),
        Some(issued.session_token().to_owned()),
        expiry,
        "AssumeRole",
    ))
}

fn with_attempts(mut failure: CheckFailure, attempts: u32, elapsed: Duration) -> CheckFailure {
    if attempts > 1 {
        failure.message = format!(
            "{} (after {attempts} attempts over {:.1} s)",
            failure.message,
            elapsed.as_secs_f64()
        );
    }
    failure
}

fn describe_prefix(spec: &ConnectionSpec) -> String {
    if spec.prefix.is_whole_bucket() {
        "in the whole bucket".to_owned()
    } else {
        format!("under {}", spec.prefix.as_str())
    }
}

/// Returns a ULID for an object key: its time part sorts test objects by creation, and its 80
/// random bits keep concurrent tests apart.
fn unique_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    UlidGenerator.endpoint_id(now).as_str().to_owned()
}

fn missing_client_facts() -> ErrorFacts {
    ErrorFacts::transport(
        FailureKind::Internal,
        "the role's credentials are missing because the assume_role check did not pass".to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::TesterOptions;
    use crate::domain::{ConnectionInput, EndpointId, ExternalId, TenantId};
    use aws_config::{BehaviorVersion, SdkConfig};
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    use std::sync::atomic::{AtomicU32, Ordering};

    type ListResult = Result<(), SdkError<ListObjectsV2Error, HttpResponse>>;

    /// A tester whose clients are never used: the tests drive `send` with closures.
    fn tester(per_call_timeout: Duration) -> AwsConnectionTester {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let options = TesterOptions {
            per_call_timeout,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            ..TesterOptions::new("arn:aws:iam::999988887777:role/platform")
        };
        AwsConnectionTester::new(&config, options)
    }

    fn request() -> TestRequest {
        let spec = ConnectionSpec::parse(&ConnectionInput {
            mode: Some("read_only".to_owned()),
            role_arn: Some("arn:aws:iam::111122223333:role/Reader".to_owned()),
            bucket: Some("acme-billing".to_owned()),
            prefix: None,
            region: Some("eu-west-1".to_owned()),
            kms_key_arn: None,
        })
        .unwrap();
        TestRequest {
            tenant: TenantId::parse("acme").unwrap(),
            endpoint_id: Some(EndpointId::parse("01JBQ4ZK3M5N6P7Q8R9S0T1V2W").unwrap()),
            spec,
            external_id: ExternalId::parse("external-id").unwrap(),
            deadline: Duration::from_secs(5),
        }
    }

    fn service_error(status: u16, code: &str) -> SdkError<ListObjectsV2Error, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("failed")
            .build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(ListObjectsV2Error::generic(meta), raw)
    }

    /// Sends a call whose first `failures` attempts fail with `code`, and returns the result
    /// and the number of attempts.
    async fn send_failing(
        deadline: Duration,
        failures: u32,
        status: u16,
        code: &str,
    ) -> (Result<(), ErrorFacts>, u32) {
        let tester = tester(Duration::from_secs(1));
        let request = request();
        let steps = AwsSteps::new(&tester, &request, Deadline::after(deadline));
        let call = Call::S3(S3Call::list(&request.spec));
        let attempts = AtomicU32::new(0);

        let result = steps
            .send(&call, || {
                let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if attempt <= failures {
                        ListResult::Err(service_error(status, code))
                    } else {
                        Ok(())
                    }
                }
            })
            .await;
        (result, attempts.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn send_retries_throttling_until_success() {
        let (result, attempts) = send_failing(Duration::from_secs(5), 2, 503, "SlowDown").await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(attempts, 3);
    }

    #[tokio::test]
    async fn send_does_not_retry_access_denied() {
        let (result, attempts) = send_failing(Duration::from_secs(5), 1, 403, "AccessDenied").await;
        assert_eq!(result.unwrap_err().code(), "AccessDenied");
        assert_eq!(attempts, 1);
    }

    #[tokio::test]
    async fn send_stops_retrying_at_the_deadline() {
        let started = Instant::now();
        let (result, attempts) =
            send_failing(Duration::from_millis(100), u32::MAX, 500, "InternalError").await;
        assert!(started.elapsed() < Duration::from_millis(200));
        assert_eq!(result.unwrap_err().code(), "InternalError");
        assert!(attempts > 1, "{attempts} attempts");
    }

    #[tokio::test]
    async fn send_times_out_a_call_without_response() {
        let tester = tester(Duration::from_millis(50));
        let request = request();
        let steps = AwsSteps::new(&tester, &request, Deadline::after(Duration::from_secs(5)));
        let call = Call::S3(S3Call::list(&request.spec));

        let result = steps
            .send(&call, || async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                ListResult::Ok(())
            })
            .await;

        let facts = result.unwrap_err();
        assert_eq!(facts.kind, FailureKind::Timeout);
        assert_eq!(classify(&facts, &call).code, "Timeout");
    }

    #[test]
    fn deadline_note_names_the_left_behind_object() {
        let tester = tester(Duration::from_secs(1));
        let request = request();
        let mut steps = AwsSteps::new(&tester, &request, Deadline::after(Duration::ZERO));
        assert_eq!(steps.deadline_note(CheckName::Delete), None);

        steps.written = Some(TestObject {
            key: "exports/.s3-endpoint-check/01JBQ.txt".to_owned(),
            body: Vec::new(),
        });
        let note = steps.deadline_note(CheckName::Delete).unwrap();
        assert!(
            note.contains("exports/.s3-endpoint-check/01JBQ.txt"),
            "{note}"
        );
        assert_eq!(steps.deadline_note(CheckName::ReadBack), None);
    }
}
