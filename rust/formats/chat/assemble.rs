//! Accumulators: fold decoded chunks into the state of one completion, and render it.
//!
//! Merge rules are those of DESIGN.md "Merge rules". A chunk is applied entirely or not at all:
//! [`Assembler::apply`] checks every limit the chunk could exceed before it changes anything.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::driver::Options;
use crate::event::{Call, Event, ListTrail, LogprobsOf, TextOf, TextTrail, UsageLog};
use crate::formats::chat::header::Header;
use crate::formats::chat::scan::{
    ChoiceDelta, Chunk, Content, Delta, Extras, Field, FunctionCallDelta, Logprobs, ToolCallDelta,
};
use crate::formats::chat::template::Matched;
use crate::json::partial::PartialJson;
use crate::json::value::{Map, Value};
use crate::limits::{LimitName, Limits};

/// One text accumulator of a completion, named so that a template (see `template`) can append
/// its varying string to it without decoding the chunk. The indexes are narrow, as every live
/// parser keeps its templates: a chunk with a larger one is decoded in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Content { choice: u32 },
    Refusal { choice: u32 },
    ToolArguments { choice: u32, index: u32 },
    FunctionArguments { choice: u32 },
}

/// A limit a chunk would exceed, with the payload position of the offending value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    pub limit: LimitName,
    pub maximum: u64,
    pub pos: usize,
}

/// Keys of the message beyond role/content/refusal, in order of first non-null appearance.
#[derive(Debug, Clone, Copy, PartialEq)]
enum MessageKey {
    ToolCalls,
    FunctionCall,
    Audio,
    /// The next key of `message_extras`, which keeps its keys in order of first appearance:
    /// naming it again here would store every key twice.
    Extra,
}

#[derive(Debug, Default)]
struct ToolCallState {
    wire_index: Option<u64>,
    // Shared with every event of the call (C2): an event holds a reference, not a copy.
    id: Option<Arc<str>>,
    /// Borrowed for the usual `function`, as a choice's role is for `assistant`: most calls
    /// allocate nothing for it.
    kind: Option<Cow<'static, str>>,
    name: Option<Arc<str>>,
    arguments: String,
    function_extras: Map,
    extras: Map,
    done: bool,
    trail: TextTrail,
    /// Boxed: only `partial_arguments` makes one, and every call of every live parser would
    /// carry its room.
    partial: Option<Box<PartialJson>>,
}

/// The legacy `function_call` has exactly `name` and `arguments`, as in the non-streaming
/// response; other keys sent inside it are not kept.
#[derive(Debug, Default)]
struct FunctionCallState {
    name: Option<Arc<str>>,
    arguments: String,
    done: bool,
    trail: TextTrail,
    /// Boxed as a tool call's is (only `partial_arguments` makes one).
    partial: Option<Box<PartialJson>>,
}

#[derive(Debug, Default)]
struct LogprobsState {
    content: Option<Vec<Value>>,
    refusal: Option<Vec<Value>>,
    extras: Map,
    content_trail: ListTrail,
    refusal_trail: ListTrail,
}

/// A text accumulator that, in event mode, also keeps a trail for event snapshots.
#[derive(Debug, Default)]
struct TextAccumulator {
    text: Option<String>,
    trail: TextTrail,
    done: bool,
}

impl TextAccumulator {
    fn push(&mut self, piece: &str, events: bool) {
        self.text.get_or_insert_with(String::new).push_str(piece);
        if events && !piece.is_empty() {
            self.trail.push(piece.into());
        }
    }

    fn value(&self) -> Value {
        self.text.clone().map_or(Value::Null, Value::String)
    }
}

#[derive(Debug, Default)]
struct ChoiceState {
    index: u64,
    /// Borrowed for the usual `assistant`, so that most choices allocate nothing for it.
    role: Option<Cow<'static, str>>,
    content: TextAccumulator,
    /// Created by the first refusal, reasoning, audio or unknown key.
    rare: Option<Box<RareParts>>,
    tool_calls: ToolCalls,
    /// The position of the call a fragment without an index continues, plus one: the
    /// `None` fits in the niche, 8 bytes less in every choice of every live parser.
    current_call: Option<NonZeroUsize>,
    function_call: Option<Box<FunctionCallState>>,
    /// Grown one key at a time (a choice has a few at most): a boxed slice is 8 bytes less
    /// than a `Vec` in every choice.
    message_order: Box<[MessageKey]>,
    /// Whether `message_order` holds `ToolCalls`, `FunctionCall`, `Audio`: asked on every
    /// chunk that carries one, while the list may hold any number of extra keys.
    ordered_tool_calls: bool,
    ordered_function_call: bool,
    ordered_audio: bool,
    logprobs: Option<Box<LogprobsState>>,
    finish_reason: Option<Box<str>>,
}

/// The parts of a choice most streams never send: boxed, as every choice of every live parser
/// would carry their room.
#[derive(Debug, Default)]
struct RareParts {
    refusal: TextAccumulator,
    /// Reasoning text per delta key (`reasoning_content`, `reasoning`), for events only; the
    /// text itself lives in `message_extras` like any other string increment.
    reasoning: Vec<(&'static str, TextAccumulator)>,
    audio: Option<Map>,
    /// Message keys beyond the known ones (`reasoning_content`, provider keys), in order of
    /// first appearance.
    message_extras: Map,
    /// Choice keys beyond the known ones.
    extras: Map,
}

/// Lists at most this long are searched by scanning; longer ones get a hash index, so that no
/// lookup costs time in proportion to how many choices or calls a stream has opened.
const SCAN_UP_TO: usize = 8;

/// The delta keys whose string increments are reasoning text, with `reasoning.*` events.
const REASONING_KEYS: [&str; 2] = ["reasoning_content", "reasoning"];

/// The tool calls of one choice in order of first appearance, found by wire index or id.
#[derive(Debug, Default)]
struct ToolCalls {
    items: Vec<ToolCallState>,
    /// Built once `items` outgrows [`SCAN_UP_TO`]; boxed, as most choices never need it and
    /// every choice of every live parser would carry its room.
    index: Option<Box<CallIndex>>,
    /// Calls before this position have had their done event (see `done_events`).
    done_below: usize,
}

/// The hash index of a choice's tool calls.
#[derive(Debug, Default)]
struct CallIndex {
    /// Wire index to position (wire indexes of calls are distinct: a known index always
    /// continues its call).
    by_wire: HashMap<u64, usize>,
    /// Id to the lowest position of a call with that id (two calls may share one).
    by_id: HashMap<Arc<str>, usize>,
}

impl ToolCalls {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn indexed(&self) -> bool {
        self.items.len() > SCAN_UP_TO
    }

    fn find_wire(&self, index: u64) -> Option<usize> {
        if let (true, Some(ix)) = (self.indexed(), &self.index) {
            ix.by_wire.get(&index).copied()
        } else {
            self.items.iter().position(|c| c.wire_index == Some(index))
        }
    }

    fn find_id(&self, id: &str) -> Option<usize> {
        if let (true, Some(ix)) = (self.indexed(), &self.index) {
            ix.by_id.get(id).copied()
        } else {
            self.items.iter().position(|c| c.id.as_deref() == Some(id))
        }
    }

    fn has_id(&self, pos: usize) -> bool {
        self.items.get(pos).is_some_and(|c| c.id.is_some())
    }

    fn push(&mut self, call: ToolCallState) -> usize {
        self.items.reserve_exact(1);
        self.items.push(call);
        let pos = self.items.len() - 1;
        if self.items.len() == SCAN_UP_TO + 1 {
            for p in 0..self.items.len() {
                self.index_call(p);
            }
        } else if self.indexed() {
            self.index_call(pos);
        }
        pos
    }

    /// Records the wire index and id of the call at `pos` (after its id was first set).
    fn index_call(&mut self, pos: usize) {
        if !self.indexed() {
            return;
        }
        let Some(call) = self.items.get(pos) else {
            return;
        };
        let ix = self.index.get_or_insert_with(Box::default);
        if let Some(w) = call.wire_index {
            ix.by_wire.entry(w).or_insert(pos);
        }
        if let Some(id) = &call.id {
            ix.by_id
                .entry(id.clone())
                .and_modify(|p| *p = (*p).min(pos))
                .or_insert(pos);
        }
    }

    fn get_mut(&mut self, pos: usize) -> Option<&mut ToolCallState> {
        self.items.get_mut(pos)
    }
}

/// Choices in arrival order, found by index. A stream may open choices in any order (up to
/// `max_choice_index`), so inserting one must not shift the others, and output order comes
/// from sorting when rendering.
#[derive(Debug, Default)]
struct Choices {
    items: Vec<ChoiceState>,
    /// Choice index to position, built once `items` outgrows [`SCAN_UP_TO`] (boxed: most
    /// streams never need it).
    #[allow(clippy::box_collection)]
    by_index: Option<Box<HashMap<u64, usize>>>,
    /// A choice arrived with a lower index than an earlier one.
    unsorted: bool,
}

impl Choices {
    #[inline]
    fn position(&self, index: u64) -> Option<usize> {
        // Streams almost always address the newest choice; check it before searching.
        match self.items.last() {
            Some(last) if last.index == index => Some(self.items.len() - 1),
            _ if self.items.len() > SCAN_UP_TO => self
                .by_index
                .as_ref()
                .and_then(|ix| ix.get(&index).copied()),
            _ => self.items.iter().position(|c| c.index == index),
        }
    }

    fn get(&self, index: u64) -> Option<&ChoiceState> {
        self.position(index).and_then(|p| self.items.get(p))
    }

    #[inline]
    fn get_mut(&mut self, index: u64) -> Option<&mut ChoiceState> {
        self.position(index).and_then(|p| self.items.get_mut(p))
    }

    fn get_or_insert(&mut self, index: u64) -> &mut ChoiceState {
        let pos = if let Some(p) = self.position(index) {
            p
        } else {
            if self.items.last().is_some_and(|last| last.index > index) {
                self.unsorted = true;
            }
            // Most streams have one choice; do not reserve room for four.
            self.items.reserve_exact(1);
            self.items.push(ChoiceState {
                index,
                ..ChoiceState::default()
            });
            let pos = self.items.len() - 1;
            if self.items.len() == SCAN_UP_TO + 1 {
                self.by_index = Some(Box::new(
                    self.items
                        .iter()
                        .enumerate()
                        .map(|(p, c)| (c.index, p))
                        .collect(),
                ));
            } else if let (true, Some(ix)) = (self.items.len() > SCAN_UP_TO, &mut self.by_index) {
                ix.insert(index, pos);
            }
            pos
        };
        &mut self.items[pos]
    }

    /// Positions in choice-index order.
    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.items.len()).collect();
        if self.unsorted {
            order.sort_unstable_by_key(|&p| self.items.get(p).map_or(0, |c| c.index));
        }
        order
    }
}

/// Where a tool-call fragment goes: an existing call's position, or a new call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Existing(usize),
    New,
}

/// The limits a chunk is checked against here (the byte limits are the framer's): every live
/// parser carries this inline, so not the whole [`Limits`].
// The field names of `Limits`, which these copy.
#[allow(clippy::struct_field_names)]
#[derive(Debug, Default, Clone, Copy)]
struct ChunkLimits {
    max_choice_index: u64,
    max_tool_calls: usize,
    max_depth: usize,
}

#[derive(Debug, Default)]
pub struct Assembler {
    options: Options,
    limits: ChunkLimits,
    header: Header,
    /// Boxed, as are the Groq usage and the unknown keys: most chunks carry none (usage comes
    /// with the last), and every live parser carries this inline.
    usage: Option<Box<Map>>,
    usage_log: UsageLog,
    groq_usage: Option<Box<Map>>,
    extras: Option<Box<Map>>,
    choices: Choices,
    chunks: u64,
    /// Distinct per assembler in the process (see [`Assembler::version`]).
    serial: u64,
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

impl Assembler {
    pub fn new(options: Options, limits: Limits) -> Self {
        Assembler {
            options,
            limits: ChunkLimits {
                max_choice_index: limits.max_choice_index,
                max_tool_calls: limits.max_tool_calls,
                max_depth: limits.max_depth,
            },
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            ..Assembler::default()
        }
    }

    /// Identifies the completion as of now: equal versions render equal completions, so a
    /// caller may reuse what it built from an earlier [`Assembler::completion`].
    pub fn version(&self) -> (u64, u64) {
        (self.serial, self.chunks)
    }

    /// The options it was made with (its owner keeps no copy).
    pub fn options(&self) -> Options {
        self.options
    }

    /// The nesting limit it was made with (its owner keeps no copy).
    pub fn max_depth(&self) -> usize {
        self.limits.max_depth
    }

    /// An empty assembler with the same options and limits, for the next stream of a capture.
    #[must_use]
    pub fn renewed(&self) -> Self {
        Assembler {
            options: self.options,
            limits: self.limits,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            ..Assembler::default()
        }
    }

    /// Number of chunks applied.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// True when there is at least one choice and every choice has a `finish_reason`.
    pub fn all_finished(&self) -> bool {
        !self.choices.items.is_empty()
            && self.choices.items.iter().all(|c| c.finish_reason.is_some())
    }

    /// Folds one chunk in, appending events when they are on. On a limit violation nothing
    /// has changed.
    pub fn apply(&mut self, chunk: Chunk<'_>, events: &mut Vec<Event>) -> Result<(), Violation> {
        let plans = self.plan(&chunk)?;
        self.chunks += 1;
        self.header.apply(&chunk);
        for (choice, targets) in chunk.choices.into_iter().zip(plans) {
            self.apply_choice(choice, &targets, events);
        }
        match chunk.usage {
            Field::Set(usage) => {
                let merged = self.usage.get_or_insert_with(Box::default);
                if self.options.events {
                    merge_usage(merged, (*usage).clone());
                    events.push(Event::Usage(self.usage_log.record(*usage, merged)));
                } else {
                    merge_usage(merged, *usage);
                }
            }
            Field::Null | Field::Absent => {}
        }
        for (key, value) in chunk.extras {
            if key == "x_groq" {
                if let Value::Object(m) = &value {
                    if let Some(Value::Object(u)) = m.get("usage") {
                        merge_usage(self.groq_usage.get_or_insert_with(Box::default), u.clone());
                    }
                }
            }
            deep_merge_into(
                self.extras.get_or_insert_with(Box::default),
                key.into_owned(),
                value,
            );
        }
        Ok(())
    }

    /// Checks limits and resolves every tool-call fragment to its call, without changing
    /// anything. Returns one target list per choice entry of the chunk.
    fn plan(&self, chunk: &Chunk<'_>) -> Result<Vec<Vec<Target>>, Violation> {
        let mut plans = Vec::with_capacity(chunk.choices.len());
        // One simulation per choice the chunk names, carried from entry to entry: a chunk may
        // name the same choice many times, and each entry is planned against the state the
        // earlier ones leave.
        let mut sims: Vec<(u64, CallSim<'_>)> = Vec::new();
        let mut sim_of: HashMap<u64, usize> = HashMap::new();
        for c in &chunk.choices {
            if c.index > self.limits.max_choice_index {
                return Err(Violation {
                    limit: LimitName::ChoiceIndex,
                    maximum: self.limits.max_choice_index,
                    pos: c.index_pos,
                });
            }
            let Some(delta) = &c.delta else {
                plans.push(Vec::new());
                continue;
            };
            if delta.tool_calls.is_empty() {
                plans.push(Vec::new());
                continue;
            }
            let found = if sims.len() > SCAN_UP_TO {
                sim_of.get(&c.index).copied()
            } else {
                sims.iter().position(|(i, _)| *i == c.index)
            };
            let slot = if let Some(slot) = found {
                slot
            } else {
                let state = self.choices.get(c.index);
                sims.push((c.index, CallSim::new(state)));
                if sims.len() == SCAN_UP_TO + 1 {
                    sim_of = sims.iter().enumerate().map(|(s, (i, _))| (*i, s)).collect();
                } else if sims.len() > SCAN_UP_TO {
                    sim_of.insert(c.index, sims.len() - 1);
                }
                sims.len() - 1
            };
            let Some((_, sim)) = sims.get_mut(slot) else {
                plans.push(Vec::new());
                continue;
            };
            plans.push(self.plan_calls(sim, &delta.tool_calls)?);
        }
        Ok(plans)
    }

    fn plan_calls(
        &self,
        sim: &mut CallSim<'_>,
        fragments: &[ToolCallDelta<'_>],
    ) -> Result<Vec<Target>, Violation> {
        let max = self.limits.max_tool_calls;
        let mut targets = Vec::with_capacity(fragments.len());
        for f in fragments {
            if let Some(ix) = f.index {
                if ix >= max as u64 {
                    return Err(Violation {
                        limit: LimitName::ToolCalls,
                        maximum: max as u64,
                        pos: f.index_pos,
                    });
                }
            }
            let t = sim.resolve(f);
            if sim.len() > max {
                return Err(Violation {
                    limit: LimitName::ToolCalls,
                    maximum: max as u64,
                    pos: f.index_pos,
                });
            }
            targets.push(t);
        }
        Ok(targets)
    }

    fn apply_choice(&mut self, c: ChoiceDelta<'_>, targets: &[Target], events: &mut Vec<Event>) {
        let opts = self.options;
        let max_depth = self.limits.max_depth;
        let state = self.choices.get_or_insert(c.index);
        if let Some(delta) = c.delta {
            state.apply_delta(delta, targets, opts, max_depth, events);
        }
        match c.logprobs {
            Field::Set(lp) => state.apply_logprobs(*lp, opts, events),
            Field::Null | Field::Absent => {}
        }
        for (k, v) in c.extras {
            merge_choice_extra(&mut state.rare_mut().extras, k.into_owned(), v);
        }
        if let Field::Set(reason) = c.finish_reason {
            if !reason.is_empty() {
                state.finish_reason = Some(Box::from(reason.as_ref()));
                if opts.events {
                    state.done_events(events);
                }
            }
        }
    }

    /// Folds in a chunk that may match a [`Template`](super::template::Template) of `slot`:
    /// `read` appends the chunk's varying string to the slot's text and returns the chunk's
    /// logprobs entries (when `with_entries`), or returns `None` when the chunk does not match,
    /// having appended nothing. Decoding straight into the text costs no buffer per string.
    /// On a match the entries are appended too: the whole effect of such a chunk.
    pub fn append_read(
        &mut self,
        slot: Slot,
        with_entries: bool,
        read: impl FnOnce(&mut String) -> Option<Matched>,
    ) -> Appended {
        let choice = match slot {
            Slot::Content { choice }
            | Slot::Refusal { choice }
            | Slot::ToolArguments { choice, .. }
            | Slot::FunctionArguments { choice } => choice,
        };
        let Some(state) = self.choices.get_mut(u64::from(choice)) else {
            return Appended::Refused;
        };
        // Entries go with a content template, to its choice's logprobs.
        if with_entries && !(matches!(slot, Slot::Content { .. }) && state.logprobs.is_some()) {
            return Appended::Refused;
        }
        let entries = match slot {
            Slot::Content { .. } => read_into_text(&mut state.content, read),
            Slot::Refusal { .. } => match state.rare.as_mut() {
                Some(rare) => read_into_text(&mut rare.refusal, read),
                None => return Appended::Refused,
            },
            Slot::ToolArguments { index, .. } => {
                let Some(pos) = state.tool_calls.find_wire(u64::from(index)) else {
                    return Appended::Refused;
                };
                let Some(call) = state.tool_calls.get_mut(pos) else {
                    return Appended::Refused;
                };
                let entries = read_into_arguments(&mut call.arguments, &mut call.partial, read);
                if entries.is_some() {
                    // As in `apply_tool_call`: a later fragment without an index continues it.
                    state.current_call = call_mark(pos);
                }
                entries
            }
            Slot::FunctionArguments { .. } => {
                let Some(f) = state.function_call.as_mut() else {
                    return Appended::Refused;
                };
                read_into_arguments(&mut f.arguments, &mut f.partial, read)
            }
        };
        let Some(Matched { entries }) = entries else {
            return Appended::NoMatch;
        };
        if let Some(items) = entries {
            if let Some(lp) = state.logprobs.as_mut() {
                lp.content.get_or_insert_with(Vec::new).extend(items);
            }
        }
        self.chunks += 1;
        Appended::Yes
    }

    /// End of stream with events: the pending done events of every choice.
    pub fn finish_events(&mut self, events: &mut Vec<Event>) {
        for pos in self.choices.order() {
            if let Some(c) = self.choices.items.get_mut(pos) {
                c.done_events(events);
            }
        }
    }

    /// Renders the completion assembled so far.
    pub fn completion(&self) -> Value {
        let usage = self.usage.as_deref().or(self.groq_usage.as_deref());
        self.render(usage.cloned().map_or(Value::Null, Value::Object))
    }

    /// Renders the completion with `usage` as its usage.
    fn render(&self, usage: Value) -> Value {
        // Room for the eight keys every completion has: no growing on the way.
        let mut out = Map::with_capacity(8);
        let header = self.header.render();
        out.insert("id".into(), header.id);
        out.insert("object".into(), Value::string("chat.completion"));
        out.insert("created".into(), header.created);
        out.insert("model".into(), header.model);
        out.insert(
            "choices".into(),
            Value::Array(
                self.choices
                    .order()
                    .into_iter()
                    .filter_map(|p| self.choices.items.get(p))
                    .map(ChoiceState::render)
                    .collect(),
            ),
        );
        out.insert("usage".into(), usage);
        if let Some(v) = header.service_tier {
            out.insert("service_tier".into(), v);
        }
        if let Some(v) = header.system_fingerprint {
            out.insert("system_fingerprint".into(), v);
        }
        for (k, v) in self.extras.iter().flat_map(|m| m.iter()) {
            if !out.contains_key(k) {
                out.insert(k.clone(), v.clone());
            }
        }
        Value::Object(out)
    }
}

impl Assembler {
    /// The completion at the end of the stream, with its long texts (content, refusal, tool
    /// and function arguments) and its logprobs lists moved out of the accumulators rather
    /// than copied: a completion is mostly those texts, and copying them doubled the peak
    /// memory of finishing; a logprobs completion is mostly its entries, and copying each
    /// entry's text cost an allocation, a copy and a free per entry on every finish. Hand the
    /// completion back with [`Assembler::restore`] before the assembler is used again.
    pub fn take_completion(&mut self) -> Value {
        let texts: Vec<String> = self.texts_mut().into_iter().map(std::mem::take).collect();
        let lists: Vec<Vec<Value>> = self.lists_mut().into_iter().map(std::mem::take).collect();
        // The usage map, too, is moved rather than copied (and dropped by `restore`) when it
        // is the only one: with a Groq usage as well, `restore` could not tell them apart.
        let mut completion = match self.usage.take() {
            Some(usage) if self.groq_usage.is_none() => self.render(Value::Object(*usage)),
            usage => {
                self.usage = usage;
                self.completion()
            }
        };
        let lists_fit =
            lists.is_empty() || rendered_lists_mut(&mut completion).len() == lists.len();
        let text_slots = rendered_texts_mut(&mut completion);
        if lists_fit && text_slots.len() == texts.len() {
            for (slot, text) in text_slots.into_iter().zip(texts) {
                *slot = text;
            }
            if !lists.is_empty() {
                for (slot, list) in rendered_lists_mut(&mut completion).into_iter().zip(lists) {
                    *slot = list;
                }
            }
        } else {
            // Not reached: the completion renders exactly the accumulators `texts_mut` and
            // `lists_mut` name. Should they ever disagree, everything goes back and the
            // result is a copy.
            for (acc, text) in self.texts_mut().into_iter().zip(texts) {
                *acc = text;
            }
            for (acc, list) in self.lists_mut().into_iter().zip(lists) {
                *acc = list;
            }
            self.take_back_usage(&mut completion);
            completion = self.completion();
        }
        completion
    }

    /// Moves back the usage map that [`Assembler::take_completion`] moved into `completion`:
    /// the assembler's own usage is rendered whenever it has one, so with neither its own nor
    /// a Groq usage left, a usage map in the completion is the moved one.
    fn take_back_usage(&mut self, completion: &mut Value) {
        if self.usage.is_some() || self.groq_usage.is_some() {
            return;
        }
        if let Some(Value::Object(usage)) = object_get_mut(completion, "usage").map(std::mem::take)
        {
            self.usage = Some(Box::new(usage));
        }
    }

    /// Moves the long texts and logprobs lists of a completion from
    /// [`Assembler::take_completion`] back into the accumulators, leaving the assembler as it
    /// was before.
    pub fn restore(&mut self, mut completion: Value) {
        self.take_back_usage(&mut completion);
        let slots = rendered_texts_mut(&mut completion);
        let accs = self.texts_mut();
        if slots.len() == accs.len() {
            for (acc, slot) in accs.into_iter().zip(slots) {
                std::mem::swap(acc, slot);
            }
        }
        let accs = self.lists_mut();
        if accs.is_empty() {
            return;
        }
        let slots = rendered_lists_mut(&mut completion);
        if slots.len() == accs.len() {
            for (acc, slot) in accs.into_iter().zip(slots) {
                std::mem::swap(acc, slot);
            }
        }
    }

    /// The choices, in the order the completion renders them.
    fn choices_in_order_mut(&mut self) -> Vec<&mut ChoiceState> {
        let order = self.choices.order();
        let mut items: Vec<Option<&mut ChoiceState>> =
            self.choices.items.iter_mut().map(Some).collect();
        order
            .into_iter()
            .filter_map(|p| items.get_mut(p).and_then(Option::take))
            .collect()
    }

    /// The logprobs lists the completion renders, in the order [`rendered_lists_mut`] finds
    /// them in the completion.
    fn lists_mut(&mut self) -> Vec<&mut Vec<Value>> {
        // Most streams have no logprobs: they pay no allocation here.
        if self.choices.items.iter().all(|c| c.logprobs.is_none()) {
            return Vec::new();
        }
        let mut lists = Vec::new();
        for c in self.choices_in_order_mut() {
            if let Some(lp) = c.logprobs.as_deref_mut() {
                lists.extend(lp.content.as_mut());
                lists.extend(lp.refusal.as_mut());
            }
        }
        lists
    }

    /// The long-text accumulators the completion renders, in the order
    /// [`rendered_texts_mut`] finds them in the completion.
    fn texts_mut(&mut self) -> Vec<&mut String> {
        let mut texts = Vec::new();
        for c in self.choices_in_order_mut() {
            texts.extend(c.content.text.as_mut());
            texts.extend(c.rare.as_mut().and_then(|r| r.refusal.text.as_mut()));
            if c.ordered_tool_calls {
                texts.extend(c.tool_calls.items.iter_mut().map(|t| &mut t.arguments));
            }
            if c.ordered_function_call {
                texts.extend(c.function_call.as_mut().map(|f| &mut f.arguments));
            }
        }
        texts
    }
}

/// The long texts of a rendered chat completion, in the order [`Assembler::texts_mut`] names
/// their accumulators: per choice the message's content, refusal, every tool call's arguments
/// and the function call's arguments, each where present as a string.
fn rendered_texts_mut(completion: &mut Value) -> Vec<&mut String> {
    let mut texts = Vec::new();
    for message in choice_members_mut(completion, "message") {
        let mut content = None;
        let mut refusal = None;
        let mut calls = None;
        let mut function = None;
        for (key, value) in message.iter_mut() {
            match key.as_str() {
                "content" => content = Some(value),
                "refusal" => refusal = Some(value),
                "tool_calls" => calls = Some(value),
                "function_call" => function = Some(value),
                _ => {}
            }
        }
        for value in [content, refusal].into_iter().flatten() {
            if let Value::String(s) = value {
                texts.push(s);
            }
        }
        if let Some(Value::Array(calls)) = calls {
            for call in calls {
                let function = object_get_mut(call, "function");
                if let Some(Value::String(s)) =
                    function.and_then(|f| object_get_mut(f, "arguments"))
                {
                    texts.push(s);
                }
            }
        }
        if let Some(Value::String(s)) = function.and_then(|f| object_get_mut(f, "arguments")) {
            texts.push(s);
        }
    }
    texts
}

/// The logprobs lists of a rendered chat completion, in the order [`Assembler::lists_mut`]
/// names their accumulators: per choice the `content` and then the `refusal` list of its
/// logprobs, each where present as an array.
fn rendered_lists_mut(completion: &mut Value) -> Vec<&mut Vec<Value>> {
    let mut lists = Vec::new();
    for logprobs in choice_members_mut(completion, "logprobs") {
        let mut content = None;
        let mut refusal = None;
        for (key, value) in logprobs.iter_mut() {
            match (key.as_str(), value) {
                ("content", Value::Array(items)) => content = Some(items),
                ("refusal", Value::Array(items)) => refusal = Some(items),
                _ => {}
            }
        }
        lists.extend(content);
        lists.extend(refusal);
    }
    lists
}

/// Each choice's `member` of a rendered chat completion, where it is an object.
fn choice_members_mut<'v>(
    completion: &'v mut Value,
    member: &'v str,
) -> impl Iterator<Item = &'v mut Map> {
    let choices = match object_get_mut(completion, "choices") {
        Some(Value::Array(choices)) => choices.as_mut_slice(),
        _ => &mut [],
    };
    choices
        .iter_mut()
        .filter_map(move |choice| match object_get_mut(choice, member) {
            Some(Value::Object(map)) => Some(map),
            _ => None,
        })
}

fn object_get_mut<'v>(value: &'v mut Value, key: &str) -> Option<&'v mut Value> {
    match value {
        Value::Object(map) => map.get_mut(key),
        _ => None,
    }
}

/// The mark of the current call at `pos` (see `ChoiceState::current_call`).
fn call_mark(pos: usize) -> Option<NonZeroUsize> {
    pos.checked_add(1).and_then(NonZeroUsize::new)
}

/// What [`Assembler::append_read`] made of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// It matched the template and is folded in.
    Yes,
    /// It does not match the template; nothing changed.
    NoMatch,
    /// The template's slot is not there to append to (not reached: a template is learned
    /// from a chunk that made it); nothing changed, and the chunk is to be decoded in full.
    Refused,
}

/// Runs a template `read` into a text accumulator (without events): a text that was never
/// set stays unset when the chunk does not match.
#[inline(always)]
fn read_into_text(
    acc: &mut TextAccumulator,
    read: impl FnOnce(&mut String) -> Option<Matched>,
) -> Option<Matched> {
    let was_set = acc.text.is_some();
    let out = read(acc.text.get_or_insert_with(String::new));
    if out.is_none() && !was_set {
        acc.text = None;
    }
    out
}

/// Runs a template `read` into a call's arguments, feeding what it appended to the partial
/// parse of the arguments when there is one.
#[inline(always)]
fn read_into_arguments(
    arguments: &mut String,
    partial: &mut Option<Box<PartialJson>>,
    read: impl FnOnce(&mut String) -> Option<Matched>,
) -> Option<Matched> {
    let before = arguments.len();
    let out = read(arguments);
    if out.is_some() {
        if let Some(p) = partial.as_mut() {
            p.feed(arguments.as_bytes().get(before..).unwrap_or_default());
        }
    }
    out
}

impl ChoiceState {
    /// The position of the call a fragment without an index continues.
    fn current_call(&self) -> Option<usize> {
        self.current_call.map(|mark| mark.get() - 1)
    }

    /// Appends `key` to the message's key order.
    fn order_key(&mut self, key: MessageKey) {
        let mut keys = std::mem::take(&mut self.message_order).into_vec();
        keys.push(key);
        self.message_order = keys.into_boxed_slice();
    }

    fn rare_mut(&mut self) -> &mut RareParts {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The delta's text, tool calls, function call and audio.
    fn apply_delta(
        &mut self,
        delta: Delta<'_>,
        targets: &[Target],
        opts: Options,
        max_depth: usize,
        events: &mut Vec<Event>,
    ) {
        if let Some(role) = delta.role {
            if self.role.is_none() && !role.is_empty() {
                self.role = Some(if role == "assistant" {
                    Cow::Borrowed("assistant")
                } else {
                    Cow::Owned(role.into_owned())
                });
            }
        }
        let mut thinking = String::new();
        match delta.content {
            Some(Content::Text(s)) => self.push_content(&s, opts, events),
            Some(Content::Parts(parts)) => {
                let text = split_parts(&parts, &mut thinking);
                if let Some(text) = text {
                    self.push_content(&text, opts, events);
                }
            }
            None => {}
        }
        if let Some(r) = delta.refusal {
            let choice_index = self.index;
            let refusal = &mut self.rare_mut().refusal;
            refusal.push(&r, opts.events);
            if opts.events && !r.is_empty() {
                events.push(Event::TextDelta {
                    of: TextOf::Refusal,
                    choice_index,
                    trail: refusal.trail.clone(),
                });
            }
        }
        if !thinking.is_empty() {
            self.push_increment("reasoning_content", Value::String(thinking), opts, events);
        }
        self.apply_extras(delta.extras, opts, events);
        for (frag, target) in delta.tool_calls.into_iter().zip(targets) {
            self.apply_tool_call(frag, *target, opts, max_depth, events);
        }
        if let Some(fc) = delta.function_call {
            self.apply_function_call(*fc, opts, max_depth, events);
        }
        if let Some(audio) = delta.audio {
            if !self.ordered_audio {
                self.ordered_audio = true;
                self.order_key(MessageKey::Audio);
            }
            merge_audio(self.rare_mut().audio.get_or_insert_with(Map::new), *audio);
        }
    }

    /// A legacy `function_call` fragment.
    fn apply_function_call(
        &mut self,
        fc: FunctionCallDelta<'_>,
        opts: Options,
        max_depth: usize,
        events: &mut Vec<Event>,
    ) {
        if !self.ordered_function_call {
            self.ordered_function_call = true;
            self.order_key(MessageKey::FunctionCall);
        }
        let f = self.function_call.get_or_insert_with(|| {
            Box::new(FunctionCallState {
                partial: opts
                    .partial_arguments
                    .then(|| Box::new(PartialJson::new(max_depth))),
                ..FunctionCallState::default()
            })
        });
        first_non_empty_shared(&mut f.name, fc.name);
        let piece = fc.arguments.unwrap_or_default();
        f.arguments.push_str(&piece);
        if let Some(p) = f.partial.as_mut() {
            p.feed(piece.as_bytes());
        }
        if opts.events {
            f.trail.push(piece.as_ref().into());
            events.push(Event::ArgumentsDelta {
                call: Call::function(self.index, f.name.clone()),
                trail: f.trail.clone(),
                parsed: f.partial.as_deref().map(PartialJson::snapshot),
            });
        }
    }

    /// A logprobs delta: its entries append, its other keys keep the last non-null value.
    fn apply_logprobs(&mut self, lp: Logprobs, opts: Options, events: &mut Vec<Event>) {
        let s = self.logprobs.get_or_insert_with(Box::default);
        if let Some(items) = lp.content {
            if opts.events && !items.is_empty() {
                s.content_trail.push(items.clone());
                events.push(Event::Logprobs {
                    of: LogprobsOf::Content,
                    choice_index: self.index,
                    trail: s.content_trail.clone(),
                });
            }
            s.content.get_or_insert_with(Vec::new).extend(items);
        }
        if let Some(items) = lp.refusal {
            if opts.events && !items.is_empty() {
                s.refusal_trail.push(items.clone());
                events.push(Event::Logprobs {
                    of: LogprobsOf::Refusal,
                    choice_index: self.index,
                    trail: s.refusal_trail.clone(),
                });
            }
            s.refusal.get_or_insert_with(Vec::new).extend(items);
        }
        for (k, v) in lp.extras {
            // Like choice-level keys: present once carried, the last non-null value.
            if v.is_null() {
                s.extras.insert_if_absent(&k, || Value::Null);
            } else {
                s.extras.insert(k, v);
            }
        }
    }

    fn push_content(&mut self, piece: &str, opts: Options, events: &mut Vec<Event>) {
        self.content.push(piece, opts.events);
        if opts.events && !piece.is_empty() {
            events.push(Event::TextDelta {
                of: TextOf::Content,
                choice_index: self.index,
                trail: self.content.trail.clone(),
            });
        }
    }

    /// Other delta keys are increments: strings concatenate, lists append, else last non-null.
    fn apply_extras(&mut self, extras: Extras<'_>, opts: Options, events: &mut Vec<Event>) {
        for (k, v) in extras {
            self.push_increment(&k, v, opts, events);
        }
    }

    fn push_increment(&mut self, key: &str, v: Value, opts: Options, events: &mut Vec<Event>) {
        if v.is_null() {
            return;
        }
        if let (true, Some(field), Value::String(s)) =
            (opts.events, REASONING_KEYS.iter().find(|k| **k == key), &v)
        {
            self.push_reasoning(field, s, events);
        }
        let rare = self.rare.get_or_insert_with(Box::default);
        match rare.message_extras.get_mut(key) {
            Some(Value::String(old)) if matches!(v, Value::String(_)) => {
                if let Value::String(s) = v {
                    old.push_str(&s);
                }
            }
            Some(Value::Array(old)) if matches!(v, Value::Array(_)) => {
                if let Value::Array(items) = v {
                    old.extend(items);
                }
            }
            Some(slot) => *slot = v,
            None => {
                rare.message_extras.insert(key.to_string(), v);
                self.order_key(MessageKey::Extra);
            }
        }
    }

    fn push_reasoning(&mut self, field: &'static str, piece: &str, events: &mut Vec<Event>) {
        if piece.is_empty() {
            return;
        }
        let index = self.index;
        let reasoning = &mut self.rare_mut().reasoning;
        let pos = if let Some(p) = reasoning.iter().position(|(f, _)| *f == field) {
            p
        } else {
            reasoning.push((field, TextAccumulator::default()));
            reasoning.len() - 1
        };
        if let Some((_, text)) = reasoning.get_mut(pos) {
            text.push(piece, true);
            events.push(Event::TextDelta {
                of: TextOf::Reasoning(field),
                choice_index: index,
                trail: text.trail.clone(),
            });
        }
    }

    fn apply_tool_call(
        &mut self,
        f: ToolCallDelta<'_>,
        target: Target,
        opts: Options,
        max_depth: usize,
        events: &mut Vec<Event>,
    ) {
        if !self.ordered_tool_calls {
            self.ordered_tool_calls = true;
            self.order_key(MessageKey::ToolCalls);
        }
        let pos = match target {
            Target::Existing(p) => p,
            Target::New => self.tool_calls.push(ToolCallState {
                wire_index: f.index,
                partial: opts
                    .partial_arguments
                    .then(|| Box::new(PartialJson::new(max_depth))),
                ..ToolCallState::default()
            }),
        };
        if opts.events {
            if let Some(cur) = self.current_call() {
                if cur != pos {
                    self.tool_done_event(cur, events);
                }
            }
        }
        self.current_call = call_mark(pos);
        let choice_index = self.index;
        let Some(call) = self.tool_calls.get_mut(pos) else {
            return;
        };
        let had_id = call.id.is_some();
        first_non_empty_shared(&mut call.id, f.id);
        let id_set = !had_id && call.id.is_some();
        first_non_empty_kind(&mut call.kind, f.kind);
        first_non_empty_shared(&mut call.name, f.name);
        let piece = f.arguments.unwrap_or_default();
        call.arguments.push_str(&piece);
        if let Some(p) = call.partial.as_mut() {
            p.feed(piece.as_bytes());
        }
        for (k, v) in f.function_extras {
            last_non_null(&mut call.function_extras, k.into_owned(), v);
        }
        for (k, v) in f.extras {
            last_non_null(&mut call.extras, k.into_owned(), v);
        }
        if opts.events {
            call.trail.push(piece.as_ref().into());
            events.push(Event::ArgumentsDelta {
                call: Call::tool(choice_index, pos, call.id.clone(), call.name.clone()),
                trail: call.trail.clone(),
                parsed: call.partial.as_deref().map(PartialJson::snapshot),
            });
        }
        if id_set {
            self.tool_calls.index_call(pos);
        }
    }

    fn tool_done_event(&mut self, pos: usize, events: &mut Vec<Event>) {
        let choice_index = self.index;
        if let Some(call) = self.tool_calls.get_mut(pos) {
            if call.done {
                return;
            }
            call.done = true;
            events.push(Event::ArgumentsDone {
                call: Call::tool(choice_index, pos, call.id.clone(), call.name.clone()),
                text: call.arguments.clone(),
                parsed: call.partial.as_deref().map(PartialJson::snapshot),
            });
        }
    }

    /// The done events not yet fired for this choice, in the documented order.
    fn done_events(&mut self, events: &mut Vec<Event>) {
        let choice_index = self.index;
        // Called on every chunk with a finish_reason: the texts are chained, not collected.
        let rare = self.rare.iter_mut().flat_map(|rare| {
            std::iter::once((TextOf::Refusal, &mut rare.refusal)).chain(
                rare.reasoning
                    .iter_mut()
                    .map(|(field, text)| (TextOf::Reasoning(field), text)),
            )
        });
        let texts = std::iter::once((TextOf::Content, &mut self.content)).chain(rare);
        for (of, acc) in texts {
            if let (false, Some(text)) = (acc.done, &acc.text) {
                events.push(Event::TextDone {
                    of,
                    choice_index,
                    text: text.clone(),
                });
                acc.done = true;
            }
        }
        // Every call below `done_below` had its done event; a stream may carry a finish_reason
        // on every chunk, so only the calls opened since are visited.
        for pos in self.tool_calls.done_below..self.tool_calls.len() {
            self.tool_done_event(pos, events);
        }
        self.tool_calls.done_below = self.tool_calls.len();
        if let Some(f) = &mut self.function_call {
            if !f.done {
                f.done = true;
                events.push(Event::ArgumentsDone {
                    call: Call::function(choice_index, f.name.clone()),
                    text: f.arguments.clone(),
                    parsed: f.partial.as_deref().map(PartialJson::snapshot),
                });
            }
        }
    }

    fn render(&self) -> Value {
        let mut message = Map::new();
        message.insert(
            "role".into(),
            Value::string(self.role.as_deref().unwrap_or("assistant")),
        );
        message.insert("content".into(), self.content.value());
        let refusal = self
            .rare
            .as_ref()
            .map_or(Value::Null, |r| r.refusal.value());
        message.insert("refusal".into(), refusal);
        let no_extras = Map::new();
        let message_extras = match &self.rare {
            Some(rare) => &rare.message_extras,
            None => &no_extras,
        };
        let mut extras = message_extras.iter();
        for key in &self.message_order {
            match key {
                MessageKey::ToolCalls => {
                    let calls = self
                        .tool_calls
                        .items
                        .iter()
                        .map(ToolCallState::render)
                        .collect();
                    message.insert("tool_calls".into(), Value::Array(calls));
                }
                MessageKey::FunctionCall => {
                    if let Some(f) = &self.function_call {
                        let mut m = Map::new();
                        m.insert(
                            "name".into(),
                            f.name.as_deref().map_or(Value::Null, Value::string),
                        );
                        m.insert("arguments".into(), Value::String(f.arguments.clone()));
                        message.insert("function_call".into(), Value::Object(m));
                    }
                }
                MessageKey::Audio => {
                    if let Some(a) = self.rare.as_ref().and_then(|r| r.audio.as_ref()) {
                        message.insert("audio".into(), Value::Object(a.clone()));
                    }
                }
                MessageKey::Extra => {
                    if let Some((k, v)) = extras.next() {
                        message.insert_if_absent(k, || v.clone());
                    }
                }
            }
        }
        let mut out = Map::new();
        out.insert("index".into(), Value::Number(self.index.to_string().into()));
        out.insert("message".into(), Value::Object(message));
        out.insert(
            "logprobs".into(),
            self.logprobs
                .as_deref()
                .map_or(Value::Null, LogprobsState::render),
        );
        out.insert(
            "finish_reason".into(),
            self.finish_reason
                .as_deref()
                .map_or(Value::Null, Value::string),
        );
        if let Some(rare) = &self.rare {
            for (k, v) in &rare.extras {
                out.insert_if_absent(k, || v.clone());
            }
        }
        Value::Object(out)
    }
}

impl ToolCallState {
    fn render(&self) -> Value {
        let mut function = Map::new();
        function.insert(
            "name".into(),
            self.name.as_deref().map_or(Value::Null, Value::string),
        );
        function.insert("arguments".into(), Value::String(self.arguments.clone()));
        for (k, v) in &self.function_extras {
            function.insert_if_absent(k, || v.clone());
        }
        let mut out = Map::new();
        out.insert(
            "id".into(),
            self.id.as_deref().map_or(Value::Null, Value::string),
        );
        out.insert(
            "type".into(),
            Value::string(self.kind.as_deref().unwrap_or("function")),
        );
        out.insert("function".into(), Value::Object(function));
        for (k, v) in &self.extras {
            out.insert_if_absent(k, || v.clone());
        }
        Value::Object(out)
    }
}

impl LogprobsState {
    fn render(&self) -> Value {
        let mut out = Map::new();
        out.insert(
            "content".into(),
            self.content.clone().map_or(Value::Null, Value::Array),
        );
        out.insert(
            "refusal".into(),
            self.refusal.clone().map_or(Value::Null, Value::Array),
        );
        for (k, v) in &self.extras {
            out.insert_if_absent(k, || v.clone());
        }
        Value::Object(out)
    }
}

/// Replays tool-call identification for one chunk, so the chunk can be checked against
/// `max_tool_calls` before it changes anything. The same `resolve` decides where fragments go
/// when the chunk is applied, so planning and applying cannot disagree. It reads the choice's
/// calls in place and keeps only what this chunk adds, so planning a chunk costs time in
/// proportion to the chunk, not to the calls the choice already has.
struct CallSim<'s> {
    base: Option<&'s ToolCalls>,
    len: usize,
    /// Wire indexes of the calls this chunk opens.
    added_wire: HashMap<u64, usize>,
    /// Ids this chunk gives to calls that had none, to the lowest such position.
    added_ids: HashMap<String, usize>,
    /// Positions this chunk gave an id.
    given_id: HashSet<usize>,
    current: Option<usize>,
}

impl<'s> CallSim<'s> {
    fn new(state: Option<&'s ChoiceState>) -> Self {
        CallSim {
            base: state.map(|s| &s.tool_calls),
            len: state.map_or(0, |s| s.tool_calls.len()),
            added_wire: HashMap::new(),
            added_ids: HashMap::new(),
            given_id: HashSet::new(),
            current: state.and_then(ChoiceState::current_call),
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn find_wire(&self, index: u64) -> Option<usize> {
        self.base
            .and_then(|b| b.find_wire(index))
            .or_else(|| self.added_wire.get(&index).copied())
    }

    fn find_id(&self, id: &str) -> Option<usize> {
        let old = self.base.and_then(|b| b.find_id(id));
        let new = self.added_ids.get(id).copied();
        match (old, new) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn has_id(&self, pos: usize) -> bool {
        self.base.is_some_and(|b| b.has_id(pos)) || self.given_id.contains(&pos)
    }

    /// DESIGN.md: by `index` when present; else a known non-empty id continues its call; else
    /// a non-empty name starts a new call; else the most recent call continues.
    fn resolve(&mut self, f: &ToolCallDelta<'_>) -> Target {
        let id = f.id.as_deref().filter(|s| !s.is_empty());
        let found = if let Some(ix) = f.index {
            self.find_wire(ix)
        } else if let Some(p) = id.and_then(|id| self.find_id(id)) {
            Some(p)
        } else if f.name.as_deref().is_some_and(|n| !n.is_empty()) {
            None
        } else {
            self.current
        };
        let (target, pos) = if let Some(p) = found {
            (Target::Existing(p), p)
        } else {
            let p = self.len;
            self.len += 1;
            if let Some(ix) = f.index {
                self.added_wire.insert(ix, p);
            }
            (Target::New, p)
        };
        if let Some(id) = id {
            if !self.has_id(pos) {
                self.given_id.insert(pos);
                self.added_ids
                    .entry(id.to_string())
                    .and_modify(|q| *q = (*q).min(pos))
                    .or_insert(pos);
            }
        }
        self.current = Some(pos);
        target
    }
}

/// First non-empty, for a tool call's `type`.
fn first_non_empty_kind(slot: &mut Option<Cow<'static, str>>, value: Option<Cow<'_, str>>) {
    if let Some(v) = value {
        if !v.is_empty() && slot.as_deref().is_none_or(str::is_empty) {
            *slot = Some(if v == "function" {
                Cow::Borrowed("function")
            } else {
                Cow::Owned(v.into_owned())
            });
        }
    }
}

fn first_non_empty_shared(slot: &mut Option<Arc<str>>, value: Option<std::borrow::Cow<'_, str>>) {
    if let Some(v) = value {
        if !v.is_empty() && slot.as_deref().is_none_or(str::is_empty) {
            *slot = Some(Arc::from(v.as_ref()));
        }
    }
}

/// Extra keys of tool calls, functions and logprobs: like message keys, they appear only once
/// some chunk carried a non-null value, which the last one wins.
fn last_non_null(map: &mut Map, key: String, value: Value) {
    if !value.is_null() {
        map.insert(key, value);
    }
}

/// Typed content parts: `text` parts are returned joined (None if there were none);
/// `thinking` parts are appended to `thinking`.
fn split_parts(parts: &[Value], thinking: &mut String) -> Option<String> {
    let mut text: Option<String> = None;
    for part in parts {
        let Value::Object(p) = part else { continue };
        match p.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    text.get_or_insert_with(String::new).push_str(t);
                }
            }
            Some("thinking") => match p.get("thinking") {
                Some(Value::String(t)) => thinking.push_str(t),
                Some(Value::Array(inner)) => {
                    for q in inner {
                        if let Value::Object(q) = q {
                            if q.get("type").and_then(Value::as_str) == Some("text") {
                                if let Some(t) = q.get("text").and_then(Value::as_str) {
                                    thinking.push_str(t);
                                }
                            }
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    text
}

/// Usage: key by key; a null never erases, a zero never erases an earlier value; nested
/// objects merge the same way; never summed.
pub fn merge_usage(old: &mut Map, new: Map) {
    for (k, v) in new {
        match (old.get_mut(&k), v) {
            (None, v) => {
                let v = match v {
                    Value::Object(inner) => {
                        let mut fresh = Map::new();
                        merge_usage(&mut fresh, inner);
                        Value::Object(fresh)
                    }
                    other => other,
                };
                old.insert(k, v);
            }
            (Some(_), Value::Null) => {}
            (Some(Value::Object(o)), Value::Object(n)) => merge_usage(o, n),
            (Some(slot), v) => {
                if v.is_zero_number() && !slot.is_null() {
                    continue;
                }
                *slot = v;
            }
        }
    }
}

/// Deep merge for snapshot keys: null never erases; objects merge per key; else replace.
fn deep_merge_into(map: &mut Map, key: String, value: Value) {
    match (map.get_mut(&key), value) {
        (None, v) => {
            map.insert(key, v);
        }
        (Some(_), Value::Null) => {}
        (Some(Value::Object(old)), Value::Object(new)) => {
            for (k, v) in new {
                deep_merge_into(old, k, v);
            }
        }
        (Some(slot), v) => *slot = v,
    }
}

/// Choice-level other keys: lists append, objects deep-merge, others last non-null.
fn merge_choice_extra(map: &mut Map, key: String, value: Value) {
    match (map.get_mut(&key), value) {
        (Some(Value::Array(old)), Value::Array(new)) => old.extend(new),
        (_, v) => deep_merge_into(map, key, v),
    }
}

/// Audio: `id` first non-empty, `data` and `transcript` concatenated, others last non-null.
fn merge_audio(old: &mut Map, new: Map) {
    for (k, v) in new {
        match (k.as_str(), old.get_mut(&k), v) {
            ("id", Some(Value::String(cur)), Value::String(s)) => {
                if cur.is_empty() && !s.is_empty() {
                    *cur = s;
                }
            }
            ("data" | "transcript", Some(Value::String(cur)), Value::String(s)) => {
                cur.push_str(&s);
            }
            (_, None, v) => {
                old.insert(k, v);
            }
            (_, Some(_), Value::Null) => {}
            (_, Some(slot), v) => *slot = v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::chat::scan::decode;

    /// Every live parser holds an assembler and one choice per choice index (issue 13: 10,000
    /// parsers after one read in 20 MB). Rare parts are boxed; a field added inline shows here.
    /// (A `malloc` block is the size plus 8, rounded up to 16: 184 is the most a choice may
    /// be for a 192-byte block, 200 for the chat fold's 208.)
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_idle_choice_and_assembler_keep_their_rare_parts_boxed() {
        assert!(
            std::mem::size_of::<ChoiceState>() <= 184,
            "{}",
            std::mem::size_of::<ChoiceState>()
        );
        assert!(
            std::mem::size_of::<Assembler>() <= 152,
            "{}",
            std::mem::size_of::<Assembler>()
        );
        assert!(
            std::mem::size_of::<crate::formats::chat::Chat>() <= 200,
            "{}",
            std::mem::size_of::<crate::formats::chat::Chat>()
        );
        assert!(
            std::mem::size_of::<crate::formats::chat::template::Template>() <= 56,
            "{}",
            std::mem::size_of::<crate::formats::chat::template::Template>()
        );
        assert!(
            std::mem::size_of::<FunctionCallState>() <= 64,
            "{}",
            std::mem::size_of::<FunctionCallState>()
        );
        assert!(
            std::mem::size_of::<crate::formats::auto::AnyFold>() <= 16,
            "{}",
            std::mem::size_of::<crate::formats::auto::AnyFold>()
        );
    }

    fn run(payloads: &[&str]) -> Value {
        let mut a = Assembler::new(Options::default(), Limits::default());
        let mut ev = Vec::new();
        for p in payloads {
            let chunk = match decode(p.as_bytes(), 128) {
                Ok(c) => c,
                Err(e) => panic!("{p}: {e:?}"),
            };
            if let Err(v) = a.apply(chunk, &mut ev) {
                panic!("{p}: {v:?}");
            }
        }
        a.completion()
    }

    fn applied(payloads: &[&str], options: Options) -> Assembler {
        let mut a = Assembler::new(options, Limits::default());
        for p in payloads {
            let chunk = match decode(p.as_bytes(), 128) {
                Ok(c) => c,
                Err(e) => panic!("{p}: {e:?}"),
            };
            if let Err(v) = a.apply(chunk, &mut Vec::new()) {
                panic!("{p}: {v:?}");
            }
        }
        a
    }

    /// A template read appends into the slot's own text; a read that does not match leaves
    /// everything as it was (a content never set stays null, not ""), and a slot that is not
    /// there refuses the chunk without reading it.
    #[test]
    fn template_reads_append_in_place_or_change_nothing() {
        let role = r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#;
        let mut a = applied(&[role], Options::default());
        let before = a.completion();
        let chunks = a.chunks();
        let no = a.append_read(Slot::Content { choice: 0 }, false, |_| None);
        assert_eq!(no, Appended::NoMatch);
        assert_eq!(a.completion(), before);
        assert_eq!(
            at(&a.completion(), &["choices", "0", "message", "content"]),
            &Value::Null
        );
        assert_eq!(a.chunks(), chunks);
        let mut asked = false;
        let missing = a.append_read(Slot::Content { choice: 1 }, false, |_| {
            asked = true;
            Some(Matched { entries: None })
        });
        assert_eq!((missing, asked), (Appended::Refused, false));
        for slot in [
            Slot::Refusal { choice: 0 },
            Slot::ToolArguments {
                choice: 0,
                index: 0,
            },
            Slot::FunctionArguments { choice: 0 },
        ] {
            assert_eq!(
                a.append_read(slot, false, |_| Some(Matched { entries: None })),
                Appended::Refused
            );
        }
        // Entries need a content slot and logprobs to go to.
        assert_eq!(
            a.append_read(Slot::Content { choice: 0 }, true, |_| {
                Some(Matched {
                    entries: Some(Vec::new()),
                })
            }),
            Appended::Refused
        );
        assert_eq!(a.completion(), before);
        let yes = a.append_read(Slot::Content { choice: 0 }, false, |out| {
            out.push_str("hi");
            Some(Matched { entries: None })
        });
        assert_eq!(yes, Appended::Yes);
        assert_eq!(a.chunks(), chunks + 1);
        assert_eq!(
            at(&a.completion(), &["choices", "0", "message", "content"]),
            &Value::string("hi")
        );
    }

    /// A tool call's template read makes the call the current one only when it matches, and
    /// feeds what it appended to the partial parse of the arguments.
    #[test]
    fn tool_template_reads_feed_the_partial_arguments() {
        let options = Options {
            events: false,
            partial_arguments: true,
        };
        let calls = [
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":""}}]}}]}"#,
        ];
        let mut a = applied(&calls, options);
        let slot = Slot::ToolArguments {
            choice: 0,
            index: 0,
        };
        assert_eq!(a.append_read(slot, false, |_| None), Appended::NoMatch);
        // The call of index 1 is still the current one: a fragment without an index goes there.
        let current = applied(
            &[calls[0], calls[1], r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"1"}}]}}]}"#],
            options,
        )
        .completion();
        let bare =
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"1"}}]}}]}"#;
        let Ok(chunk) = decode(bare.as_bytes(), 128) else {
            panic!("not decoded")
        };
        assert!(a.apply(chunk, &mut Vec::new()).is_ok());
        assert_eq!(a.completion(), current);
        let appended = a.append_read(slot, false, |out| {
            out.push_str(" 2}");
            Some(Matched { entries: None })
        });
        assert_eq!(appended, Appended::Yes);
        let args = |c: &Value, i: &str| {
            at(
                c,
                &[
                    "choices",
                    "0",
                    "message",
                    "tool_calls",
                    i,
                    "function",
                    "arguments",
                ],
            )
            .clone()
        };
        let c = a.completion();
        assert_eq!(args(&c, "0"), Value::string("{\"x\": 2}"));
        assert_eq!(args(&c, "1"), Value::string("1"));
        let Some(call) = a.choices.get_mut(0).and_then(|s| s.tool_calls.get_mut(0)) else {
            panic!("no call")
        };
        let Some(partial) = call.partial.as_ref() else {
            panic!("no partial parse")
        };
        assert!(partial.complete());
        let mut x = Map::new();
        x.insert("x".into(), Value::int(2));
        assert_eq!(partial.value_without_open_string(), Some(Value::Object(x)));
    }

    fn at<'v>(v: &'v Value, path: &[&str]) -> &'v Value {
        let mut cur = v;
        for seg in path {
            cur = match (cur, seg.parse::<usize>()) {
                (Value::Array(items), Ok(i)) => items.get(i).unwrap_or(&Value::Null),
                (Value::Object(m), _) => m.get(seg).unwrap_or(&Value::Null),
                _ => &Value::Null,
            };
        }
        cur
    }

    fn has(v: &Value, path: &[&str], key: &str) -> bool {
        matches!(at(v, path), Value::Object(m) if m.contains_key(key))
    }

    fn s(x: &str) -> Value {
        Value::string(x)
    }

    #[test]
    fn top_level_id_model_created_first_non_empty() {
        let c = run(&[
            r#"{"id":"","model":"","created":0,"choices":[]}"#,
            r#"{"id":"a","model":"m1","created":5,"choices":[]}"#,
            r#"{"id":"b","model":"m2","created":6,"choices":[]}"#,
        ]);
        assert_eq!(at(&c, &["id"]), &s("a"));
        assert_eq!(at(&c, &["model"]), &s("m1"));
        assert_eq!(at(&c, &["created"]), &Value::int(5));
        assert_eq!(at(&c, &["object"]), &s("chat.completion"));
        let only_empty = run(&[r#"{"id":"","choices":[]}"#, r#"{"id":null}"#]);
        assert_eq!(at(&only_empty, &["id"]), &s(""));
        assert_eq!(at(&only_empty, &["model"]), &Value::Null);
    }

    #[test]
    fn fingerprint_and_tier_last_non_null_and_present_only_if_carried() {
        let c = run(&[
            r#"{"system_fingerprint":"fp1","service_tier":null}"#,
            r#"{"system_fingerprint":null}"#,
        ]);
        assert_eq!(at(&c, &["system_fingerprint"]), &s("fp1"));
        assert!(has(&c, &[], "service_tier"));
        assert_eq!(at(&c, &["service_tier"]), &Value::Null);
        let bare = run(&[r#"{"choices":[]}"#]);
        assert!(!has(&bare, &[], "system_fingerprint"));
        assert!(has(&bare, &[], "usage"));
    }

    #[test]
    fn usage_merges_key_by_key_and_never_erases() {
        let c = run(&[
            r#"{"usage":{"prompt_tokens":0,"completion_tokens":0}}"#,
            r#"{"usage":{"prompt_tokens":10,"completion_tokens":3,"completion_tokens_details":{"reasoning_tokens":2}}}"#,
            r#"{"usage":{"prompt_tokens":0,"completion_tokens":null,"completion_tokens_details":{"reasoning_tokens":0}}}"#,
            r#"{"usage":null}"#,
        ]);
        assert_eq!(at(&c, &["usage", "prompt_tokens"]), &Value::int(10));
        assert_eq!(at(&c, &["usage", "completion_tokens"]), &Value::int(3));
        assert_eq!(
            at(
                &c,
                &["usage", "completion_tokens_details", "reasoning_tokens"]
            ),
            &Value::int(2)
        );
    }

    #[test]
    fn groq_usage_is_the_usage_when_no_other() {
        let c = run(&[r#"{"x_groq":{"id":"q","usage":{"prompt_tokens":4}}}"#]);
        assert_eq!(at(&c, &["usage", "prompt_tokens"]), &Value::int(4));
        assert_eq!(at(&c, &["x_groq", "id"]), &s("q"));
        let both = run(&[
            r#"{"usage":{"prompt_tokens":1}}"#,
            r#"{"x_groq":{"usage":{"prompt_tokens":4}}}"#,
        ]);
        assert_eq!(at(&both, &["usage", "prompt_tokens"]), &Value::int(1));
    }

    #[test]
    fn choices_sparse_out_of_order_sorted() {
        let c = run(&[
            r#"{"choices":[{"index":2,"delta":{"content":"c"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#,
            r#"{"choices":[{"index":2,"delta":{"content":"C"}}]}"#,
        ]);
        assert_eq!(at(&c, &["choices", "0", "index"]), &Value::int(0));
        assert_eq!(at(&c, &["choices", "1", "index"]), &Value::int(2));
        assert_eq!(at(&c, &["choices", "1", "message", "content"]), &s("cC"));
    }

    #[test]
    fn role_first_non_empty_not_concatenated() {
        let c = run(&[
            r#"{"choices":[{"index":0,"delta":{"role":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#,
        ]);
        assert_eq!(
            at(&c, &["choices", "0", "message", "role"]),
            &s("assistant")
        );
        let none = run(&[r#"{"choices":[{"index":0,"delta":{}}]}"#]);
        assert_eq!(
            at(&none, &["choices", "0", "message", "role"]),
            &s("assistant")
        );
    }

    #[test]
    fn content_and_refusal_concatenate_or_stay_null() {
        let c = run(&[
            r#"{"choices":[{"index":0,"delta":{"content":"He","refusal":null}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"llo"}}]}"#,
        ]);
        assert_eq!(at(&c, &["choices", "0", "message", "content"]), &s("Hello"));
        assert_eq!(
            at(&c, &["choices", "0", "message", "refusal"]),
            &Value::Null
        );
        let r = run(&[
            r#"{"choices":[{"index":0,"delta":{"refusal":"I can"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"refusal":"not"}}]}"#,
        ]);
        assert_eq!(
            at(&r, &["choices", "0", "message", "refusal"]),
            &s("I cannot")
        );
        assert_eq!(
            at(&r, &["choices", "0", "message", "content"]),
            &Value::Null
        );
    }

    #[test]
    fn content_parts_split_into_content_and_reasoning() {
        let c = run(&[
            r#"{"choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"hm"}]},{"type":"text","text":"A"}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":"m"},{"type":"text","text":"B"}]}}]}"#,
        ]);
        assert_eq!(at(&c, &["choices", "0", "message", "content"]), &s("AB"));
        assert_eq!(
            at(&c, &["choices", "0", "message", "reasoning_content"]),
            &s("hmm")
        );
    }

    #[test]
    fn tool_calls_by_index_first_non_empty_id_type_name() {
        let c = run(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","function":{"name":"g","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{\"a\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
        ]);
        let call0 = at(&c, &["choices", "0", "message", "tool_calls", "0"]);
        assert_eq!(at(call0, &["id"]), &s("call_1"));
        assert_eq!(at(call0, &["function", "name"]), &s("f"));
        assert_eq!(at(call0, &["function", "arguments"]), &s("{\"a\":1}"));
        let call1 = at(&c, &["choices", "0", "message", "tool_calls", "1"]);
        assert_eq!(
            at(call1, &["type"]),
            &s("function"),
            "type defaults to function"
        );
        assert_eq!(at(call1, &["function", "arguments"]), &s("{}"));
        assert!(!has(call1, &[], "index"));
    }

    /// Taking the completion gives what rendering gives, and restoring it leaves the
    /// accumulators as they were: rendering again, and folding on, give the same as without.
    /// An assembler that has folded `payloads`.
    fn folded(payloads: &[&str]) -> Assembler {
        let mut a = Assembler::new(Options::default(), Limits::default());
        for p in payloads {
            fold_one(&mut a, p);
        }
        a
    }

    fn fold_one(a: &mut Assembler, payload: &str) {
        let chunk = decode(payload.as_bytes(), 128).ok().unwrap_or_default();
        assert!(a.apply(chunk, &mut Vec::new()).is_ok(), "{payload}");
    }

    /// After `restore(taken)` the assembler renders what `payloads` made, and folding `more`
    /// then is folding all of them.
    fn restores_and_folds_on(a: &mut Assembler, taken: Value, payloads: &[&str], more: &str) {
        a.restore(taken);
        assert_eq!(a.completion(), run(payloads));
        fold_one(a, more);
        assert_eq!(a.completion(), run(&[payloads, &[more]].concat()));
    }

    #[test]
    fn take_completion_moves_the_texts_out_and_restore_puts_them_back() {
        let payloads = [
            r#"{"id":"x","choices":[{"index":1,"delta":{"role":"assistant","content":"b1"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a1","refusal":"r"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"name":"g","arguments":"[1"}}]}}]}"#,
            r#"{"choices":[{"index":1,"delta":{"function_call":{"name":"h","arguments":"{}"}}}]}"#,
            r#"{"choices":[{"index":1,"delta":{"reasoning_content":"why"}}]}"#,
        ];
        let more = r#"{"choices":[{"index":0,"delta":{"content":"a2","tool_calls":[{"index":1,"function":{"arguments":"]"}}]}}]}"#;
        let mut a = folded(&payloads);
        let expected = run(&payloads);
        let taken = a.take_completion();
        assert_eq!(taken, expected);
        // The texts left the accumulators: rendering now shows them empty.
        let emptied = a.completion();
        assert_eq!(
            at(&emptied, &["choices", "0", "message", "content"]),
            &s("")
        );
        assert_eq!(
            at(
                &emptied,
                &[
                    "choices",
                    "0",
                    "message",
                    "tool_calls",
                    "0",
                    "function",
                    "arguments"
                ]
            ),
            &s("")
        );
        restores_and_folds_on(&mut a, taken, &payloads, more);
        let expected = run(&[&payloads[..], &[more]].concat());
        assert_eq!(
            at(
                &expected,
                &[
                    "choices",
                    "0",
                    "message",
                    "tool_calls",
                    "1",
                    "function",
                    "arguments"
                ]
            ),
            &s("[1]")
        );
    }

    /// The usage map is moved out as the texts are, when it is the only usage; with a Groq
    /// usage too, or none at all, the completion is still the rendered one and restore leaves
    /// the assembler as it was.
    #[test]
    fn take_completion_moves_the_usage_out_and_restore_puts_it_back() {
        let usage = r#"{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":3,"completion_tokens_details":{"reasoning_tokens":1}}}"#;
        let groq = r#"{"choices":[],"x_groq":{"usage":{"prompt_tokens":9}}}"#;
        let plain = r#"{"choices":[{"index":0,"delta":{"content":"b"}}]}"#;
        let more = r#"{"choices":[],"usage":{"completion_tokens":2,"completion_tokens_details":{"audio_tokens":4}}}"#;
        for payloads in [
            &[usage][..],
            &[usage, groq],
            &[groq, usage],
            &[groq],
            &[plain],
        ] {
            let mut a = folded(payloads);
            let expected = run(payloads);
            let taken = a.take_completion();
            assert_eq!(taken, expected, "{payloads:?}");
            if payloads == [usage] {
                // Moved: the assembler renders no usage until it is restored.
                assert_eq!(at(&a.completion(), &["usage"]), &Value::Null);
            }
            restores_and_folds_on(&mut a, taken, payloads, more);
            // Taken and restored twice over: still the same.
            let again = a.take_completion();
            a.restore(again);
            assert_eq!(a.completion(), run(&[payloads, &[more]].concat()));
        }
    }

    #[test]
    fn take_completion_moves_the_logprobs_lists_out_and_restore_puts_them_back() {
        let payloads = [
            r#"{"id":"x","choices":[{"index":1,"delta":{"content":"b"},"logprobs":{"content":[{"token":"b"}],"refusal":null,"x":1}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"token":"a"}],"refusal":[{"token":"r"}]}}]}"#,
            r#"{"choices":[{"index":2,"delta":{"content":"c"},"logprobs":null}]}"#,
            r#"{"choices":[{"index":3,"delta":{"content":"d"},"logprobs":{"refusal":[{"token":"s"}]}}]}"#,
        ];
        let more = r#"{"choices":[{"index":0,"delta":{"content":"a2"},"logprobs":{"content":[{"token":"a2"}]}},{"index":3,"delta":{},"logprobs":{"content":[{"token":"d2"}]}}]}"#;
        let mut a = folded(&payloads);
        let expected = run(&payloads);
        let taken = a.take_completion();
        assert_eq!(taken, expected);
        // The lists left the accumulators: rendering now shows them empty.
        let emptied = a.completion();
        for (choice, list) in [
            ("0", "content"),
            ("0", "refusal"),
            ("1", "content"),
            ("3", "refusal"),
        ] {
            assert_eq!(
                at(&emptied, &["choices", choice, "logprobs", list]),
                &Value::Array(Vec::new())
            );
        }
        restores_and_folds_on(&mut a, taken, &payloads, more);
        assert_eq!(
            at(
                &a.completion(),
                &["choices", "0", "logprobs", "content", "1"]
            ),
            &Value::Raw(r#"{"token":"a2"}"#.into())
        );
    }

    #[test]
    fn tool_calls_without_index() {
        let c = run(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"1"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"2"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"x"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"arguments":"3"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"4"}}]}}]}"#,
        ]);
        let calls = at(&c, &["choices", "0", "message", "tool_calls"]);
        assert_eq!(at(calls, &["0", "function", "arguments"]), &s("1234"));
        assert_eq!(at(calls, &["1", "function", "arguments"]), &s("x"));
        let anonymous =
            run(&[r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"z"}}]}}]}"#]);
        let call = at(&anonymous, &["choices", "0", "message", "tool_calls", "0"]);
        assert_eq!(at(call, &["id"]), &Value::Null);
        assert!(has(call, &[], "id"));
    }

    #[test]
    fn tool_call_extra_keys_kept_last_non_null() {
        let c = run(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"x","extra_content":{"a":1},"function":{"name":"f","arguments":"","thought":"t"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"extra_content":null,"function":{"arguments":"{}"}}]}}]}"#,
        ]);
        let call = at(&c, &["choices", "0", "message", "tool_calls", "0"]);
        assert_eq!(at(call, &["extra_content", "a"]), &Value::int(1));
        assert_eq!(at(call, &["function", "thought"]), &s("t"));
    }

    #[test]
    fn legacy_function_call() {
        let c = run(&[
            r#"{"choices":[{"index":0,"delta":{"function_call":{"name":"f","arguments":""}}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"function_call":{"name":"f","arguments":"{\"x\""}}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"function_call":{"arguments":":1}"}}}]}"#,
        ]);
        assert_eq!(
            at(&c, &["choices", "0", "message", "function_call", "name"]),
            &s("f")
        );
        assert_eq!(
            at(
                &c,
                &["choices", "0", "message", "function_call", "arguments"]
            ),
            &s("{\"x\":1}")
        );
    }

    #[test]
    fn logprobs_lists_append_null_if_never_sent() {
        let c = run(&[
            r#"{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[],"refusal":null}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"b"},"logprobs":{"content":[{"token":"b"}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"logprobs":null}]}"#,
        ]);
        // Entries are kept as their validated JSON text (converted when handed out).
        assert_eq!(
            at(&c, &["choices", "0", "logprobs", "content", "0"]),
            &Value::Raw(r#"{"token":"b"}"#.into())
        );
        assert_eq!(
            at(&c, &["choices", "0", "logprobs", "refusal"]),
            &Value::Null
        );
        let none = run(&[r#"{"choices":[{"index":0,"delta":{},"logprobs":null}]}"#]);
        assert_eq!(at(&none, &["choices", "0", "logprobs"]), &Value::Null);
        assert!(has(&none, &["choices", "0"], "logprobs"));
    }

    #[test]
    fn finish_reason_last_non_empty_raw() {
        let c = run(&[
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":""}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":null}]}"#,
        ]);
        assert_eq!(at(&c, &["choices", "0", "finish_reason"]), &s("tool_calls"));
        let weird = run(&[r#"{"choices":[{"index":0,"finish_reason":"eos_token"}]}"#]);
        assert_eq!(
            at(&weird, &["choices", "0", "finish_reason"]),
            &s("eos_token")
        );
    }

    #[test]
    fn audio_merge() {
        let c = run(&[
            r#"{"choices":[{"index":0,"delta":{"audio":{"id":"au","data":"AA","transcript":"he","expires_at":1}}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"audio":{"id":"au","data":"BB","transcript":"y","expires_at":1}}}]}"#,
        ]);
        let audio = at(&c, &["choices", "0", "message", "audio"]);
        assert_eq!(at(audio, &["id"]), &s("au"));
        assert_eq!(at(audio, &["data"]), &s("AABB"));
        assert_eq!(at(audio, &["transcript"]), &s("hey"));
        assert_eq!(at(audio, &["expires_at"]), &Value::int(1));
    }

    #[test]
    fn annotations_and_other_delta_keys_are_increments() {
        let c = run(&[
            r#"{"choices":[{"index":0,"delta":{"annotations":[{"n":1}],"reasoning_content":"th","x":1,"gone":null}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"annotations":[{"n":2}],"reasoning_content":"ink","x":2}}]}"#,
        ]);
        let m = at(&c, &["choices", "0", "message"]);
        assert_eq!(at(m, &["annotations", "1", "n"]), &Value::int(2));
        assert_eq!(at(m, &["reasoning_content"]), &s("think"));
        assert_eq!(at(m, &["x"]), &Value::int(2));
        assert!(
            !has(m, &[], "gone"),
            "a key only ever null is not in the message"
        );
    }

    #[test]
    fn other_choice_keys_merge() {
        let c = run(&[
            r#"{"choices":[{"index":0,"content_filter_results":{"hate":{"filtered":false}},"token_ids":[1],"stop_reason":null}]}"#,
            r#"{"choices":[{"index":0,"content_filter_results":{"violence":{"filtered":true}},"token_ids":[2]}]}"#,
        ]);
        let ch = at(&c, &["choices", "0"]);
        assert_eq!(
            at(ch, &["content_filter_results", "hate", "filtered"]),
            &Value::Bool(false)
        );
        assert_eq!(
            at(ch, &["content_filter_results", "violence", "filtered"]),
            &Value::Bool(true)
        );
        assert_eq!(
            at(ch, &["token_ids"]),
            &Value::Array(vec![Value::int(1), Value::int(2)])
        );
        assert!(has(ch, &[], "stop_reason"));
    }

    #[test]
    fn other_top_level_keys_deep_merge_obfuscation_dropped() {
        let c = run(&[
            r#"{"obfuscation":"abc","provider":"p","meta":{"a":1,"b":{"c":1}}}"#,
            r#"{"obfuscation":"d","provider":null,"meta":{"b":{"d":2},"a":null}}"#,
        ]);
        assert!(!has(&c, &[], "obfuscation"));
        assert_eq!(at(&c, &["provider"]), &s("p"));
        assert_eq!(at(&c, &["meta", "a"]), &Value::int(1));
        assert_eq!(at(&c, &["meta", "b", "c"]), &Value::int(1));
        assert_eq!(at(&c, &["meta", "b", "d"]), &Value::int(2));
    }

    #[test]
    fn normal_oddities_do_not_fail() {
        let c = run(&[
            r#"{"id":"","object":"","choices":null}"#,
            r#"{"choices":[{"index":0}]}"#,
            r#"{"choices":[{"index":0,"delta":null}]}"#,
            r#"{"object":"chat.completion.done","choices":[{"index":0,"delta":{"role":"","index":0}}]}"#,
        ]);
        assert_eq!(
            at(&c, &["choices", "0", "message", "role"]),
            &s("assistant")
        );
        assert!(!has(at(&c, &["choices", "0", "message"]), &[], "index"));
    }

    #[test]
    fn limits_checked_before_anything_changes() {
        let limits = Limits {
            max_choice_index: 3,
            max_tool_calls: 2,
            ..Limits::default()
        };
        let mut a = Assembler::new(Options::default(), limits);
        let mut ev = Vec::new();
        let ok = decode(br#"{"choices":[{"index":3,"delta":{"content":"x"}}]}"#, 128);
        assert!(ok.map(|c| a.apply(c, &mut ev)).is_ok_and(|r| r.is_ok()));
        let over = decode(
            br#"{"choices":[{"index":0,"delta":{"content":"y"}},{"index":4}]}"#,
            128,
        );
        let err = over.map(|c| a.apply(c, &mut ev));
        assert!(matches!(
            err,
            Ok(Err(Violation {
                limit: LimitName::ChoiceIndex,
                ..
            }))
        ));
        let calls = decode(
            br#"{"choices":[{"index":3,"delta":{"content":"z","tool_calls":[{"index":0},{"index":1},{"function":{"name":"third"}}]}}]}"#,
            128,
        );
        let err = calls.map(|c| a.apply(c, &mut ev));
        assert!(matches!(
            err,
            Ok(Err(Violation {
                limit: LimitName::ToolCalls,
                ..
            }))
        ));
        let c = a.completion();
        assert_eq!(
            at(&c, &["choices", "0", "message", "content"]),
            &s("x"),
            "nothing applied"
        );
        assert!(matches!(at(&c, &["choices"]), Value::Array(items) if items.len() == 1));
        let high = decode(
            br#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":2}]}}]}"#,
            128,
        );
        let err = high.map(|c| a.apply(c, &mut ev));
        assert!(matches!(
            err,
            Ok(Err(Violation {
                limit: LimitName::ToolCalls,
                ..
            }))
        ));
    }
}
