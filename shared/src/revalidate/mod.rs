//! Revalidation: re-test every saved endpoint on a schedule, record its health and announce
//! each change of state on EventBridge.
//!
//! # Runs, cycles and the checkpoint
//!
//! A *cycle* is one pass over every endpoint of every tenant. The store's scan is split into
//! parallel segments, read page by page, and the endpoints of all segments share one pool of
//! `concurrency` connection tests. A run starts a test only while the whole test timeout still
//! fits before the run's deadline, which is the earliest of the invocation's
//! `max_duration_seconds`, the configured maximum, and Lambda's deadline less a reserve for
//! the final writes. A fleet too large for one invocation is therefore never cut short
//! silently: after each fully tested page the segment's position is stored in the checkpoint
//! item (see [`checkpoint`]), and the next invocation continues the cycle from there. Pages
//! that were only partly tested are tested again in full by the next run. The run's result
//! reports whether the cycle completed or continues.
//!
//! The checkpoint was chosen over fanning out through a queue for three reasons. One process
//! owns the run, so one STS rate limiter and one credentials cache cover every AssumeRole
//! call; the function is deployed with a reserved concurrency of 1 to the same end. No queue,
//! event source mapping or second handler shape is needed. And each write is conditional on
//! the checkpoint's version, with a lease naming the run that holds it, so two runs at once or
//! a retried invocation cannot corrupt the position: the later one skips, or stops at its
//! next save.
//!
//! NOTE: a cycle that needs several invocations advances by one invocation per schedule
//! interval, so a fleet needing three runs takes three intervals to revalidate fully.
//!
//! # Health and exactly one event per change
//!
//! [`recorder::HealthRecorder`] computes the new health with [`Health::after`] from the
//! stored health, and stores it with a compare-and-set write
//! ([`EndpointStore::swap_health`]) that succeeds only if the stored health is still the one
//! it was computed from, and that stores results newer than it only. On a conflict it computes
//! again from the health the store returned. So only the write that really replaced a healthy
//! health with a failing one (or the reverse) sees a change, and it stores the event in the
//! same transaction. The [`outbox`] then publishes the event and deletes it once EventBridge
//! accepts it. Entries that PutEvents rejects stay stored and are sent again by the next run,
//! before it scans. [`transition`] defines what counts as a change, including first results.
//!
//! NOTE: the on-demand test of a saved endpoint stores health with the newer-only
//! [`EndpointStore::record_health`], which stores no event. A change that such a test finds
//! before a run does is therefore not announced, and the run then sees no change.
//!
//! # Failures
//!
//! A failure to test or record one endpoint is counted by reason in the [`report`] and never
//! stops the others. A failed scan page stops only its segment, which the next run continues.
//! Only a checkpoint that cannot be read or claimed fails the invocation, so that Lambda
//! retries it.
//!
//! [`Health::after`]: crate::domain::Health::after
//! [`EndpointStore::swap_health`]: crate::store::EndpointStore::swap_health
//! [`EndpointStore::record_health`]: crate::store::EndpointStore::record_health

pub mod aws;
pub mod budget;
pub mod checkpoint;
pub mod config;
pub mod handler;
pub mod metrics;
pub mod outbox;
pub mod publish;
pub mod recorder;
pub mod report;
pub mod run;
mod scan;
pub mod transition;
pub mod trigger;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;

pub use aws::{aws_services, AwsTesters};
pub use budget::TimeLimits;
pub use checkpoint::{CheckpointStore, DynamoCheckpointStore};
pub use config::{ConfigError, RevalidateConfig};
pub use handler::{handle, HandlerError};
pub use publish::{EventBridgePublisher, EventPublisher};
pub use report::{RunReport, RunStatus};
pub use run::{Revalidator, RunError, Services, Settings, TesterFactory};
pub use trigger::{parse_trigger, RunInput, RunRequest, TriggerError};
