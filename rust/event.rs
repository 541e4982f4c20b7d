//! Per-delta events and the shared trails their snapshots are read from.
//!
//! A text accumulator in event mode also keeps a [`Trail`]: a persistent list of the pieces
//! appended so far. An event holds the trail's head at its moment, so its `snapshot` is the
//! text up to that delta, built only if someone reads it. Without trails, every delta event
//! would copy the whole text so far and a long stream would cost quadratic time.

use std::sync::Arc;

use crate::partial::PartialSnapshot;
use crate::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    ContentDelta,
    ContentDone,
    RefusalDelta,
    RefusalDone,
    ReasoningDelta,
    ReasoningDone,
    ToolArgumentsDelta,
    ToolArgumentsDone,
    FunctionArgumentsDelta,
    FunctionArgumentsDone,
    LogprobsContentDelta,
    LogprobsRefusalDelta,
    Usage,
    Error,
    Done,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::ContentDelta => "content.delta",
            EventKind::ContentDone => "content.done",
            EventKind::RefusalDelta => "refusal.delta",
            EventKind::RefusalDone => "refusal.done",
            EventKind::ReasoningDelta => "reasoning.delta",
            EventKind::ReasoningDone => "reasoning.done",
            EventKind::ToolArgumentsDelta => "tool_calls.function.arguments.delta",
            EventKind::ToolArgumentsDone => "tool_calls.function.arguments.done",
            EventKind::FunctionArgumentsDelta => "function_call.arguments.delta",
            EventKind::FunctionArgumentsDone => "function_call.arguments.done",
            EventKind::LogprobsContentDelta => "logprobs.content.delta",
            EventKind::LogprobsRefusalDelta => "logprobs.refusal.delta",
            EventKind::Usage => "usage",
            EventKind::Error => "error",
            EventKind::Done => "done",
        }
    }
}

/// One link of a persistent append-only list; the newest piece is the head.
#[derive(Debug)]
pub struct Link<T> {
    pub piece: T,
    pub prev: Option<Arc<Link<T>>>,
}

impl<T> Drop for Link<T> {
    // A trail can hold millions of links; the default recursive drop would overflow the stack.
    fn drop(&mut self) {
        let mut next = self.prev.take();
        while let Some(link) = next {
            match Arc::try_unwrap(link) {
                Ok(mut owned) => next = owned.prev.take(),
                Err(_) => break,
            }
        }
    }
}

/// A persistent list of pieces appended so far.
#[derive(Debug)]
pub struct Trail<T> {
    pub head: Option<Arc<Link<T>>>,
}

impl<T> Clone for Trail<T> {
    fn clone(&self) -> Self {
        Trail {
            head: self.head.clone(),
        }
    }
}

impl<T> Default for Trail<T> {
    fn default() -> Self {
        Trail { head: None }
    }
}

impl<T> Trail<T> {
    pub fn push(&mut self, piece: T) {
        let prev = self.head.take();
        self.head = Some(Arc::new(Link { piece, prev }));
    }

    /// The newest piece.
    pub fn last(&self) -> Option<&T> {
        self.head.as_deref().map(|l| &l.piece)
    }

    /// Pieces oldest first.
    pub fn pieces(&self) -> Vec<&T> {
        let mut out = Vec::new();
        let mut cur = self.head.as_deref();
        while let Some(link) = cur {
            out.push(&link.piece);
            cur = link.prev.as_deref();
        }
        out.reverse();
        out
    }
}

impl Trail<Box<str>> {
    pub fn text(&self) -> String {
        self.pieces().into_iter().map(|p| &**p).collect()
    }
}

impl Trail<Vec<Value>> {
    pub fn items(&self) -> Vec<Value> {
        self.pieces().into_iter().flatten().cloned().collect()
    }
}

pub type TextTrail = Trail<Box<str>>;
pub type ListTrail = Trail<Vec<Value>>;

/// What an event's `snapshot` is read from.
#[derive(Debug, Clone)]
pub enum Snapshot {
    None,
    Text(TextTrail),
    List(ListTrail),
}

#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub choice_index: Option<u64>,
    pub index: Option<usize>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub field: Option<String>,
    /// Done events: the final text. (A delta event's new text is its trail's newest piece.)
    pub text: Option<String>,
    pub snapshot: Snapshot,
    /// Logprobs delta events: the new entries.
    pub items: Option<Vec<Value>>,
    /// Usage, error body, or the completion.
    pub value: Option<Value>,
    pub parsed: Option<PartialSnapshot>,
}

impl Event {
    pub fn new(kind: EventKind, choice_index: Option<u64>) -> Self {
        Event {
            kind,
            choice_index,
            index: None,
            id: None,
            name: None,
            field: None,
            text: None,
            snapshot: Snapshot::None,
            items: None,
            value: None,
            parsed: None,
        }
    }

    /// The new text of a text delta event: the newest piece of its trail.
    pub fn delta(&self) -> Option<&str> {
        match &self.snapshot {
            Snapshot::Text(trail) if self.is_delta() => trail.last().map(|s| &**s),
            _ => None,
        }
    }

    pub fn is_delta(&self) -> bool {
        matches!(
            self.kind,
            EventKind::ContentDelta
                | EventKind::RefusalDelta
                | EventKind::ReasoningDelta
                | EventKind::ToolArgumentsDelta
                | EventKind::FunctionArgumentsDelta
                | EventKind::LogprobsContentDelta
                | EventKind::LogprobsRefusalDelta
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_snapshots_are_prefixes() {
        let mut t = TextTrail::default();
        t.push("ab".into());
        let early = t.clone();
        t.push("cd".into());
        assert_eq!(early.text(), "ab");
        assert_eq!(t.text(), "abcd");
        assert_eq!(t.last().map(|s| &**s), Some("cd"));
    }

    #[test]
    fn long_trails_drop_without_overflow() {
        let mut t = TextTrail::default();
        for _ in 0..1_000_000 {
            t.push("x".into());
        }
        drop(t);
    }
}
