//! Classification of DynamoDB errors into what the store does next: retry, report a failed
//! condition, read a transaction's cancellation reasons, or give up as unavailable.

use super::items::Item;
use crate::store::StoreError;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::CancellationReason;
use std::error::Error as StdError;

pub(super) type BoxError = Box<dyn StdError + Send + Sync>;

/// Error codes of whole requests that are worth another attempt after a backoff. The SDK
/// retries the throttling codes itself first. It does not retry `TransactionConflictException`,
/// which DynamoDB returns when a plain write targets an item in a running transaction.
const RETRYABLE_ERROR_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
];

/// Cancellation reason codes of one transaction item that are worth another attempt.
const RETRYABLE_REASON_CODES: &[&str] = &[
    "TransactionConflict",
    "ProvisionedThroughputExceeded",
    "ThrottlingError",
    "RequestLimitExceeded",
];

/// The meaning of a failed call for the store.
#[derive(Debug)]
pub(super) enum Failure {
    /// Throttling or a conflict with another transaction: try again after a backoff.
    Retryable { code: String },
    /// The request's condition expression was false.
    ConditionFailed,
    /// A transaction was canceled; one reason per transaction item, in request order.
    Canceled(Vec<Reason>),
    /// Unreachable, timed out, or rejected for a reason that another attempt will not fix.
    Unavailable(BoxError),
}

/// The cause DynamoDB gives for one item of a canceled transaction.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reason {
    /// This item's condition held; another item canceled the transaction.
    Passed,
    /// This item's condition was false. `item` is the stored item, when the request asked for
    /// it with `ReturnValuesOnConditionCheckFailure` and DynamoDB sent it.
    ConditionFailed { item: Option<Item> },
    /// Throttling or a conflict with another transaction on this item.
    Retryable { code: String },
    /// Any other code, such as `ValidationError` or `ItemCollectionSizeLimitExceeded`.
    Failed { code: String },
}

impl Reason {
    fn from_sdk(reason: &CancellationReason) -> Self {
        match reason.code() {
            None | Some("None") => Self::Passed,
            Some("ConditionalCheckFailed") => Self::ConditionFailed {
                item: reason.item().cloned(),
            },
            Some(code) if RETRYABLE_REASON_CODES.contains(&code) => Self::Retryable {
                code: code.to_owned(),
            },
            Some(code) => Self::Failed {
                code: code.to_owned(),
            },
        }
    }
}

/// Classifies the error of any operation other than `TransactWriteItems`.
pub(super) fn classify<E, R>(error: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = error.as_service_error().and_then(|service| service.code());
    match code {
        Some("ConditionalCheckFailedException") => Failure::ConditionFailed,
        Some(code) if RETRYABLE_ERROR_CODES.contains(&code) => Failure::Retryable {
            code: code.to_owned(),
        },
        _ => Failure::Unavailable(Box::new(error)),
    }
}

/// Classifies the error of `TransactWriteItems`, reading the cancellation reasons of a
/// canceled transaction.
pub(super) fn classify_transaction<R>(error: SdkError<TransactWriteItemsError, R>) -> Failure
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) =
        error.as_service_error()
    {
        let reasons: Vec<Reason> = canceled
            .cancellation_reasons()
            .iter()
            .map(Reason::from_sdk)
            .collect();
        if !reasons.is_empty() {
            return Failure::Canceled(reasons);
        }
    }
    classify(error)
}

/// Turns a failure that the caller has no specific handling for into a store error.
pub(super) fn unexpected(operation: &'static str, failure: Failure) -> StoreError {
    let error: BoxError = match failure {
        Failure::Unavailable(error) => error,
        other => Box::new(UnexpectedFailure {
            operation,
            failure: format!("{other:?}"),
        }),
    };
    tracing::warn!(
        operation,
        error = %DisplayErrorContext(error.as_ref()),
        "DynamoDB request failed"
    );
    StoreError::Unavailable(error)
}

#[derive(Debug, thiserror::Error)]
#[error("{operation} failed with an unexpected DynamoDB response: {failure}")]
struct UnexpectedFailure {
    operation: &'static str,
    failure: String,
}

/// The error behind [`StoreError::Unavailable`] when every attempt was throttled or conflicted.
#[derive(Debug, thiserror::Error)]
#[error("{operation} gave up after {attempts} attempts; the last failed with {last_reason}")]
pub(super) struct RetriesExhausted {
    pub operation: &'static str,
    pub attempts: u32,
    pub last_reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, ProvisionedThroughputExceededException,
        TransactionCanceledException,
    };
    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn response() -> Response {
        Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty())
    }

    fn canceled(codes: &[&str]) -> SdkError<TransactWriteItemsError, Response> {
        let mut exception = TransactionCanceledException::builder().message("canceled");
        for code in codes {
            let mut reason = CancellationReason::builder().code(*code);
            if *code == "ConditionalCheckFailed" {
                reason = reason.item("pk", AttributeValue::S("TENANT#acme".to_owned()));
            }
            exception = exception.cancellation_reasons(reason.build());
        }
        let error = TransactWriteItemsError::TransactionCanceledException(exception.build());
        SdkError::service_error(error, response())
    }

    fn put_error(code: &str) -> SdkError<PutItemError, Response> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("injected")
            .build();
        let error = PutItemError::generic(meta);
        SdkError::service_error(error, response())
    }

    #[test]
    fn cancellation_reasons_keep_their_positions() {
        let failure = classify_transaction(canceled(&[
            "None",
            "ConditionalCheckFailed",
            "TransactionConflict",
            "ValidationError",
        ]));
        let Failure::Canceled(reasons) = failure else {
            panic!("expected a cancellation, got {failure:?}");
        };
        assert_eq!(reasons.len(), 4);
        assert_eq!(reasons[0], Reason::Passed);
        let Reason::ConditionFailed { item: Some(item) } = &reasons[1] else {
            panic!(
                "expected a failed condition with the item, got {:?}",
                reasons[1]
            );
        };
        assert_eq!(
            item.get("pk"),
            Some(&AttributeValue::S("TENANT#acme".to_owned()))
        );
        assert_eq!(
            reasons[2],
            Reason::Retryable {
                code: "TransactionConflict".to_owned()
            }
        );
        assert_eq!(
            reasons[3],
            Reason::Failed {
                code: "ValidationError".to_owned()
            }
        );
    }

    #[test]
    fn every_throttling_reason_is_retryable() {
        for code in RETRYABLE_REASON_CODES {
            let Failure::Canceled(reasons) = classify_transaction(canceled(&["None", code])) else {
                panic!("expected a cancellation for {code}");
            };
            assert!(matches!(reasons[1], Reason::Retryable { .. }), "{code}");
        }
    }

    #[test]
    fn throttling_and_conflict_errors_are_retryable() {
        for code in RETRYABLE_ERROR_CODES {
            assert!(
                matches!(classify(put_error(code)), Failure::Retryable { .. }),
                "{code}"
            );
        }
    }

    /// Error metadata as the SDK's response parser attaches it to typed errors.
    fn meta(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message("injected")
            .build()
    }

    #[test]
    fn typed_throughput_error_is_retryable() {
        let exception = ProvisionedThroughputExceededException::builder()
            .message("slow down")
            .meta(meta("ProvisionedThroughputExceededException"))
            .build();
        let error = SdkError::service_error(
            PutItemError::ProvisionedThroughputExceededException(exception),
            response(),
        );
        assert!(matches!(classify(error), Failure::Retryable { .. }));
    }

    #[test]
    fn failed_condition_is_recognised() {
        let exception = ConditionalCheckFailedException::builder()
            .meta(meta("ConditionalCheckFailedException"))
            .build();
        let error = SdkError::service_error(
            PutItemError::ConditionalCheckFailedException(exception),
            response(),
        );
        assert!(matches!(classify(error), Failure::ConditionFailed));
    }

    #[test]
    fn other_errors_are_unavailable() {
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "AccessDeniedException",
        ] {
            assert!(
                matches!(classify(put_error(code)), Failure::Unavailable(_)),
                "{code}"
            );
        }
        let timeout: SdkError<PutItemError, Response> =
            SdkError::timeout_error("operation timed out");
        assert!(matches!(classify(timeout), Failure::Unavailable(_)));
    }

    #[test]
    fn transaction_without_reasons_is_not_a_cancellation() {
        let failure = classify_transaction(canceled(&[]));
        assert!(matches!(failure, Failure::Unavailable(_)), "{failure:?}");
    }
}
