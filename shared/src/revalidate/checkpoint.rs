//! The checkpoint: how far the current cycle got in each scan segment, and which run has
//! claimed it.
//!
//! One item in the endpoints table (`pk` `REVALIDATION`, `sk` `CHECKPOINT`) stores the state
//! as JSON next to a `version` number. Every write is conditional on the version that was
//! read and increments it, so of two runs that read the same version only the first write
//! succeeds, and the other run learns that it lost the checkpoint instead of overwriting it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::OffsetDateTime;

pub const CHECKPOINT_PK: &str = crate::store::dynamo::REVALIDATION_PK;
pub const CHECKPOINT_SK: &str = "CHECKPOINT";

/// How far one scan segment got in the current cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SegmentProgress {
    NotStarted,
    /// The next page starts at this store position.
    At {
        position: String,
    },
    Done,
}

/// One pass over every endpoint, possibly spread over several runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// One entry per scan segment. A cycle keeps its segment count to the end, because a
    /// segment's positions are valid only for the segment count they were read with.
    pub segments: Vec<SegmentProgress>,
}

impl Cycle {
    pub fn new(started_at: OffsetDateTime, segments: u32) -> Self {
        Self {
            started_at,
            segments: vec![SegmentProgress::NotStarted; segments as usize],
        }
    }

    pub fn is_done(&self) -> bool {
        self.segments
            .iter()
            .all(|segment| *segment == SegmentProgress::Done)
    }
}

/// The claim of one run on the checkpoint, until it finishes or `expires_at` passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The run id, which is the Lambda request id. Lambda keeps the request id when it
    /// retries an asynchronous invocation, so a retry takes over its own lease at once.
    pub owner: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The unfinished cycle, or `None` when the next run starts a new one.
    pub cycle: Option<Cycle>,
    pub lease: Option<Lease>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_cycle_completed_at: Option<OffsetDateTime>,
}

/// The stored state with the version it was read at; version 0 means nothing is stored yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub version: u64,
    pub state: CheckpointState,
}

/// The outcome of a run's attempt to claim the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The state to store for this run: its cycle and its lease.
    Granted(CheckpointState),
    /// Another run holds an unexpired lease.
    Busy(Lease),
}

/// Decides whether `run_id` may take the checkpoint at `now`, and with which cycle: the
/// unfinished one, or a new one with `segments` segments when there is none or `restart` is
/// set.
pub fn claim(
    current: &CheckpointState,
    run_id: &str,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    restart: bool,
    segments: u32,
) -> Claim {
    if let Some(lease) = &current.lease {
        if lease.owner != run_id && lease.expires_at > now {
            return Claim::Busy(lease.clone());
        }
    }

    let cycle = match (&current.cycle, restart) {
        (Some(cycle), false) => cycle.clone(),
        _ => Cycle::new(now, segments),
    };
    Claim::Granted(CheckpointState {
        cycle: Some(cycle),
        lease: Some(Lease {
            owner: run_id.to_owned(),
            expires_at: lease_until,
        }),
        last_cycle_completed_at: current.last_cycle_completed_at,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint changed since version {expected} was read; another run holds it")]
    Conflict { expected: u64 },

    #[error("the checkpoint store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),

    #[error("the stored checkpoint is invalid: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Reads the checkpoint with a strongly consistent read.
    async fn load(&self) -> Result<Checkpoint, CheckpointError>;

    /// Stores `state` if the stored version is still `expected_version`, and returns the
    /// checkpoint at its new version.
    async fn save(
        &self,
        expected_version: u64,
        state: &CheckpointState,
    ) -> Result<Checkpoint, CheckpointError>;
}

/// The checkpoint item in the endpoints table.
#[derive(Debug, Clone)]
pub struct DynamoCheckpointStore {
    client: Client,
    table: String,
}

impl DynamoCheckpointStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key() -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(CHECKPOINT_PK.to_owned())),
            ("sk".to_owned(), AttributeValue::S(CHECKPOINT_SK.to_owned())),
        ])
    }
}

fn unavailable<E>(error: E) -> CheckpointError
where
    E: std::error::Error + Send + Sync + 'static,
{
    CheckpointError::Unavailable(Box::new(error))
}

#[async_trait]
impl CheckpointStore for DynamoCheckpointStore {
    async fn load(&self) -> Result<Checkpoint, CheckpointError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;

        match output.item() {
            None => Ok(Checkpoint::default()),
            Some(item) => parse_item(item),
        }
    }

    async fn save(
        &self,
        expected_version: u64,
        state: &CheckpointState,
    ) -> Result<Checkpoint, CheckpointError> {
        let version = expected_version + 1;
        let json = serde_json::to_string(state)
            .map_err(|error| CheckpointError::Corrupt(error.to_string()))?;

        let mut item = Self::key();
        item.insert("version".to_owned(), AttributeValue::N(version.to_string()));
        item.insert("state".to_owned(), AttributeValue::S(json));

        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = if expected_version == 0 {
            request.condition_expression("attribute_not_exists(pk)")
        } else {
            request
                .condition_expression("version = :expected")
                .expression_attribute_values(
                    ":expected",
                    AttributeValue::N(expected_version.to_string()),
                )
        };

        match request.send().await {
            Ok(_) => Ok(Checkpoint {
                version,
                state: state.clone(),
            }),
            Err(error) => {
                let conflict = error
                    .as_service_error()
                    .is_some_and(|service| service.is_conditional_check_failed_exception());
                if conflict {
                    Err(CheckpointError::Conflict {
                        expected: expected_version,
                    })
                } else {
                    Err(unavailable(error))
                }
            }
        }
    }
}

fn parse_item(item: &HashMap<String, AttributeValue>) -> Result<Checkpoint, CheckpointError> {
    let version = item
        .get("version")
        .and_then(|value| value.as_n().ok())
        .and_then(|number| number.parse::<u64>().ok())
        .ok_or_else(|| CheckpointError::Corrupt("version is missing or not a number".to_owned()))?;
    let json = item
        .get("state")
        .and_then(|value| value.as_s().ok())
        .ok_or_else(|| CheckpointError::Corrupt("state is missing or not a string".to_owned()))?;
    let state =
        serde_json::from_str(json).map_err(|error| CheckpointError::Corrupt(error.to_string()))?;
    Ok(Checkpoint { version, state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    const NOW: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

    fn state_with_lease(owner: &str, expires_at: OffsetDateTime) -> CheckpointState {
        let mut cycle = Cycle::new(NOW - Duration::hours(12), 2);
        cycle.segments[0] = SegmentProgress::At {
            position: "page-2".to_owned(),
        };
        CheckpointState {
            cycle: Some(cycle),
            lease: Some(Lease {
                owner: owner.to_owned(),
                expires_at,
            }),
            last_cycle_completed_at: None,
        }
    }

    fn granted(claim: Claim) -> CheckpointState {
        match claim {
            Claim::Granted(state) => state,
            Claim::Busy(lease) => panic!("claim was busy: {lease:?}"),
        }
    }

    #[test]
    fn claim_starts_new_cycle_when_none_is_stored() {
        let lease_until = NOW + Duration::minutes(15);
        let state = granted(claim(
            &CheckpointState::default(),
            "run-1",
            NOW,
            lease_until,
            false,
            4,
        ));
        let cycle = state.cycle.unwrap();
        assert_eq!(cycle.started_at, NOW);
        assert_eq!(cycle.segments, vec![SegmentProgress::NotStarted; 4]);
        assert_eq!(state.lease.unwrap().owner, "run-1");
    }

    #[test]
    fn claim_continues_unfinished_cycle() {
        let current = state_with_lease("run-0", NOW - Duration::minutes(1));
        let state = granted(claim(
            &current,
            "run-1",
            NOW,
            NOW + Duration::minutes(15),
            false,
            4,
        ));
        assert_eq!(state.cycle, current.cycle);
    }

    #[test]
    fn claim_restart_drops_unfinished_cycle() {
        let current = state_with_lease("run-0", NOW - Duration::minutes(1));
        let state = granted(claim(
            &current,
            "run-1",
            NOW,
            NOW + Duration::minutes(15),
            true,
            3,
        ));
        assert_eq!(
            state.cycle.unwrap().segments,
            vec![SegmentProgress::NotStarted; 3]
        );
    }

    #[test]
    fn claim_is_busy_while_another_lease_holds() {
        let current = state_with_lease("run-0", NOW + Duration::minutes(5));
        let claim = claim(
            &current,
            "run-1",
            NOW,
            NOW + Duration::minutes(15),
            false,
            4,
        );
        assert!(matches!(claim, Claim::Busy(lease) if lease.owner == "run-0"));
    }

    #[test]
    fn claim_lets_a_retry_take_its_own_lease() {
        let current = state_with_lease("run-1", NOW + Duration::minutes(5));
        let state = granted(claim(
            &current,
            "run-1",
            NOW,
            NOW + Duration::minutes(15),
            false,
            4,
        ));
        assert_eq!(state.cycle, current.cycle);
    }

    #[test]
    fn cycle_is_done_only_when_every_segment_is() {
        let mut cycle = Cycle::new(NOW, 2);
        assert!(!cycle.is_done());
        cycle.segments[0] = SegmentProgress::Done;
        assert!(!cycle.is_done());
        cycle.segments[1] = SegmentProgress::Done;
        assert!(cycle.is_done());
    }

    #[test]
    fn state_round_trips_through_json() {
        let state = state_with_lease("run-1", NOW);
        let json = serde_json::to_string(&state).unwrap();
        assert!(json.contains("\"state\":\"at\""), "{json}");
        let back: CheckpointState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
    }
}
