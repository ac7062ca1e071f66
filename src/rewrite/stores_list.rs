//! The `GET /stores` response as a mirror client must see it.
//!
//! After the migration the account has two stores where the client knew one: the old, now
//! inactive legacy store and its Miva Connect replacement. The client must keep seeing a
//! single store under the legacy ID, so the legacy element is dropped whenever its partner
//! is present, and the partner's ID is then mapped back to the legacy one.

use std::collections::HashSet;

use crate::rewrite::edit::{apply_edits, Edit};
use crate::rewrite::json::{JsonOptions, JsonRewrite, MalformedJson, RecordedId, Scanner};
use crate::stores::{Direction, StoreMap};

/// Depth of the store objects' keys: inside the top-level array, inside the object.
const STORE_OBJECT_DEPTH: usize = 2;

/// Merges each legacy/connect pair in a `GET /stores` response into one legacy store.
///
/// An element of the top-level array whose `storeId` is a legacy ID is removed when the
/// element of its connect partner is also in the array. Then every connect store ID is
/// rewritten to the legacy one, as [`rewrite_json`](crate::rewrite::rewrite_json) does with
/// [`Direction::ToLegacy`]. The array stays valid JSON, and every byte outside the removed
/// elements (with one adjacent comma each) and the replaced IDs is unchanged. A document that
/// is not an array is only rewritten. `count` adds removed elements to replaced IDs.
pub fn merge_store_list(input: &[u8], map: &StoreMap) -> Result<JsonRewrite, MalformedJson> {
    let mut scanner = Scanner::new(Direction::ToLegacy, JsonOptions::default());
    scanner.record_depth = Some(STORE_OBJECT_DEPTH);
    let mut id_edits: Vec<Edit> = Vec::new();
    scanner.feed(map, input, &mut id_edits)?;
    scanner.finish(map, &mut id_edits)?;

    let element_ids = element_store_ids(&scanner.elements, &scanner.recorded);
    let present: HashSet<u64> = element_ids.iter().flatten().copied().collect();
    let removed: Vec<bool> = element_ids
        .iter()
        .map(|id| {
            id.and_then(|id| map.translate(Direction::ToConnect, id))
                .is_some_and(|connect| present.contains(&connect))
        })
        .collect();

    let deletions = deletion_ranges(&scanner.elements, &removed);
    let mut edits: Vec<Edit> = id_edits
        .iter()
        .filter(|edit| {
            !deletions
                .iter()
                .any(|gone| gone.start <= edit.start && edit.end <= gone.end)
        })
        .copied()
        .chain(deletions.iter().copied())
        .collect();
    edits.sort_by_key(|edit| edit.start);

    let body = if edits.is_empty() {
        None
    } else {
        Some(apply_edits(input, &edits))
    };
    Ok(JsonRewrite {
        body,
        count: edits.len(),
        skipped_urls: 0,
        skipped_long: scanner.skipped_long,
    })
}

/// Returns each element's own store ID: `None` when it has none, or several that differ.
fn element_store_ids(elements: &[(usize, usize)], recorded: &[RecordedId]) -> Vec<Option<u64>> {
    elements
        .iter()
        .map(|&(start, end)| {
            let mut ids = recorded
                .iter()
                .filter(|seen| start <= seen.offset && seen.offset < end)
                .map(|seen| seen.id);
            let first = ids.next().flatten()?;
            ids.all(|id| id == Some(first)).then_some(first)
        })
        .collect()
}

/// Returns one deletion per removed element, including one comma next to it.
///
/// A removed element with a kept element somewhere before it takes the separator in front
/// of it (from the end of the previous element). A removed element before the first kept
/// one takes the separator after it instead. Removal needs a kept partner in the same
/// array, so that next element always exists, and the ranges never overlap.
fn deletion_ranges(elements: &[(usize, usize)], removed: &[bool]) -> Vec<Edit> {
    let mut deletions = Vec::new();
    let mut kept_before = false;
    for (index, (&(start, end), &gone)) in elements.iter().zip(removed).enumerate() {
        if !gone {
            kept_before = true;
            continue;
        }
        let range = if kept_before {
            index
                .checked_sub(1)
                .and_then(|previous| elements.get(previous))
                .map(|&(_, previous_end)| (previous_end, end))
        } else {
            elements
                .get(index + 1)
                .map(|&(next_start, _)| (start, next_start))
        };
        if let Some((from, to)) = range {
            deletions.push(Edit::delete(from, to));
        }
    }
    deletions
}

#[cfg(test)]
mod tests;
