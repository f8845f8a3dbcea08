//! Counting by peer uid: at most `per_uid` at once for one uid and `total` for all together, so one local
//! user cannot take everything and several cannot take more than their share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A pool of slots limited per uid and in total. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct UidSlots {
    per_uid: usize,
    total: usize,
    taken: Mutex<Taken>,
}

#[derive(Debug, Default)]
struct Taken {
    by_uid: HashMap<u32, usize>,
    total: usize,
}

impl UidSlots {
    /// A pool that lends at most `per_uid` slots to one uid and `total` to everyone.
    pub fn new(per_uid: usize, total: usize) -> Arc<UidSlots> {
        Arc::new(UidSlots {
            per_uid,
            total,
            taken: Mutex::new(Taken::default()),
        })
    }

    /// The most one uid may hold.
    pub fn per_uid(&self) -> usize {
        self.per_uid
    }

    /// Takes a slot for `uid`, or `None` when the uid or the pool is at its limit. The slot is given back
    /// when the returned guard drops.
    pub fn try_take(self: &Arc<Self>, uid: u32) -> Option<UidSlot> {
        let mut taken = self.lock();
        let mine = taken.by_uid.get(&uid).copied().unwrap_or(0);
        if mine >= self.per_uid || taken.total >= self.total {
            return None;
        }
        taken.by_uid.insert(uid, mine + 1);
        taken.total += 1;
        Some(UidSlot {
            pool: self.clone(),
            uid,
        })
    }

    /// Slots `uid` holds now.
    pub fn held_by(&self, uid: u32) -> usize {
        self.lock().by_uid.get(&uid).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Taken> {
        // The counters are updated in one step each; a panic elsewhere cannot leave them half-done.
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn give_back(&self, uid: u32) {
        let mut taken = self.lock();
        taken.total = taken.total.saturating_sub(1);
        if let Some(n) = taken.by_uid.get_mut(&uid) {
            *n -= 1;
            if *n == 0 {
                taken.by_uid.remove(&uid);
            }
        }
    }
}

/// One slot held for one uid; dropping it gives it back.
#[derive(Debug)]
pub struct UidSlot {
    pool: Arc<UidSlots>,
    uid: u32,
}

impl Drop for UidSlot {
    fn drop(&mut self) {
        self.pool.give_back(self.uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_uid_and_in_total_and_gives_back_on_drop() {
        let pool = UidSlots::new(2, 3);
        let a1 = pool.try_take(1000).unwrap();
        let _a2 = pool.try_take(1000).unwrap();
        assert!(pool.try_take(1000).is_none(), "uid 1000 is at its limit");
        let _b1 = pool.try_take(1001).unwrap();
        assert!(pool.try_take(1002).is_none(), "the pool is full");
        drop(a1);
        assert_eq!(pool.held_by(1000), 1);
        let _c1 = pool.try_take(1002).unwrap();
        assert_eq!(pool.held_by(1002), 1);
    }
}
