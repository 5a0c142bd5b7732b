//! [`Instance`]: this process as one of the paywire instances that share a
//! store, and the heartbeat that keeps its claims on events alive.
//!
//! Every instance beats every [`Instance::heartbeat`]; one silent for
//! longer than [`Instance::lease`] is taken for stopped by the next beat of
//! another, which releases the events it had claimed and fails its runs
//! left running, so that the events resume elsewhere (see
//! `Store::heartbeat`). The lease is a few seconds, not the hour some job
//! queues default to: an event of a stopped instance waits that long.

use std::sync::{Arc, Weak};
use std::time::Duration;

use paywire_store::{Heartbeat, Recovery, Store, StoreError};

use crate::inbox::Inbox;

/// This process, as the store knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Unique for the life of the process: its host, its process id and a
    /// random part, so that a restarted process is a new instance.
    pub id: Arc<str>,
    /// How long the instance may stay silent before the others take back
    /// its work.
    pub lease: Duration,
    /// How often it says it is alive: well under the lease, so that one slow
    /// beat does not cost it its claims.
    pub heartbeat: Duration,
}

impl Default for Instance {
    fn default() -> Instance {
        Instance::new(None, Duration::from_secs(15), Duration::from_secs(3))
    }
}

impl Instance {
    /// An instance called `id`, or by a name made up from the host and
    /// process when none is given.
    pub fn new(id: Option<String>, lease: Duration, heartbeat: Duration) -> Instance {
        let id = id.unwrap_or_else(|| {
            let host = paywire_support::host_name();
            let random = uuid::Uuid::new_v4().simple().to_string();
            format!("{host}-{}-{}", std::process::id(), &random[..6])
        });
        Instance {
            id: id.into(),
            lease,
            heartbeat,
        }
    }

    fn beat(&self, started_at: &str, starting: bool) -> Heartbeat {
        Heartbeat {
            instance: self.id.to_string(),
            started_at: started_at.to_string(),
            now: chrono::Utc::now().timestamp_millis(),
            lease_ms: i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX),
            starting,
        }
    }

    /// The first beat, at start: what stopped instances left is taken back
    /// before anything runs.
    pub(crate) async fn first_beat(
        &self,
        store: &dyn Store,
        started_at: &str,
    ) -> Result<Recovery, StoreError> {
        let recovery = store.heartbeat(self.beat(started_at, true)).await?;
        report(&recovery);
        Ok(recovery)
    }

    /// Beats until the engine is gone (`alive` can no longer be upgraded)
    /// or the inbox is closed, and wakes the inbox when stopped instances
    /// left events to take up.
    pub(crate) fn spawn_heartbeat<T: Send + Sync + 'static>(
        &self,
        store: Arc<dyn Store>,
        started_at: String,
        inbox: Arc<Inbox>,
        alive: Weak<T>,
    ) -> tokio::task::JoinHandle<()> {
        let instance = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(instance.heartbeat);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if alive.strong_count() == 0 || inbox.is_closed() {
                    return;
                }
                match store.heartbeat(instance.beat(&started_at, false)).await {
                    Ok(recovery) => {
                        if recovery.requeued_events > 0 {
                            inbox.rescan();
                        }
                        report(&recovery);
                    }
                    // The database is away: the beat after the next may
                    // reach it. Should this instance stay silent past its
                    // lease, the others take its events, and its reports of
                    // them change nothing.
                    Err(e) => tracing::warn!(error = %e, "the heartbeat could not reach the store"),
                }
            }
        })
    }
}

fn report(recovery: &Recovery) {
    if !recovery.is_empty() {
        tracing::warn!(
            instances = ?recovery.lost_instances,
            runs = recovery.interrupted_runs,
            events = recovery.requeued_events,
            "work of stopped paywire instances taken back: their running runs are marked failed and their events will run again"
        );
    }
}
