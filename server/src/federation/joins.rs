//! Registrations are written in batches. Each join's checks that need no database (size,
//! fields, signature, kind, policy) run in its own request; what needs the database (the
//! nonce, the neuron already registered, the upsert, the audit entry) is queued here, and one
//! writer records everything waiting in one transaction of a handful of statements. A join
//! arriving alone is written at once; under load, batches form by themselves while the
//! previous transaction commits.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

use crate::store::neurons::{Join, JoinOutcome};
use crate::store::{DynStore, StoreError, StoreResult};

/// Most joins in one transaction (16 columns each stays under either database's bind limit).
const MAX_BATCH: usize = 256;
/// Joins waiting for the writer; a full queue makes callers wait (back-pressure).
const QUEUE: usize = 4096;

struct Pending {
    join: Join,
    max_pending: u64,
    reply: oneshot::Sender<StoreResult<JoinOutcome>>,
}

/// The queue in front of the join writer, which starts with the first join.
#[derive(Clone, Default)]
pub struct JoinQueue {
    sender: Arc<OnceLock<mpsc::Sender<Pending>>>,
}

impl JoinQueue {
    /// Records one join (in a batch with whatever else is waiting) and returns its outcome.
    pub async fn submit(
        &self,
        store: &DynStore,
        join: Join,
        max_pending: u64,
    ) -> StoreResult<JoinOutcome> {
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(store.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the join writer stopped".into());
        sender
            .send(Pending {
                join,
                max_pending,
                reply,
            })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(store: DynStore, mut rx: mpsc::Receiver<Pending>) {
    // Joins held back because their id was already in the batch being formed.
    let mut held: VecDeque<Pending> = VecDeque::new();
    loop {
        let first = match held.pop_front() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut ids = HashSet::from([first.join.neuron.id.clone()]);
        let mut batch = vec![first];
        let mut later = VecDeque::new();
        while batch.len() < MAX_BATCH {
            let Some(p) = held.pop_front().or_else(|| rx.try_recv().ok()) else {
                break;
            };
            if ids.insert(p.join.neuron.id.clone()) {
                batch.push(p);
            } else {
                later.push_back(p);
            }
        }
        later.extend(held.drain(..));
        held = later;
        write(&store, batch).await;
    }
}

/// Writes a batch; if the batch fails as a whole, each join is tried alone so that one bad
/// registration (a kind removed a moment ago, say) fails only itself.
async fn write(store: &DynStore, batch: Vec<Pending>) {
    let max_pending = batch
        .iter()
        .map(|p| p.max_pending)
        .min()
        .unwrap_or(u64::MAX);
    let (joins, replies): (Vec<Join>, Vec<_>) =
        batch.into_iter().map(|p| (p.join, p.reply)).unzip();
    match store.join_neurons(&joins, max_pending).await {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) if joins.len() == 1 => {
            let _ = replies.into_iter().next().map(|r| r.send(Err(e)));
        }
        Err(e) => {
            tracing::debug!(error = %e, joins = joins.len(), "a join batch failed; writing them one by one");
            for (join, reply) in joins.into_iter().zip(replies) {
                let one = store
                    .join_neurons(std::slice::from_ref(&join), max_pending)
                    .await
                    .map(|mut o| o.remove(0));
                let _ = reply.send(one);
            }
        }
    }
}
