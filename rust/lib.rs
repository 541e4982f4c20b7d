//! deltafold core: folds an OpenAI-style chat-completions SSE stream back into the whole
//! `chat.completion`.
//!
//! Layers, each in its own module and none aware of Python:
//! - [`sse`]: WHATWG event-stream framing over raw reads;
//! - [`json`]: a JSON reader with byte positions, used by the chunk scanner;
//! - [`chunk`]: decodes one `data:` payload into a borrowed chunk view;
//! - [`assemble`]: folds chunk views into accumulators and renders the completion;
//! - [`event`]: per-delta events and the trails their snapshots are read from;
//! - [`partial`]: incremental partial JSON for tool-call arguments;
//! - [`repair`]: structural repair of malformed chunk JSON;
//! - [`template`]: the fast path for chunks that repeat the previous chunk's shape;
//! - [`sniff`]: recognises input that is not a chat-completions event stream;
//! - [`stream`]: the chat layer that drives all of the above.
//!
//! `py/` is the only place that uses pyo3, behind the default `python` feature.

pub mod driver;
pub mod error;
pub mod event;
pub mod formats;
pub mod framing;
pub mod json;
pub mod limits;
pub mod sniff;

#[cfg(feature = "python")]
mod py;
