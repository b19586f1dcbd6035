//! Running an update order from the hub: the neuron's pre-migrations, its switch to the new
//! version, its post-migrations, in order, stopping at the first step that fails. Each step's
//! start and end go to the hub (an `updateStatus` on the channel, and the migration on the
//! next heartbeat, shown on the hub's Releases page).
//!
//! A release names its migrations by id and never carries code: the neuron ships its own
//! migrations and runs only those it knows ([`Updater::migrate`] refuses an unknown id).

use chrono::Utc;
use cortex_core::federation::{
    MigrationPhase, MigrationReport, MigrationState, UpdateOrder, UpdateState,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// What a step of an update gives back: its output when it worked, or why it failed.
pub type StepFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// How a neuron runs an update: its own migrations and its switch to the new version. Give
/// one to [`crate::runner::Hooks`]; a neuron without one answers every order with a failure.
pub trait Updater: Send + Sync + 'static {
    /// Runs the neuron's migration `id` in `phase` (before or after the switch). Ok with its
    /// output, or Err with why it failed (an id the neuron does not ship must fail).
    fn migrate(&self, id: &str, phase: MigrationPhase) -> StepFuture;
    /// Switches to `order.version`: returns once the new version serves (in this process,
    /// or a new one this one waits for). The runner then reports that version.
    fn switch(&self, order: &UpdateOrder) -> StepFuture;
}

/// What a neuron says about an update order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateReport {
    pub id: String,
    pub state: UpdateState,
    pub step: String,
    pub message: String,
}

/// Updates this neuron ran or runs, and what is still to be said to the hub.
#[derive(Default)]
pub(crate) struct UpdateLog {
    /// The last report of each order (kept for the newest [`KEPT`]).
    latest: BTreeMap<String, UpdateReport>,
    order: Vec<String>,
    /// Reports not yet sent, oldest first.
    pub(crate) outbox: Vec<UpdateReport>,
    /// The order under way (or, once it ended, the queued one about to start).
    running: Option<String>,
    /// The order that came while another ran: it starts when that one ends (a newer one
    /// replaces it, which is then reported as failed).
    queued: Option<UpdateOrder>,
}

/// Orders remembered, so one sent again is answered with how it ended.
const KEPT: usize = 16;

impl UpdateLog {
    fn note(&mut self, report: UpdateReport) {
        if !self.latest.contains_key(&report.id) {
            self.order.push(report.id.clone());
            if self.order.len() > KEPT {
                let old = self.order.remove(0);
                self.latest.remove(&old);
            }
        }
        if report.state.is_final() && self.running.as_deref() == Some(report.id.as_str()) {
            // The queued order, if any, is next: reserved now, so no new order starts
            // between this one's end and its start.
            self.running = self.queued.as_ref().map(|o| o.id.clone());
        }
        self.latest.insert(report.id.clone(), report.clone());
        self.outbox.push(report);
    }
}

/// The runner's side of updates, shared with the update task.
pub(crate) struct Updates {
    pub(crate) log: Mutex<UpdateLog>,
    /// Something is in the outbox.
    pub(crate) changed: Notify,
}

impl Updates {
    pub(crate) fn new() -> Self {
        Self {
            log: Mutex::new(UpdateLog::default()),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UpdateLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn report(&self, id: &str, state: UpdateState, step: &str, message: &str) {
        self.lock().note(UpdateReport {
            id: id.to_string(),
            state,
            step: step.to_string(),
            message: cortex_core::federation::output_tail(message),
        });
        self.changed.notify_one();
    }

    /// The oldest report not yet sent.
    pub(crate) fn next_unsent(&self) -> Option<UpdateReport> {
        self.lock().outbox.first().cloned()
    }

    /// The oldest report was sent.
    pub(crate) fn sent(&self) {
        let mut log = self.lock();
        if !log.outbox.is_empty() {
            log.outbox.remove(0);
        }
    }

    /// Takes an order: starts it (true); or answers at once how an order already seen
    /// ended, fails it when there is no updater, or queues it while another update runs
    /// (false).
    pub(crate) fn take(&self, order: &UpdateOrder, has_updater: bool) -> bool {
        let mut log = self.lock();
        if let Some(seen) = log.latest.get(&order.id).cloned() {
            log.outbox.push(seen);
            drop(log);
            self.changed.notify_one();
            return false;
        }
        if log.queued.as_ref().is_some_and(|q| q.id == order.id) {
            return false;
        }
        if !has_updater {
            log.note(UpdateReport {
                id: order.id.clone(),
                state: UpdateState::Failed,
                step: String::new(),
                message: "this neuron has no update hook: it cannot update itself".into(),
            });
            drop(log);
            self.changed.notify_one();
            return false;
        }
        if log.running.is_none() {
            log.running = Some(order.id.clone());
            return true;
        }
        if let Some(old) = log.queued.replace(order.clone()) {
            if log.running.as_deref() == Some(old.id.as_str()) {
                log.running = Some(order.id.clone());
            }
            log.note(UpdateReport {
                id: old.id,
                state: UpdateState::Failed,
                step: String::new(),
                message: format!(
                    "superseded by a newer order ({}) before it started",
                    order.id
                ),
            });
            drop(log);
            self.changed.notify_one();
        }
        false
    }

    /// The queued order, when the update before it has ended: it is to run now.
    pub(crate) fn start_queued(&self) -> Option<UpdateOrder> {
        let mut log = self.lock();
        match &log.queued {
            Some(q) if log.running.as_deref() == Some(q.id.as_str()) => log.queued.take(),
            _ => None,
        }
    }
}

/// Runs `order` with `updater`: each step reported as it starts and ends; `on_switched` is
/// called with the new version once the switch worked; `on_migration` with each migration's
/// report (for the heartbeat).
pub(crate) async fn run(
    order: UpdateOrder,
    updater: Arc<dyn Updater>,
    updates: Arc<Updates>,
    on_migration: impl Fn(MigrationReport),
    on_switched: impl Fn(&str),
) {
    let id = order.id.as_str();
    let migrations = |list: &[String], phase| {
        list.iter()
            .map(|m| (m.clone(), phase))
            .collect::<Vec<(String, MigrationPhase)>>()
    };
    let steps = migrations(&order.pre_migrations, MigrationPhase::Pre)
        .into_iter()
        .map(Some)
        .chain([None])
        .chain(
            migrations(&order.post_migrations, MigrationPhase::Post)
                .into_iter()
                .map(Some),
        );
    let mut last = String::new();
    for step in steps {
        let (name, outcome) = match step {
            Some((migration, phase)) => {
                let name = format!(
                    "{} {migration}",
                    match phase {
                        MigrationPhase::Pre => "pre",
                        MigrationPhase::Post => "post",
                    }
                );
                updates.report(id, UpdateState::Running, &name, "");
                let report = |state, output: &str| MigrationReport {
                    id: migration.clone(),
                    phase,
                    state,
                    at: Utc::now(),
                    output_tail: output.to_string(),
                };
                on_migration(report(MigrationState::Running, ""));
                let outcome = updater.migrate(&migration, phase).await;
                on_migration(match &outcome {
                    Ok(out) => report(MigrationState::Succeeded, out),
                    Err(out) => report(MigrationState::Failed, out),
                });
                (name, outcome)
            }
            None => {
                let name = "switch".to_string();
                updates.report(id, UpdateState::Running, &name, "");
                let outcome = updater.switch(&order).await;
                if outcome.is_ok() {
                    on_switched(&order.version);
                }
                (name, outcome)
            }
        };
        match outcome {
            Ok(out) => last = out,
            Err(why) => {
                updates.report(id, UpdateState::Failed, &name, &why);
                return;
            }
        }
    }
    updates.report(id, UpdateState::Done, "", &last);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Script {
        fail: Option<&'static str>,
        ran: Arc<Mutex<Vec<String>>>,
    }

    impl Updater for Script {
        fn migrate(&self, id: &str, _phase: MigrationPhase) -> StepFuture {
            self.ran.lock().unwrap().push(id.to_string());
            let fail = self.fail == Some(id);
            let id = id.to_string();
            Box::pin(async move {
                if fail {
                    Err(format!("{id}: table locked"))
                } else {
                    Ok(format!("{id}: ok"))
                }
            })
        }
        fn switch(&self, order: &UpdateOrder) -> StepFuture {
            self.ran
                .lock()
                .unwrap()
                .push(format!("switch {}", order.version));
            Box::pin(async { Ok("switched".to_string()) })
        }
    }

    fn order() -> UpdateOrder {
        UpdateOrder {
            id: "r1".into(),
            version: "2.0".into(),
            bundle: None,
            pre_migrations: vec!["0001_add".into()],
            post_migrations: vec!["0002_drop".into()],
        }
    }

    async fn go(fail: Option<&'static str>) -> (Vec<String>, Vec<UpdateReport>, Vec<String>) {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let updates = Arc::new(Updates::new());
        assert!(updates.take(&order(), true));
        let switched = Arc::new(Mutex::new(Vec::new()));
        let s = switched.clone();
        run(
            order(),
            Arc::new(Script {
                fail,
                ran: ran.clone(),
            }),
            updates.clone(),
            |_| {},
            move |v| s.lock().unwrap().push(v.to_string()),
        )
        .await;
        let out = updates.lock().outbox.clone();
        let ran = ran.lock().unwrap().clone();
        let switched = switched.lock().unwrap().clone();
        (ran, out, switched)
    }

    #[tokio::test]
    async fn steps_run_in_order_and_each_is_reported() {
        let (ran, out, switched) = go(None).await;
        assert_eq!(ran, ["0001_add", "switch 2.0", "0002_drop"]);
        let steps: Vec<_> = out.iter().map(|r| (r.state, r.step.as_str())).collect();
        assert_eq!(
            steps,
            [
                (UpdateState::Running, "pre 0001_add"),
                (UpdateState::Running, "switch"),
                (UpdateState::Running, "post 0002_drop"),
                (UpdateState::Done, ""),
            ]
        );
        assert_eq!(switched, ["2.0"]);
    }

    #[tokio::test]
    async fn a_failed_step_stops_the_update_before_the_switch() {
        let (ran, out, switched) = go(Some("0001_add")).await;
        assert_eq!(ran, ["0001_add"]);
        let last = out.last().unwrap();
        assert_eq!(
            (last.state, last.step.as_str(), last.message.as_str()),
            (
                UpdateState::Failed,
                "pre 0001_add",
                "0001_add: table locked"
            )
        );
        assert!(switched.is_empty());
    }

    #[test]
    fn an_order_seen_again_is_answered_and_a_second_one_waits() {
        let updates = Updates::new();
        assert!(!updates.take(&order(), false), "no updater: refused");
        assert_eq!(updates.lock().outbox[0].state, UpdateState::Failed);
        assert!(!updates.take(&order(), false), "seen: answered again");
        assert_eq!(updates.lock().outbox.len(), 2);
        let other = UpdateOrder {
            id: "r2".into(),
            ..order()
        };
        assert!(updates.take(&other, true));
        // While r2 runs, r3 waits; r4 replaces it (r3 is reported as superseded).
        let third = UpdateOrder {
            id: "r3".into(),
            ..order()
        };
        assert!(!updates.take(&third, true));
        assert_eq!(updates.start_queued(), None, "r2 still runs");
        let fourth = UpdateOrder {
            id: "r4".into(),
            ..order()
        };
        assert!(!updates.take(&fourth, true));
        let last = updates.lock().outbox.last().unwrap().clone();
        assert_eq!((last.id.as_str(), last.state), ("r3", UpdateState::Failed));
        // r2 ends: r4 is next, and nothing else can start before it.
        updates.report("r2", UpdateState::Done, "", "");
        let fifth = UpdateOrder {
            id: "r5".into(),
            ..order()
        };
        assert!(!updates.take(&fifth, true), "r4 is reserved");
        let next = updates.start_queued().unwrap();
        assert_eq!(next.id, "r5", "the newest queued order runs");
    }
}
