//! Heavy reads: what costs time that grows with the whole trail or the whole year — verifying
//! the trail, exporting it, the year's checks and the annual report. Any reader could run many at
//! once and starve everyone else of database connections (issue 15: a clerk's `GET /orgs` went
//! from 2 ms to 1.75 s under sixteen verifications). One mechanism limits all four: a handler
//! takes a `HeavyPermit` before it starts, or answers 429 `too_many_requests` with
//! `Retry-After`, at once (a queue would only hold the connections of the callers waiting in it).
//!
//! A permit counts against three limits:
//! - **per caller** (the token's subject): at most `per_caller_max` heavy reads of any kind
//!   running at once, so one reader cannot take every slot;
//! - **queries** (verify, checks, report): at most `queries_max` at once in the process. Each
//!   holds one pooled connection from start to end, so this stays below the pool's size and
//!   ordinary requests always find a connection;
//! - **exports**: at most `exports_max` at once. An export holds a connection only while it
//!   reads one batch, and gives it back before it sends the batch, so a client that stops
//!   reading holds an export slot (until the send timeout ends it), never a connection.
//!
//! Limits are per process; several processes on one database each have their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::policy::Caller;
use crate::error::Error;

/// What kind of heavy read a permit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeavyKind {
    /// A query that holds a connection throughout: verify, the checks, the annual report.
    Query,
    /// A streamed export of the trail.
    Export,
}

impl HeavyKind {
    fn as_str(self) -> &'static str {
        match self {
            HeavyKind::Query => "query",
            HeavyKind::Export => "export",
        }
    }
}

/// The limits (from `Config`).
#[derive(Debug, Clone, Copy)]
pub struct HeavyLimits {
    /// Heavy reads of any kind one caller may run at once.
    pub per_caller_max: usize,
    /// Heavy queries running at once in the process.
    pub queries_max: usize,
    /// Exports running at once in the process.
    pub exports_max: usize,
    /// What a 429 tells the caller to wait, in seconds.
    pub retry_after_secs: u64,
}

#[derive(Debug, Default)]
struct Running {
    by_caller: HashMap<String, usize>,
    queries: usize,
    exports: usize,
}

/// The heavy reads running now, and the limits they run under (one per process, in `AppState`).
#[derive(Debug)]
pub struct HeavyReads {
    limits: HeavyLimits,
    running: Mutex<Running>,
}

impl HeavyReads {
    /// Nothing running yet.
    pub fn new(limits: HeavyLimits) -> Arc<Self> {
        Arc::new(Self { limits, running: Mutex::new(Running::default()) })
    }

    /// The limits in force.
    pub fn limits(&self) -> HeavyLimits {
        self.limits
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Running> {
        // The counters stay consistent whatever panicked while holding the lock (each change is
        // one statement), so a poisoned lock is still good to use.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A permit for `caller` to run a heavy read of `kind` now, or 429 `too_many_requests` with
    /// `Retry-After` when the caller, or the process, already runs as many as allowed.
    pub fn try_acquire(self: &Arc<Self>, caller: &Caller, kind: HeavyKind) -> Result<HeavyPermit, Error> {
        let subject = caller.actor();
        let mut running = self.running();
        let mine = running.by_caller.get(&subject).copied().unwrap_or(0);
        let (busy, max) = match kind {
            HeavyKind::Query => (running.queries, self.limits.queries_max),
            HeavyKind::Export => (running.exports, self.limits.exports_max),
        };
        let refused_by = if mine >= self.limits.per_caller_max {
            Some("per_caller")
        } else if busy >= max {
            Some("process")
        } else {
            None
        };
        if let Some(limit) = refused_by {
            drop(running);
            tracing::info!(heavy.kind = kind.as_str(), heavy.limit = limit, "heavy read refused: too many running");
            return Err(Error::TooManyRequests { retry_after_secs: self.limits.retry_after_secs });
        }
        *running.by_caller.entry(subject.clone()).or_insert(0) += 1;
        match kind {
            HeavyKind::Query => running.queries += 1,
            HeavyKind::Export => running.exports += 1,
        }
        Ok(HeavyPermit { reads: Arc::clone(self), subject, kind })
    }

    /// How many heavy reads run now: (queries, exports, callers with one running).
    pub fn running_now(&self) -> (usize, usize, usize) {
        let r = self.running();
        (r.queries, r.exports, r.by_caller.len())
    }
}

/// One heavy read's slot, given back when dropped.
#[derive(Debug)]
pub struct HeavyPermit {
    reads: Arc<HeavyReads>,
    subject: String,
    kind: HeavyKind,
}

impl HeavyPermit {
    /// Runs `work` to its end holding this permit. The work runs in a task of its own, so that
    /// the slot stays taken until the database work it started is over, even when the client
    /// goes away and its handler is dropped (the blocking query would run on regardless, and a
    /// caller who hangs up and asks again must not run more than its share).
    pub async fn run<T, F>(self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Error>> + Send + 'static,
    {
        tokio::spawn(async move {
            let _held = self;
            work.await
        })
        .await
        .map_err(Error::internal)?
    }
}

impl Drop for HeavyPermit {
    fn drop(&mut self) {
        let mut running = self.reads.running();
        if let Some(n) = running.by_caller.get_mut(&self.subject) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.by_caller.remove(&self.subject);
            }
        }
        match self.kind {
            HeavyKind::Query => running.queries = running.queries.saturating_sub(1),
            HeavyKind::Export => running.exports = running.exports.saturating_sub(1),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::policy::{Role, SubjectKind};

    fn caller(n: u128) -> Caller {
        Caller {
            subject: uuid::Uuid::from_u128(n),
            kind: SubjectKind::User,
            role: Role::Auditor,
            org_id: uuid::Uuid::nil(),
        }
    }

    fn reads() -> Arc<HeavyReads> {
        HeavyReads::new(HeavyLimits { per_caller_max: 2, queries_max: 3, exports_max: 1, retry_after_secs: 7 })
    }

    fn refused(r: Result<HeavyPermit, Error>) -> bool {
        matches!(r, Err(Error::TooManyRequests { retry_after_secs: 7 }))
    }

    #[test]
    fn a_caller_runs_two_at_once_then_is_refused_until_one_ends() {
        let reads = reads();
        let (a, b) = (caller(1), caller(2));
        let a1 = reads.try_acquire(&a, HeavyKind::Query).unwrap();
        let _a2 = reads.try_acquire(&a, HeavyKind::Query).unwrap();
        assert!(refused(reads.try_acquire(&a, HeavyKind::Query)));
        // The per-caller limit counts every kind.
        assert!(refused(reads.try_acquire(&a, HeavyKind::Export)));
        let _b1 = reads.try_acquire(&b, HeavyKind::Query).unwrap();
        drop(a1);
        let _a3 = reads.try_acquire(&a, HeavyKind::Query).unwrap();
        assert_eq!(reads.running_now(), (3, 0, 2));
    }

    #[test]
    fn the_process_limits_hold_across_callers_and_kinds_apart() {
        let reads = reads();
        let held: Vec<_> = (1..=3).map(|n| reads.try_acquire(&caller(n), HeavyKind::Query).unwrap()).collect();
        assert!(refused(reads.try_acquire(&caller(4), HeavyKind::Query)));
        // Exports have slots of their own.
        let e = reads.try_acquire(&caller(4), HeavyKind::Export).unwrap();
        assert!(refused(reads.try_acquire(&caller(5), HeavyKind::Export)));
        drop(held);
        drop(e);
        assert_eq!(reads.running_now(), (0, 0, 0), "every slot is given back, and no caller is left behind");
    }
}
