//! Per-delta events and the shared trails their snapshots are read from.
//!
//! A text accumulator in event mode also keeps a [`Trail`]: a persistent list of the pieces
//! appended so far. An event holds the trail's head at its moment, so its `snapshot` is the
//! text up to that delta, built only if someone reads it. Without trails, every delta event
//! would copy the whole text so far and a long stream would cost quadratic time.

use std::sync::Arc;

use crate::formats::chat::assemble::merge_usage;
use crate::json::partial::PartialSnapshot;
use crate::json::value::{Map, Value};
use crate::persistent::List;

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

/// A persistent list of pieces appended so far (see [`crate::persistent`]).
pub type Trail<T> = List<T>;

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
    /// Shared with the call's state and its other events: a 1 MB name costs 1 MB once, not
    /// once per fragment.
    pub id: Option<Arc<str>>,
    pub name: Option<Arc<str>>,
    pub field: Option<String>,
    /// Done events: the final text. (A delta event's new text is its trail's newest piece.)
    pub text: Option<String>,
    pub snapshot: Snapshot,
    /// Logprobs delta events: the new entries.
    pub items: Option<Vec<Value>>,
    /// Error body, or the completion.
    pub value: Option<Value>,
    /// Usage events: the merged usage at this event, rebuilt when read.
    pub usage: Option<UsageSnapshot>,
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
            usage: None,
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

/// A step of the usage history: one chunk's usage to merge, or the whole merged usage so far.
#[derive(Debug)]
pub enum UsageStep {
    Merge(Map),
    Whole(Map),
}

/// The merged usage as of one usage event. Copying the merged usage into every event would
/// cost memory quadratic in the number of usage chunks (usage on every chunk, with keys that
/// keep growing); instead events share one history of the chunks' own usage objects, with a
/// copy of the whole merged usage only after as much new usage as that copy's size arrived.
/// So the history is at most about twice the usage input, and reading one event's usage
/// costs about twice its size: the nearest copy plus the chunks after it.
#[derive(Debug, Clone, Default)]
pub struct UsageSnapshot {
    history: Trail<UsageStep>,
}

impl UsageSnapshot {
    /// A snapshot holding the whole usage, for formats whose usage is not merged chunk by chunk.
    pub fn whole(usage: Map) -> Self {
        let mut history = Trail::default();
        history.push(UsageStep::Whole(usage));
        UsageSnapshot { history }
    }

    pub fn to_map(&self) -> Map {
        let mut merges = Vec::new();
        let mut base = None;
        for step in &self.history {
            match step {
                UsageStep::Merge(m) => merges.push(m),
                UsageStep::Whole(m) => {
                    base = Some(m);
                    break;
                }
            }
        }
        let mut total = base.cloned().unwrap_or_default();
        for m in merges.into_iter().rev() {
            merge_usage(&mut total, m.clone());
        }
        total
    }
}

/// Records usage chunks for [`UsageSnapshot`]s (see there for the cost model).
#[derive(Debug, Default)]
pub struct UsageLog {
    history: Trail<UsageStep>,
    /// Size of the chunks merged since the last whole copy.
    since_whole: usize,
}

impl UsageLog {
    /// `chunk` was just merged, giving `merged`: the snapshot for its event.
    pub fn record(&mut self, chunk: Map, merged: &Map) -> UsageSnapshot {
        self.since_whole += size(&chunk);
        self.history.push(UsageStep::Merge(chunk));
        if self.since_whole >= size(merged) {
            self.history.push(UsageStep::Whole(merged.clone()));
            self.since_whole = 0;
        }
        UsageSnapshot {
            history: self.history.clone(),
        }
    }
}

/// Number of values in a map, nested ones included (at least 1).
fn size(map: &Map) -> usize {
    let mut n = 1;
    let mut todo: Vec<&Value> = map.values().collect();
    while let Some(v) = todo.pop() {
        n += 1;
        match v {
            Value::Object(m) => todo.extend(m.values()),
            Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_snapshots_are_the_merged_usage_and_the_history_stays_linear() {
        let mut log = UsageLog::default();
        let mut merged = Map::new();
        let mut snapshots = Vec::new();
        for i in 0..500i64 {
            let mut chunk = Map::new();
            chunk.insert(format!("k{i}"), Value::int(i));
            // A zero never erases an earlier count.
            chunk.insert("total".into(), Value::int(if i % 3 == 0 { 0 } else { i }));
            merge_usage(&mut merged, chunk.clone());
            snapshots.push((log.record(chunk, &merged), merged.clone()));
        }
        for (snapshot, expected) in &snapshots {
            assert_eq!(&snapshot.to_map(), expected);
        }
        let mut whole_sizes = 0;
        for step in &log.history {
            if let UsageStep::Whole(m) = step {
                whole_sizes += m.len();
            }
        }
        // Each chunk brings 2 keys: the copies must stay within a constant of 1000 keys.
        assert!(whole_sizes <= 4 * 1000, "{whole_sizes}");
    }

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
