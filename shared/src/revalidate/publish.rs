//! Sending health change events to EventBridge, reporting each entry's outcome.

use super::transition::{EVENT_DETAIL_TYPE, EVENT_SOURCE};
use crate::store::PendingEvent;
use async_trait::async_trait;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};
use aws_sdk_eventbridge::Client;

/// Maximum number of entries in one PutEvents request.
pub const MAX_ENTRIES_PER_REQUEST: usize = 10;

/// EventBridge's outcome for one entry of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    Accepted,
    /// The entry failed; PutEvents reports such failures per entry in a response that is
    /// otherwise successful.
    Rejected {
        code: String,
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("PutEvents accepts at most {MAX_ENTRIES_PER_REQUEST} entries, got {0}")]
    TooManyEntries(usize),

    /// The whole request failed after the SDK's retries.
    #[error("PutEvents request failed")]
    Request(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Sends at most [`MAX_ENTRIES_PER_REQUEST`] events in one request and returns each
    /// event's outcome, in the order given.
    async fn publish(&self, events: &[PendingEvent]) -> Result<Vec<EntryOutcome>, PublishError>;
}

/// Publishes to one EventBridge event bus.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus_name: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }

    fn entry(&self, event: &PendingEvent) -> PutEventsRequestEntry {
        let created_at = DateTime::from_nanos(event.created_at.unix_timestamp_nanos())
            .unwrap_or_else(|_| DateTime::from_secs(event.created_at.unix_timestamp()));
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(EVENT_SOURCE)
            .detail_type(EVENT_DETAIL_TYPE)
            .detail(&event.detail)
            .time(created_at)
            .build()
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[PendingEvent]) -> Result<Vec<EntryOutcome>, PublishError> {
        if events.len() > MAX_ENTRIES_PER_REQUEST {
            return Err(PublishError::TooManyEntries(events.len()));
        }
        if events.is_empty() {
            return Ok(Vec::new());
        }

        let entries = events.iter().map(|event| self.entry(event)).collect();
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|error| PublishError::Request(Box::new(error)))?;

        Ok(entry_outcomes(
            events.len(),
            output.failed_entry_count(),
            output.entries(),
        ))
    }
}

/// Maps PutEvents result entries to outcomes. EventBridge returns one result entry per
/// request entry, in order. A result entry with an `ErrorCode` failed, and so does every
/// request entry without a result entry, because nothing shows that it was accepted.
fn entry_outcomes(
    sent: usize,
    failed_entry_count: i32,
    results: &[PutEventsResultEntry],
) -> Vec<EntryOutcome> {
    let mut outcomes: Vec<EntryOutcome> = (0..sent)
        .map(|index| match results.get(index) {
            Some(result) => outcome_of(result),
            None => EntryOutcome::Rejected {
                code: "MissingResultEntry".to_owned(),
                message: "PutEvents returned no result for this entry".to_owned(),
            },
        })
        .collect();

    // A count of failures higher than the entries carrying an error code leaves the
    // accepted-looking entries unproven, so they are retried too. Duplicates are safe because
    // subscribers drop them by transition_id.
    let rejected = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, EntryOutcome::Rejected { .. }))
        .count();
    if usize::try_from(failed_entry_count).unwrap_or(0) > rejected {
        for outcome in outcomes.iter_mut() {
            if *outcome == EntryOutcome::Accepted {
                *outcome = EntryOutcome::Rejected {
                    code: "UnattributedFailure".to_owned(),
                    message: format!(
                        "PutEvents reported {failed_entry_count} failed entries but marked only {rejected}"
                    ),
                };
            }
        }
    }
    outcomes
}

fn outcome_of(result: &PutEventsResultEntry) -> EntryOutcome {
    match result.error_code() {
        None if result.event_id().is_some() => EntryOutcome::Accepted,
        None => EntryOutcome::Rejected {
            code: "MissingEventId".to_owned(),
            message: "PutEvents returned neither an event id nor an error code".to_owned(),
        },
        Some(code) => EntryOutcome::Rejected {
            code: code.to_owned(),
            message: result.error_message().unwrap_or_default().to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(id: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder().event_id(id).build()
    }

    fn failed(code: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder()
            .error_code(code)
            .error_message("rate exceeded")
            .build()
    }

    #[test]
    fn outcomes_follow_result_entries_in_order() {
        let results = [accepted("a"), failed("ThrottlingException"), accepted("c")];
        let outcomes = entry_outcomes(3, 1, &results);
        assert_eq!(outcomes[0], EntryOutcome::Accepted);
        assert_eq!(
            outcomes[1],
            EntryOutcome::Rejected {
                code: "ThrottlingException".to_owned(),
                message: "rate exceeded".to_owned()
            }
        );
        assert_eq!(outcomes[2], EntryOutcome::Accepted);
    }

    #[test]
    fn outcomes_reject_entries_without_result() {
        let outcomes = entry_outcomes(2, 0, &[accepted("a")]);
        assert_eq!(outcomes[0], EntryOutcome::Accepted);
        assert!(
            matches!(&outcomes[1], EntryOutcome::Rejected { code, .. } if code == "MissingResultEntry")
        );
    }

    #[test]
    fn outcomes_reject_entry_without_event_id() {
        let empty = PutEventsResultEntry::builder().build();
        let outcomes = entry_outcomes(1, 0, &[empty]);
        assert!(
            matches!(&outcomes[0], EntryOutcome::Rejected { code, .. } if code == "MissingEventId")
        );
    }

    #[test]
    fn outcomes_distrust_unattributed_failure_count() {
        let outcomes = entry_outcomes(2, 1, &[accepted("a"), accepted("b")]);
        for outcome in outcomes {
            assert!(
                matches!(outcome, EntryOutcome::Rejected { code, .. } if code == "UnattributedFailure")
            );
        }
    }
}
