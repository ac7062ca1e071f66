//! The store mapping: which legacy Miva store ID stands for which Miva Connect store ID.
//!
//! A [`StoreMap`] is immutable once built. The proxy holds it behind an `Arc` so that a
//! request always sees one whole table, never half of an old one and half of a new one.

use std::collections::HashMap;
use std::fmt;

/// A ShipStation V1 store ID. ShipStation sends these as JSON integers.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct StoreId(pub u64);

impl fmt::Display for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One legacy Miva store and the Miva Connect store that replaced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StorePair {
    pub legacy: StoreId,
    pub connect: StoreId,
}

/// Which way a value is translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to ShipStation: a legacy ID becomes its connect ID.
    ToConnect,
    /// ShipStation to a `mirror` client: a connect ID becomes its legacy ID.
    ToLegacy,
}

/// Errors in the list of store pairs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreMapError {
    #[error("store ID {0} appears in more than one [[store]] pair; each ID may be mapped once")]
    Duplicate(StoreId),
    #[error("store ID {0} is both a legacy and a connect ID; a pair maps an old store to a different, new store")]
    BothSides(StoreId),
    #[error("store ID 0 is not a valid ShipStation store ID")]
    Zero,
}

/// The translation table between legacy and connect store IDs, in both directions.
#[derive(Clone, Debug, Default)]
pub struct StoreMap {
    pairs: Vec<StorePair>,
    to_connect: HashMap<u64, u64>,
    to_legacy: HashMap<u64, u64>,
}

impl StoreMap {
    /// Builds the table, rejecting an ID that appears twice or on both sides.
    pub fn new(pairs: Vec<StorePair>) -> Result<Self, StoreMapError> {
        let mut to_connect = HashMap::with_capacity(pairs.len());
        let mut to_legacy = HashMap::with_capacity(pairs.len());
        for pair in &pairs {
            let (legacy, connect) = (pair.legacy.0, pair.connect.0);
            if legacy == 0 || connect == 0 {
                return Err(StoreMapError::Zero);
            }
            if legacy == connect {
                return Err(StoreMapError::BothSides(pair.legacy));
            }
            if to_connect.insert(legacy, connect).is_some() {
                return Err(StoreMapError::Duplicate(pair.legacy));
            }
            if to_legacy.insert(connect, legacy).is_some() {
                return Err(StoreMapError::Duplicate(pair.connect));
            }
        }
        for pair in &pairs {
            if to_legacy.contains_key(&pair.legacy.0) {
                return Err(StoreMapError::BothSides(pair.legacy));
            }
        }
        Ok(Self {
            pairs,
            to_connect,
            to_legacy,
        })
    }

    /// Returns the ID that `id` translates to in `direction`, if it is mapped.
    pub fn translate(&self, direction: Direction, id: u64) -> Option<u64> {
        match direction {
            Direction::ToConnect => self.to_connect.get(&id).copied(),
            Direction::ToLegacy => self.to_legacy.get(&id).copied(),
        }
    }

    /// Whether `id` is a legacy store ID of some pair.
    pub fn is_legacy(&self, id: u64) -> bool {
        self.to_connect.contains_key(&id)
    }

    /// Whether `id` is a connect store ID of some pair.
    pub fn is_connect(&self, id: u64) -> bool {
        self.to_legacy.contains_key(&id)
    }

    /// The IDs that `direction` translates from: legacy IDs for calls, connect IDs for responses.
    pub fn sources(&self, direction: Direction) -> impl Iterator<Item = u64> + '_ {
        let table = match direction {
            Direction::ToConnect => &self.to_connect,
            Direction::ToLegacy => &self.to_legacy,
        };
        table.keys().copied()
    }

    pub fn pairs(&self) -> &[StorePair] {
        &self.pairs
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// The mapping most unit tests use: a 5-digit legacy ID and a 7-digit connect ID, so that
/// a rewrite changes the length of the text.
#[cfg(test)]
pub(crate) fn example_map() -> StoreMap {
    let pair = StorePair {
        legacy: StoreId(12345),
        connect: StoreId(7654321),
    };
    match StoreMap::new(vec![pair]) {
        Ok(map) => map,
        Err(error) => panic!("example pair is valid: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(legacy: u64, connect: u64) -> StorePair {
        StorePair {
            legacy: StoreId(legacy),
            connect: StoreId(connect),
        }
    }

    #[test]
    fn translates_both_directions() {
        let map = StoreMap::new(vec![pair(12345, 7654321)]).expect("valid pairs");
        assert_eq!(map.translate(Direction::ToConnect, 12345), Some(7654321));
        assert_eq!(map.translate(Direction::ToLegacy, 7654321), Some(12345));
        assert_eq!(map.translate(Direction::ToConnect, 7654321), None);
        assert_eq!(map.translate(Direction::ToLegacy, 12345), None);
    }

    #[test]
    fn rejects_duplicate_legacy() {
        let err = StoreMap::new(vec![pair(1, 2), pair(1, 3)]).unwrap_err();
        assert_eq!(err, StoreMapError::Duplicate(StoreId(1)));
    }

    #[test]
    fn rejects_duplicate_connect() {
        let err = StoreMap::new(vec![pair(1, 3), pair(2, 3)]).unwrap_err();
        assert_eq!(err, StoreMapError::Duplicate(StoreId(3)));
    }

    #[test]
    fn rejects_id_on_both_sides() {
        let err = StoreMap::new(vec![pair(1, 2), pair(2, 3)]).unwrap_err();
        assert_eq!(err, StoreMapError::BothSides(StoreId(2)));
        let err = StoreMap::new(vec![pair(5, 5)]).unwrap_err();
        assert_eq!(err, StoreMapError::BothSides(StoreId(5)));
    }
}
