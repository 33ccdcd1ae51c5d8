//! Whole runs against the in-memory fakes: counts, changes and events, concurrency,
//! deadlines and continuation, outbox redelivery, and the handler entry with every fixture.

use super::budget::TimeLimits;
use super::checkpoint::{Checkpoint, CheckpointState, Cycle, Lease, SegmentProgress};
use super::fakes::{
    endpoint, MemoryCheckpoints, MemoryStore, RecordingPublisher, ScriptedTester, SharedTester,
    SteppingClock,
};
use super::handler::{handle, HandlerError};
use super::report::{ErrorReason, RunStatus};
use super::run::{Revalidator, Services, Settings};
use super::transition::HealthChanged;
use super::trigger::RunRequest;
use crate::domain::{Endpoint, Health, HealthFailure, HealthState};
use lambda_runtime::{Context, LambdaEvent};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

struct Harness {
    store: Arc<MemoryStore>,
    checkpoints: Arc<MemoryCheckpoints>,
    tester: Arc<ScriptedTester>,
    publisher: Arc<RecordingPublisher>,
    clock: Arc<SteppingClock>,
}

impl Harness {
    fn new(endpoints: &[Endpoint], tester: ScriptedTester) -> Self {
        Self {
            store: Arc::new(MemoryStore::with_endpoints(endpoints.iter().cloned())),
            checkpoints: Arc::new(MemoryCheckpoints::default()),
            tester: Arc::new(tester),
            publisher: Arc::new(RecordingPublisher::default()),
            clock: Arc::new(SteppingClock::default()),
        }
    }

    fn revalidator(&self, settings: Settings) -> Revalidator {
        let services = Services {
            store: self.store.clone(),
            checkpoints: self.checkpoints.clone(),
            testers: Arc::new(SharedTester(self.tester.clone())),
            publisher: self.publisher.clone(),
            clock: self.clock.clone(),
        };
        Revalidator::new(services, settings)
    }

    fn events(&self) -> Vec<HealthChanged> {
        self.publisher
            .accepted()
            .iter()
            .map(|event| serde_json::from_str(&event.detail).unwrap())
            .collect()
    }
}

fn settings() -> Settings {
    Settings {
        concurrency: 4,
        scan_segments: 3,
        page_size: 5,
        limits: TimeLimits {
            endpoint_timeout: Duration::from_secs(2),
            wrap_up_reserve: Duration::from_secs(1),
            max_run_duration: Duration::from_secs(60),
        },
        test_grace: Duration::from_millis(100),
        redelivery_min_age: Duration::ZERO,
    }
}

fn fleet(count: u64) -> Vec<Endpoint> {
    let tenants = ["acme", "globex", "initech"];
    (0..count)
        .map(|n| endpoint(tenants[(n % 3) as usize], n))
        .collect()
}

fn request() -> RunRequest {
    RunRequest {
        source: "custom".to_owned(),
        ..RunRequest::default()
    }
}

#[tokio::test]
async fn run_records_health_and_first_failures() {
    let endpoints = fleet(30);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    for broken in &endpoints[..3] {
        harness.tester.fail(&broken.id, "write");
    }

    let report = harness
        .revalidator(settings())
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    assert_eq!(report.status, RunStatus::CycleComplete);
    assert_eq!(report.checked, 30);
    assert_eq!(report.healthy, 27);
    assert_eq!(report.failing, 3);
    assert_eq!(report.not_checked, 0);
    assert_eq!(report.transitions, 3);
    assert_eq!(report.events_published, 3);
    assert!(harness.store.pending().is_empty());

    for endpoint in &endpoints {
        let health = harness.store.health(&endpoint.id).unwrap();
        let broken = endpoints[..3].contains(endpoint);
        let expected = if broken {
            HealthState::Failing
        } else {
            HealthState::Healthy
        };
        assert_eq!(health.state, expected, "{}", endpoint.id);
    }

    let events = harness.events();
    let changed: HashSet<_> = events.iter().map(|e| e.endpoint_id.clone()).collect();
    let broken: HashSet<_> = endpoints[..3].iter().map(|e| e.id.clone()).collect();
    assert_eq!(changed, broken);
    assert!(events.iter().all(|e| e.old_state.is_none()));
    assert!(events
        .iter()
        .all(|e| e.failing_check.as_deref() == Some("write")));
}

#[tokio::test]
async fn run_without_change_publishes_nothing() {
    let endpoints = fleet(12);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    harness.tester.fail(&endpoints[0].id, "assume_role");
    let revalidator = harness.revalidator(settings());
    revalidator.run(&request(), "run-1", None).await.unwrap();
    assert_eq!(harness.publisher.accepted().len(), 1);

    let second = revalidator.run(&request(), "run-2", None).await.unwrap();

    assert_eq!(second.status, RunStatus::CycleComplete);
    assert_eq!(second.checked, 12);
    assert_eq!(second.transitions, 0);
    assert_eq!(harness.publisher.accepted().len(), 1);
    let health = harness.store.health(&endpoints[0].id).unwrap();
    assert_eq!(health.consecutive_failures, 2);
}

#[tokio::test]
async fn run_announces_failure_and_recovery_once_each() {
    let endpoints = fleet(9);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    let revalidator = harness.revalidator(settings());
    let target = &endpoints[4];

    revalidator.run(&request(), "run-1", None).await.unwrap();
    assert!(harness.events().is_empty());

    harness.tester.fail(&target.id, "read");
    let failed = revalidator.run(&request(), "run-2", None).await.unwrap();
    harness.tester.heal(&target.id);
    let recovered = revalidator.run(&request(), "run-3", None).await.unwrap();

    assert_eq!(failed.transitions, 1);
    assert_eq!(recovered.transitions, 1);
    let events = harness.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].old_state, Some(HealthState::Healthy));
    assert_eq!(events[0].new_state, HealthState::Failing);
    assert_eq!(events[0].failing_check.as_deref(), Some("read"));
    assert_eq!(events[1].old_state, Some(HealthState::Failing));
    assert_eq!(events[1].new_state, HealthState::Healthy);
    assert!(events.iter().all(|e| e.endpoint_id == target.id));
}

#[tokio::test]
async fn run_bounds_concurrent_tests() {
    let endpoints = fleet(40);
    let harness = Harness::new(
        &endpoints,
        ScriptedTester::with_delay(Duration::from_millis(15)),
    );
    let settings = Settings {
        concurrency: 3,
        ..settings()
    };

    let report = harness
        .revalidator(settings)
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    assert_eq!(report.checked, 40);
    assert!(harness.tester.max_in_flight() <= 3);
    assert!(harness.tester.max_in_flight() >= 2);
}

#[tokio::test]
async fn run_with_tiny_deadline_continues_next_time() {
    let endpoints = fleet(60);
    let harness = Harness::new(
        &endpoints,
        ScriptedTester::with_delay(Duration::from_millis(30)),
    );
    let tight = Settings {
        concurrency: 2,
        limits: TimeLimits {
            endpoint_timeout: Duration::from_millis(100),
            wrap_up_reserve: Duration::ZERO,
            max_run_duration: Duration::from_millis(300),
        },
        ..settings()
    };

    let first = harness
        .revalidator(tight)
        .run(&request(), "run-1", None)
        .await
        .unwrap();
    assert_eq!(first.status, RunStatus::CycleContinues);
    assert!(first.checked > 0);
    assert!(first.checked < 60);
    let stored = harness.checkpoints.stored();
    assert!(stored.state.lease.is_none());
    assert!(stored.state.cycle.is_some());
    let tested_first = harness.tester.tested().len();

    let second = harness
        .revalidator(settings())
        .run(&request(), "run-2", None)
        .await
        .unwrap();

    assert_eq!(second.status, RunStatus::CycleComplete);
    for endpoint in &endpoints {
        assert!(
            harness.store.health(&endpoint.id).is_some(),
            "{}",
            endpoint.id
        );
    }
    // Only the pages the first run left unfinished are tested again: at most one per segment.
    let tested_again = tested_first + second.checked as usize - 60;
    assert!(
        tested_again <= 3 * 5,
        "tested {tested_again} endpoints twice"
    );
    assert!(harness.checkpoints.stored().state.cycle.is_none());
}

#[tokio::test]
async fn run_keeps_rejected_event_for_next_run() {
    let endpoints = fleet(6);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    harness.tester.fail(&endpoints[1].id, "list");
    harness.publisher.reject_next.store(3, Ordering::SeqCst);
    let revalidator = harness.revalidator(settings());

    let first = revalidator.run(&request(), "run-1", None).await.unwrap();
    assert_eq!(first.transitions, 1);
    assert_eq!(first.events_published, 0);
    assert_eq!(first.events_pending, 1);
    assert_eq!(harness.store.pending().len(), 1);

    let second = revalidator.run(&request(), "run-2", None).await.unwrap();
    assert_eq!(second.transitions, 0);
    assert_eq!(second.events_published, 1);
    assert!(harness.store.pending().is_empty());
    let events = harness.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].endpoint_id, endpoints[1].id);
}

#[tokio::test]
async fn run_retries_rejected_entry_within_the_run() {
    let endpoints = fleet(3);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    harness.tester.fail(&endpoints[0].id, "write");
    harness.publisher.reject_next.store(1, Ordering::SeqCst);

    let report = harness
        .revalidator(settings())
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    assert_eq!(report.events_published, 1);
    assert_eq!(report.events_pending, 0);
    assert_eq!(harness.publisher.accepted().len(), 1);
}

#[tokio::test]
async fn run_skips_while_another_run_holds_lease() {
    let endpoints = fleet(3);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    let far_future = OffsetDateTime::now_utc() + time::Duration::days(365);
    harness.checkpoints.replace(Checkpoint {
        version: 7,
        state: CheckpointState {
            lease: Some(Lease {
                owner: "other-run".to_owned(),
                expires_at: far_future,
            }),
            ..CheckpointState::default()
        },
    });

    let report = harness
        .revalidator(settings())
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    assert_eq!(report.status, RunStatus::SkippedBusy);
    assert!(harness.tester.tested().is_empty());
    assert_eq!(harness.checkpoints.stored().version, 7);
}

#[tokio::test]
async fn run_skips_after_losing_claim_race() {
    let endpoints = fleet(3);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    let far_future = OffsetDateTime::now_utc() + time::Duration::days(365);
    harness.checkpoints.race_next_save(CheckpointState {
        lease: Some(Lease {
            owner: "rival-run".to_owned(),
            expires_at: far_future,
        }),
        ..CheckpointState::default()
    });

    let report = harness
        .revalidator(settings())
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    assert_eq!(report.status, RunStatus::SkippedBusy);
    assert!(harness.tester.tested().is_empty());
    let stored = harness.checkpoints.stored();
    assert_eq!(stored.state.lease.unwrap().owner, "rival-run");
}

#[tokio::test]
async fn run_continues_from_stored_segment_positions() {
    let endpoints = fleet(20);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    let mut cycle = Cycle::new(OffsetDateTime::now_utc(), 2);
    cycle.segments[0] = SegmentProgress::Done;
    harness.checkpoints.replace(Checkpoint {
        version: 3,
        state: CheckpointState {
            cycle: Some(cycle),
            ..CheckpointState::default()
        },
    });

    let report = harness
        .revalidator(settings())
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    let second_segment = endpoints
        .iter()
        .filter(|e| e.id.ulid().random() % 2 == 1)
        .count() as u64;
    assert_eq!(report.status, RunStatus::CycleComplete);
    assert_eq!(report.checked, second_segment);
    assert!(second_segment < 20);
}

#[tokio::test]
async fn run_recomputes_health_after_conflict() {
    let endpoints = fleet(3);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    let target = &endpoints[0];
    harness.tester.fail(&target.id, "write");
    let failure = HealthFailure {
        check: "write".to_owned(),
        error_code: None,
        message: "denied".to_owned(),
    };
    let earlier = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
    let stored = Health::after(None, earlier, Some(failure));
    harness.store.set_health(&target.id, stored);
    harness.store.force_conflicts(&target.id, 2);

    let report = harness
        .revalidator(settings())
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    assert_eq!(report.not_checked, 0);
    assert_eq!(report.transitions, 0);
    let health = harness.store.health(&target.id).unwrap();
    assert_eq!(health.consecutive_failures, 2);
    assert_eq!(health.first_failed_at, Some(earlier));
}

#[tokio::test]
async fn run_reports_contended_endpoint_and_checks_others() {
    let endpoints = fleet(6);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    harness.store.force_conflicts(&endpoints[2].id, 100);

    let report = harness
        .revalidator(settings())
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    assert_eq!(report.checked, 5);
    assert_eq!(report.not_checked, 1);
    assert_eq!(report.errors[0].reason, ErrorReason::HealthWriteContended);
    assert_eq!(report.errors[0].examples[0].endpoint_id, endpoints[2].id);
    assert_eq!(report.status, RunStatus::CycleComplete);
}

#[tokio::test]
async fn run_drops_result_older_than_stored() {
    let endpoints = fleet(3);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    let future = OffsetDateTime::now_utc() + time::Duration::days(1);
    harness
        .store
        .set_health(&endpoints[0].id, Health::after(None, future, None));

    let report = harness
        .revalidator(settings())
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    assert_eq!(report.superseded, 1);
    assert_eq!(report.checked, 2);
    let health = harness.store.health(&endpoints[0].id).unwrap();
    assert_eq!(health.last_checked_at, future);
}

#[tokio::test]
async fn run_abandons_hung_test() {
    let endpoints = fleet(8);
    let tester = ScriptedTester::default();
    tester.hangs.lock().unwrap().insert(endpoints[5].id.clone());
    let harness = Harness::new(&endpoints, tester);
    let settings = Settings {
        limits: TimeLimits {
            endpoint_timeout: Duration::from_millis(50),
            ..settings().limits
        },
        test_grace: Duration::from_millis(20),
        ..settings()
    };

    let report = harness
        .revalidator(settings)
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    assert_eq!(report.checked, 7);
    assert_eq!(report.not_checked, 1);
    assert_eq!(report.errors[0].reason, ErrorReason::TestTimedOut);
    assert!(harness.store.health(&endpoints[5].id).is_none());
    assert_eq!(report.status, RunStatus::CycleComplete);
}

#[tokio::test]
async fn run_does_not_record_inconclusive_failure() {
    let endpoints = fleet(4);
    let harness = Harness::new(&endpoints, ScriptedTester::default());
    let throttled = HealthFailure {
        check: "assume_role".to_owned(),
        error_code: Some("Throttling".to_owned()),
        message: "AWS throttled the requests".to_owned(),
    };
    harness
        .tester
        .failures
        .lock()
        .unwrap()
        .insert(endpoints[0].id.clone(), throttled);

    let report = harness
        .revalidator(settings())
        .run(&request(), "run-1", None)
        .await
        .unwrap();

    assert_eq!(report.checked, 3);
    assert_eq!(report.not_checked, 1);
    assert_eq!(report.errors[0].reason, ErrorReason::TestInconclusive);
    assert!(report.errors[0].examples[0].message.contains("Throttling"));
    assert_eq!(report.transitions, 0);
    assert!(harness.store.health(&endpoints[0].id).is_none());
}

fn fixtures() -> Vec<(String, serde_json::Value)> {
    let directory = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/revalidate-endpoints"
    );
    let mut fixtures: Vec<(String, serde_json::Value)> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    fixtures
}

#[tokio::test]
async fn handler_accepts_every_valid_fixture() {
    let fixtures = fixtures();
    let names: Vec<&str> = fixtures.iter().map(|(name, _)| name.as_str()).collect();
    for expected in ["scheduled-rule.json", "scheduler.json", "custom-input.json"] {
        assert!(names.contains(&expected), "fixture {expected} is missing");
    }
    assert!(names.iter().any(|name| name.starts_with("invalid-")));

    let harness = Harness::new(&fleet(4), ScriptedTester::default());
    let revalidator = harness.revalidator(settings());
    for (name, payload) in fixtures {
        let mut context = Context::default();
        context.request_id = format!("request-{name}");
        let result = handle(&revalidator, LambdaEvent::new(payload, context)).await;

        if name.starts_with("invalid-") {
            let error = result
                .err()
                .unwrap_or_else(|| panic!("{name} was accepted"));
            assert!(
                matches!(error, HandlerError::InvalidEvent(_)),
                "{name}: {error:?}"
            );
        } else {
            let report = result.unwrap_or_else(|error| panic!("{name} was rejected: {error}"));
            assert_eq!(report.status, RunStatus::CycleComplete, "{name}");
            assert_eq!(report.checked, 4, "{name}");
        }
    }
}

#[tokio::test]
async fn handler_reports_invalid_event_as_diagnostic() {
    let harness = Harness::new(&fleet(1), ScriptedTester::default());
    let revalidator = harness.revalidator(settings());
    let payload = serde_json::json!({"source": "aws.s3", "detail-type": "Object Created"});

    let error = handle(&revalidator, LambdaEvent::new(payload, Context::default()))
        .await
        .unwrap_err();

    let diagnostic = lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "InvalidEvent");
    assert!(diagnostic.error_message.contains("aws.s3"));
    assert!(harness.tester.tested().is_empty());
}
