//! deltafold core: folds streamed LLM responses (today `OpenAI` Chat Completions SSE) back into
//! the whole result (the `chat.completion`).
//!
//! The pipeline, bottom to top; no module is aware of Python:
//!
//! ```text
//! bytes ─▶ framing ─▶ driver ─▶ formats::<format> ─▶ result, events, problems
//!          (sse)      (policy)   (fold)
//!                 shared by all: json, error, limits, event, sniff
//! ```
//!
//! - [`framing`]: cuts raw reads into events ([`framing::sse`]: WHATWG event-stream framing);
//! - [`json`]: the positioned JSON reader, the value tree, incremental partial JSON for
//!   tool-call arguments, and structural repair of malformed payloads;
//! - [`error`], [`limits`]: errors as values with positions, and the resource limits;
//! - [`event`]: per-delta events and the trails their snapshots are read from;
//! - [`persistent`]: the persistent list under event trails and partial-JSON snapshots;
//! - [`sniff`]: recognises input that is not an event stream, or is another format's;
//! - [`driver`]: runs any format: the `on_error` policy, the problem list, the queue of events
//!   and results with an error deferred behind them, truncation and captures;
//! - [`formats`]: one folder per wire format implementing [`formats::Fold`]; today
//!   [`formats::chat`] (chunk scanner, template fast path, accumulators).
//!
//! `py/` is the only place that uses pyo3, behind the `python` feature.

pub mod driver;
pub mod error;
pub mod event;
pub mod formats;
pub mod framing;
pub mod json;
pub mod limits;
pub mod persistent;
pub mod sniff;
pub mod summary;

#[cfg(feature = "python")]
mod py;

#[cfg(feature = "mimalloc")]
mod heap;

/// The Rust heap of the Python extension (the `mimalloc` feature, which pyproject.toml turns
/// on for maturin): see [`heap`]. Python's own objects still come from `CPython`'s allocators;
/// the core alone (its tests, miri, cargo-fuzz) keeps the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static HEAP: heap::SplitHeap = heap::SplitHeap;
