//! Per-delta events and the shared trails their snapshots are read from.
//!
//! A text accumulator in event mode also keeps a [`Trail`]: a persistent list of the pieces
//! appended so far. An event holds the trail's head at its moment, so its `snapshot` is the
//! text up to that delta, built only if someone reads it. Without trails, every delta event
//! would copy the whole text so far and a long stream would cost quadratic time.

use std::sync::Arc;

use crate::formats::chat::assemble::merge_usage;
use crate::json::partial::{PartialJson, PartialSnapshot};
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

/// One per-delta event: each kind carries exactly the fields it has.
#[derive(Debug, Clone)]
pub enum Event {
    /// `content.delta`, `refusal.delta`, `reasoning.delta`. The text so far is the trail (read
    /// only if someone asks); the new text is its newest piece.
    TextDelta {
        of: TextOf,
        choice_index: u64,
        trail: TextTrail,
    },
    /// `content.done`, `refusal.done`, `reasoning.done`: the final text.
    TextDone {
        of: TextOf,
        choice_index: u64,
        text: String,
    },
    /// `tool_calls.function.arguments.delta`, `function_call.arguments.delta`.
    ArgumentsDelta {
        call: Call,
        trail: TextTrail,
        parsed: Option<PartialSnapshot>,
    },
    /// `tool_calls.function.arguments.done`, `function_call.arguments.done`: the final
    /// arguments text.
    ArgumentsDone {
        call: Call,
        text: String,
        parsed: Option<PartialSnapshot>,
    },
    /// `logprobs.content.delta`, `logprobs.refusal.delta`. The new entries are the trail's
    /// newest piece; the list so far is the whole trail.
    Logprobs {
        of: LogprobsOf,
        choice_index: u64,
        trail: ListTrail,
    },
    /// The merged usage at this event, rebuilt when read.
    Usage(UsageSnapshot),
    /// An in-band error: its body.
    Error(Value),
    /// The end: the completion, when it was rendered for the event (see the driver's `finish`).
    Done(Option<Value>),
}

/// Which text of a message a text event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOf {
    Content,
    Refusal,
    /// Reasoning, with the key it streams under (`reasoning_content`, `thinking`, ...).
    Reasoning(&'static str),
}

/// Which logprobs list a logprobs event appends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogprobsOf {
    Content,
    Refusal,
}

/// The call an arguments event belongs to.
#[derive(Debug, Clone)]
pub struct Call {
    pub choice_index: u64,
    /// Shared with the call's state and its other events: a 1 MB name costs 1 MB once, not
    /// once per fragment.
    pub name: Option<Arc<str>>,
    pub of: CallOf,
}

#[derive(Debug, Clone)]
pub enum CallOf {
    /// An entry of `tool_calls`: its position in the message's list, and its id.
    Tool { index: usize, id: Option<Arc<str>> },
    /// The legacy `function_call`.
    Function,
}

impl Call {
    pub fn tool(
        choice_index: u64,
        index: usize,
        id: Option<Arc<str>>,
        name: Option<Arc<str>>,
    ) -> Self {
        Call {
            choice_index,
            name,
            of: CallOf::Tool { index, id },
        }
    }

    pub fn function(choice_index: u64, name: Option<Arc<str>>) -> Self {
        Call {
            choice_index,
            name,
            of: CallOf::Function,
        }
    }
}

impl Event {
    /// A call's `.done` from its final arguments text, for folds that do not keep a partial
    /// parser alive to the end: `parse_depth` (the depth limit) asks for `parsed` too.
    pub fn arguments_done(call: Call, text: String, parse_depth: Option<usize>) -> Self {
        let parsed = parse_depth.map(|max_depth| {
            let mut parser = PartialJson::new(max_depth);
            parser.feed(text.as_bytes());
            parser.snapshot()
        });
        Event::ArgumentsDone { call, text, parsed }
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Event::TextDelta { of, .. } => match of {
                TextOf::Content => EventKind::ContentDelta,
                TextOf::Refusal => EventKind::RefusalDelta,
                TextOf::Reasoning(_) => EventKind::ReasoningDelta,
            },
            Event::TextDone { of, .. } => match of {
                TextOf::Content => EventKind::ContentDone,
                TextOf::Refusal => EventKind::RefusalDone,
                TextOf::Reasoning(_) => EventKind::ReasoningDone,
            },
            Event::ArgumentsDelta { call, .. } => match call.of {
                CallOf::Tool { .. } => EventKind::ToolArgumentsDelta,
                CallOf::Function => EventKind::FunctionArgumentsDelta,
            },
            Event::ArgumentsDone { call, .. } => match call.of {
                CallOf::Tool { .. } => EventKind::ToolArgumentsDone,
                CallOf::Function => EventKind::FunctionArgumentsDone,
            },
            Event::Logprobs { of, .. } => match of {
                LogprobsOf::Content => EventKind::LogprobsContentDelta,
                LogprobsOf::Refusal => EventKind::LogprobsRefusalDelta,
            },
            Event::Usage(_) => EventKind::Usage,
            Event::Error(_) => EventKind::Error,
            Event::Done(_) => EventKind::Done,
        }
    }

    /// The arguments parsed as partial JSON (arguments events with `partial_arguments`).
    pub fn parsed(&self) -> Option<&PartialSnapshot> {
        match self {
            Event::ArgumentsDelta { parsed, .. } | Event::ArgumentsDone { parsed, .. } => {
                parsed.as_ref()
            }
            _ => None,
        }
    }

    /// The choice (candidate) the event belongs to; usage, error and done events have none.
    pub fn choice_index(&self) -> Option<u64> {
        match self {
            Event::TextDelta { choice_index, .. }
            | Event::TextDone { choice_index, .. }
            | Event::Logprobs { choice_index, .. } => Some(*choice_index),
            Event::ArgumentsDelta { call, .. } | Event::ArgumentsDone { call, .. } => {
                Some(call.choice_index)
            }
            Event::Usage(_) | Event::Error(_) | Event::Done(_) => None,
        }
    }
}

/// The `.done` events of the texts of a one-message fold (Anthropic, Bedrock):
/// `content.done` if the message has a text block, then `reasoning.done` (under the reasoning's
/// field) if it has a reasoning block.
pub fn texts_done(
    events: &mut Vec<Event>,
    content: Option<&str>,
    reasoning: Option<(&'static str, &str)>,
) {
    if let Some(text) = content {
        events.push(Event::TextDone {
            of: TextOf::Content,
            choice_index: 0,
            text: text.to_string(),
        });
    }
    if let Some((field, text)) = reasoning {
        events.push(Event::TextDone {
            of: TextOf::Reasoning(field),
            choice_index: 0,
            text: text.to_string(),
        });
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
