//! The permissions policy of the customer's role, scoped to the bucket and prefix.

use super::document::{PolicyDocument, Statement};
use super::input::PolicyRequest;
use crate::domain::{AccessMode, KmsKeyArn, Prefix, Region};

/// Object actions of a read_write endpoint. `s3:PutObject` also authorizes the multipart
/// calls CreateMultipartUpload, UploadPart and CompleteMultipartUpload. AbortMultipartUpload
/// and ListParts have actions of their own.
const WRITE_OBJECT_ACTIONS: &[&str] = &[
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
];

/// Renders the permissions policy for the request's mode, bucket, prefix and KMS key.
///
/// `s3:GetBucketLocation` is not granted, because the connection test reads the bucket's
/// region from HeadBucket, which returns it in the `x-amz-bucket-region` header whether or not
/// the request is authorized (S3 API reference, GetBucketLocation).
/// NOTE: grant it here if the connection test ever calls GetBucketLocation with the role.
pub(crate) fn permissions_policy(request: &PolicyRequest) -> PolicyDocument {
    let partition = request.region.partition();
    let bucket_arn = format!("arn:{partition}:s3:::{}", request.bucket);
    let objects_arn = format!("{bucket_arn}/{}*", request.prefix);

    let mut statements = vec![
        list_bucket(&bucket_arn, &request.prefix),
        Statement::allow("ReadObjects", &["s3:GetObject"], vec![objects_arn.clone()]),
    ];

    if request.mode.can_write() {
        statements.push(Statement::allow(
            "WriteObjects",
            WRITE_OBJECT_ACTIONS,
            vec![objects_arn],
        ));
        // IAM has no condition key that scopes s3:ListBucketMultipartUploads to a prefix, so
        // this lists the in-progress uploads of the whole bucket: their keys and upload ids,
        // not their data. The exporter needs it to find and abort uploads a failed run left.
        statements.push(Statement::allow(
            "ListMultipartUploads",
            &["s3:ListBucketMultipartUploads"],
            vec![bucket_arn],
        ));
    }

    if let Some(key) = &request.kms_key_arn {
        statements.push(use_kms_key(key, request.mode, request.region));
    }

    PolicyDocument::new(statements)
}

/// Allows listing the bucket, under the prefix only.
///
/// `s3:ListBucket` is granted on the bucket ARN, not on object ARNs, so a `bucket/prefix*`
/// resource cannot scope it. The `s3:prefix` condition key, the request's `Prefix` parameter,
/// does. The service lists with `Prefix=<prefix>` and with longer prefixes below it. A request
/// without `Prefix`, HeadBucket among them, has no `s3:prefix` key in its context, so the
/// condition is false and S3 denies it. The whole-bucket endpoint has no condition.
fn list_bucket(bucket_arn: &str, prefix: &Prefix) -> Statement {
    let statement = Statement::allow(
        "ListBucket",
        &["s3:ListBucket"],
        vec![bucket_arn.to_owned()],
    );
    if prefix.is_whole_bucket() {
        return statement;
    }
    // `<prefix>*` alone would match both, because `*` also matches nothing. The exact value
    // states the listing of the folder itself, the request the connection test sends.
    statement.with_condition(
        "StringLike",
        "s3:prefix",
        vec![prefix.as_str().to_owned(), format!("{prefix}*")],
    )
}

/// Allows the KMS key of an SSE-KMS bucket, through S3 in the bucket's region only.
///
/// S3 calls KMS with the requester's permissions: GetObject needs `kms:Decrypt`, and PutObject
/// needs `kms:GenerateDataKey`. A multipart upload needs both: CreateMultipartUpload generates
/// the data key, and UploadPart and CompleteMultipartUpload decrypt it to encrypt new parts
/// and to assemble the encrypted parts (AWS knowledge center, multipart uploads with SSE-KMS).
///
/// The `kms:ViaService` condition allows the key only in requests that S3 in the bucket's
/// region makes on the role's behalf, so the role's credentials cannot call KMS directly, for
/// example to decrypt other data protected by the same key. The key policy must also let the
/// account's IAM policies grant use of the key, which the default key policy does.
fn use_kms_key(key: &KmsKeyArn, mode: AccessMode, region: Region) -> Statement {
    let actions: &[&str] = match mode {
        AccessMode::ReadOnly => &["kms:Decrypt"],
        AccessMode::ReadWrite => &["kms:Decrypt", "kms:GenerateDataKey"],
    };
    let s3_endpoint = format!("s3.{region}.{}", region.partition().dns_suffix());
    Statement::allow("UseBucketKmsKey", actions, vec![key.as_str().to_owned()]).with_condition(
        "StringEquals",
        "kms:ViaService",
        vec![s3_endpoint],
    )
}
