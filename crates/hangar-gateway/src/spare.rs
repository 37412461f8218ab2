//! Giving back the room a burst left in a collection. A map or list keeps
//! its largest capacity after its entries go, and the pages it touched stay
//! resident: after 5,000 sessions expired, the tables that had held them
//! kept a few MB of RSS that nothing used.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

/// Room for this many entries is always kept.
const FLOOR: usize = 64;

/// A collection that can give back its spare room.
pub trait Spare {
    fn len_and_capacity(&self) -> (usize, usize);
    fn shrink(&mut self, to: usize);

    /// Shrinks to twice what is held when more than four times that is
    /// reserved, so a steady load does not grow and shrink it on every sweep.
    fn release_spare(&mut self) {
        let (len, capacity) = self.len_and_capacity();
        if capacity > FLOOR.max(len.saturating_mul(4)) {
            self.shrink(FLOOR.max(len.saturating_mul(2)));
        }
    }
}

impl<T> Spare for Vec<T> {
    fn len_and_capacity(&self) -> (usize, usize) {
        (self.len(), self.capacity())
    }

    fn shrink(&mut self, to: usize) {
        self.shrink_to(to);
    }
}

impl<K: Eq + Hash, V, S: BuildHasher> Spare for HashMap<K, V, S> {
    fn len_and_capacity(&self) -> (usize, usize) {
        (self.len(), self.capacity())
    }

    fn shrink(&mut self, to: usize) {
        self.shrink_to(to);
    }
}

impl<T: Eq + Hash, S: BuildHasher> Spare for HashSet<T, S> {
    fn len_and_capacity(&self) -> (usize, usize) {
        (self.len(), self.capacity())
    }

    fn shrink(&mut self, to: usize) {
        self.shrink_to(to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collection_mostly_emptied_gives_back_its_room() {
        let mut sessions: HashMap<u32, [u8; 64]> = (0..5000).map(|i| (i, [0; 64])).collect();
        sessions.retain(|id, _| *id < 10);
        assert!(sessions.capacity() >= 5000);
        sessions.release_spare();
        assert!(sessions.capacity() < 5000 / 4, "{}", sessions.capacity());
        assert_eq!(sessions.len(), 10, "nothing held is lost");

        let mut list: Vec<u64> = (0..5000).collect();
        list.truncate(3);
        list.release_spare();
        assert_eq!(list.capacity(), FLOOR);
        assert_eq!(list, [0, 1, 2]);

        let mut ids: HashSet<u32> = (0..5000).collect();
        ids.clear();
        ids.release_spare();
        assert!(ids.capacity() < 5000 / 4, "{}", ids.capacity());
    }

    #[test]
    fn a_collection_in_use_keeps_its_room() {
        // Half full: a steady load must not reallocate it on every sweep.
        let mut list: Vec<u64> = Vec::with_capacity(1000);
        list.extend(0..500);
        list.release_spare();
        assert_eq!(list.capacity(), 1000);
        // Small ones are left alone.
        let mut small: Vec<u64> = Vec::with_capacity(FLOOR);
        small.push(1);
        small.release_spare();
        assert_eq!(small.capacity(), FLOOR);
    }
}
