//! Whether a token's subject still holds what the token grants, read through a short cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::Verified;
use crate::db::users::SubjectAccess;
use crate::db::{self, Pool};
use crate::domain::policy::{Standing, SubjectKind};
use crate::error::Error;

/// Who a token's subject is now, as the database says, cached for a few seconds.
///
/// Every authenticated request needs its subject's row ([`check_subject`]); the cache keeps each
/// row for `ttl` (`UNIONFUND_AUTH_CACHE_MS`, default 2 s; 0 turns it off). A change made
/// through this process (disable, role, password, secret, …) drops the entry when it commits,
/// so it takes effect on the very next request; a change made by another process sharing the
/// database is seen within `ttl`. Entries are stored only when no change was committed while
/// they were being read (a generation counter), so a read racing a change cannot keep the old
/// row alive. Unknown subjects are not cached: they are refused, and a flood of forged
/// subjects must not grow the map.
pub struct SubjectCache {
    ttl: Duration,
    generation: AtomicU64,
    entries: Mutex<HashMap<(bool, Uuid), (Instant, SubjectAccess)>>,
}

/// Beyond this many entries, expired ones are dropped on the next insert.
const SUBJECT_CACHE_SWEEP_ABOVE: usize = 10_000;

impl SubjectCache {
    /// A cache keeping rows for `ttl` (zero: no cache).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, generation: AtomicU64::new(0), entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(bool, Uuid), (Instant, SubjectAccess)>> {
        // Plain data: a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn key(kind: SubjectKind, id: Uuid) -> (bool, Uuid) {
        (kind == SubjectKind::Client, id)
    }

    fn get(&self, key: (bool, Uuid), now: Instant) -> Option<SubjectAccess> {
        self.entries().get(&key).filter(|(until, _)| *until > now).map(|(_, access)| access.clone())
    }

    fn put(&self, key: (bool, Uuid), access: SubjectAccess, generation: u64, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        // Checked under the lock that `forget` also takes: a change committed since the read
        // began has bumped the generation, and the row read may be the old one.
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() > SUBJECT_CACHE_SWEEP_ABOVE {
            entries.retain(|_, (until, _)| *until > now);
        }
        entries.insert(key, (now + self.ttl, access));
    }

    /// Drops a subject's entry; call after a change to its access has committed.
    pub fn forget(&self, kind: SubjectKind, id: Uuid) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.remove(&Self::key(kind, id));
    }
}

/// Whether a verified token's subject still holds the access the token grants: it exists, is
/// not disabled, has the token's role and organisation, and its token version is the token's.
/// Anything else is a 401 — the token was revoked, or names a subject this database does not
/// know.
pub async fn check_subject(pool: &Pool, cache: &SubjectCache, token: &Verified) -> Result<(), Error> {
    let caller = &token.caller;
    let key = SubjectCache::key(caller.kind, caller.subject);
    let access = match cache.get(key, Instant::now()) {
        Some(access) => Some(access),
        None => {
            let generation = cache.generation.load(Ordering::SeqCst);
            let (client, id) = key;
            let access = crate::service::read(pool, move |conn| db::users::access(conn, client, id)).await?;
            if let Some(access) = &access {
                cache.put(key, access.clone(), generation, Instant::now());
            }
            access
        }
    };
    let holds = access.is_some_and(|a| {
        let now = Standing { role: &a.role, org_id: a.org_id, disabled: a.disabled, token_version: a.token_version };
        now.admits(caller, token.version)
    });
    if holds { Ok(()) } else { Err(Error::Unauthorized("this token is no longer valid: log in again".into())) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_subject_cache_forgets_a_changed_subject_and_refuses_a_racing_read() {
        let c = SubjectCache::new(Duration::from_secs(60));
        let a = SubjectAccess { disabled: false, role: "admin".into(), org_id: Uuid::from_u128(2), token_version: 1 };
        let key = SubjectCache::key(SubjectKind::User, Uuid::from_u128(1));
        let now = Instant::now();
        c.put(key, a.clone(), c.generation.load(Ordering::SeqCst), now);
        assert_eq!(c.get(key, now), Some(a.clone()));
        assert_eq!(c.get(key, now + Duration::from_secs(61)), None, "entries expire");
        let read_began = c.generation.load(Ordering::SeqCst);
        c.forget(SubjectKind::User, Uuid::from_u128(1));
        assert_eq!(c.get(key, now), None);
        c.put(key, a, read_began, now);
        assert_eq!(c.get(key, now), None, "a row read before a change is not kept");
    }
}
