//! The persistent list shared by event trails and partial-JSON snapshots.
//!
//! Pushing shares the old list as the tail, so a copy of the list as of any moment costs one
//! reference count: an event keeps the text up to its delta, a partial-JSON snapshot keeps the
//! children read so far, and neither copies anything until it is read.
//!
//! Dropping never recurses: a trail can hold millions of cells and a partial-JSON tree can be
//! 100k levels deep, either of which would overflow the stack under the default drop. Cells are
//! freed through an explicit work list, and only cells whose last owner lets go are queued; a
//! list still shared (say, with the parser while a snapshot is dropped) is released with one
//! atomic decrement and no allocation.

use std::sync::Arc;

/// A persistent list, newest element first.
pub struct List<T: Reclaim>(Option<Arc<Cell<T>>>);

/// One cell of a [`List`]: an element and the older list it was pushed onto.
pub struct Cell<T: Reclaim> {
    pub head: T,
    tail: List<T>,
}

/// How the elements of a list give up the lists they own, so dropping them cannot recurse.
pub trait Reclaim: Sized {
    /// A freed cell waiting to be dismantled. Elements that own lists of another element type
    /// (a JSON node owns a list of object entries, which own nodes) share one such type.
    type Doomed: Dismantle;

    fn doom(cell: Cell<Self>) -> Self::Doomed;

    /// Moves every list this value owns onto `work`.
    fn release(&mut self, work: &mut Vec<Self::Doomed>);
}

/// A freed cell that can be emptied: its element's lists go onto `work`, and its tail (when this
/// was its last owner) comes back to continue with.
pub trait Dismantle: Sized {
    fn dismantle(self, work: &mut Vec<Self>) -> Option<Self>;
}

/// Elements that own no list: a freed cell is just itself.
impl<T: Reclaim<Doomed = Cell<T>>> Dismantle for Cell<T> {
    fn dismantle(self, work: &mut Vec<Self>) -> Option<Self> {
        unlink(self, work)
    }
}

/// Empties a freed cell (its element's lists go to `work`) and returns its tail's first cell
/// when this was the tail's last owner.
pub fn unlink<T: Reclaim>(mut cell: Cell<T>, work: &mut Vec<T::Doomed>) -> Option<T::Doomed> {
    cell.head.release(work);
    cell.tail.take_last_owned().map(T::doom)
}

impl<T: Reclaim> List<T> {
    pub fn push(&mut self, head: T) {
        let tail = List(self.0.take());
        self.0 = Some(Arc::new(Cell { head, tail }));
    }

    /// The newest element.
    pub fn last(&self) -> Option<&T> {
        self.0.as_deref().map(|cell| &cell.head)
    }

    /// The elements, newest first.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter(self.0.as_deref())
    }

    /// The elements, oldest first.
    pub fn pieces(&self) -> Vec<&T> {
        let mut out: Vec<&T> = self.iter().collect();
        out.reverse();
        out
    }

    /// Lets go of the list; its first cell comes back when this was the last owner.
    fn take_last_owned(&mut self) -> Option<Cell<T>> {
        // `into_inner`, not `try_unwrap`: when two threads drop the last two owners at once,
        // exactly one of them gets the cell to dismantle.
        self.0.take().and_then(Arc::into_inner)
    }

    /// Lets go of the list, queueing its first cell on `work` when this was the last owner.
    pub fn release(&mut self, work: &mut Vec<T::Doomed>) {
        if let Some(cell) = self.take_last_owned() {
            work.push(T::doom(cell));
        }
    }
}

impl<T: Reclaim> Drop for List<T> {
    fn drop(&mut self) {
        let Some(first) = self.take_last_owned() else {
            return;
        };
        let mut work = Vec::new();
        let mut current = Some(T::doom(first));
        while let Some(doomed) = current.take().or_else(|| work.pop()) {
            current = doomed.dismantle(&mut work);
        }
    }
}

impl<T: Reclaim> Default for List<T> {
    fn default() -> Self {
        List(None)
    }
}

impl<T: Reclaim> Clone for List<T> {
    fn clone(&self) -> Self {
        List(self.0.clone())
    }
}

impl<T: Reclaim + std::fmt::Debug> std::fmt::Debug for List<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: Reclaim> IntoIterator for &'a List<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

pub struct Iter<'a, T: Reclaim>(Option<&'a Cell<T>>);

impl<'a, T: Reclaim> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        let cell = self.0?;
        self.0 = cell.tail.0.as_deref();
        Some(&cell.head)
    }
}

/// Element types that own no list.
macro_rules! flat_elements {
    ($($t:ty),* $(,)?) => {$(
        impl Reclaim for $t {
            type Doomed = Cell<$t>;

            fn doom(cell: Cell<Self>) -> Self::Doomed {
                cell
            }

            fn release(&mut self, _work: &mut Vec<Self::Doomed>) {}
        }
    )*};
}

flat_elements!(
    Box<str>,
    Vec<crate::json::value::Value>,
    crate::event::UsageStep
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_keep_their_prefix() {
        let mut list: List<Box<str>> = List::default();
        list.push("a".into());
        let early = list.clone();
        list.push("b".into());
        assert_eq!(early.pieces(), [&Box::<str>::from("a")]);
        assert_eq!(list.iter().map(|s| &**s).collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(list.last().map(|s| &**s), Some("b"));
    }

    #[test]
    fn long_lists_drop_without_overflow() {
        let mut list: List<Box<str>> = List::default();
        for _ in 0..1_000_000 {
            list.push("x".into());
        }
        let shared = list.clone();
        drop(list);
        assert_eq!(shared.iter().count(), 1_000_000);
        drop(shared);
    }
}
