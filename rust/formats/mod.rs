//! The wire formats: one folder per format, each folding decoded events into that format's
//! result. The driver ([`crate::driver::Driver`]) runs any of them; adding a format means
//! adding its folder, implementing [`Fold`] and naming it here.

use crate::driver::Options;
use crate::error::ErrorKind;
use crate::event::Event;
use crate::json::value::Value;
use crate::limits::Limits;

pub mod bedrock;
pub mod chat;
pub mod gemini;

/// What a format does with the events the driver hands it. The driver owns the policy: what
/// to raise, skip, repair or record; a fold only folds, and leaves its state unchanged when it
/// returns an error.
pub trait Fold {
    fn new(options: Options, limits: Limits) -> Self;

    /// Whether this payload (without surrounding whitespace) ends the stream, like `[DONE]`.
    fn ends_stream(data: &[u8]) -> bool;

    /// Folds one event's payload in, pushing per-delta events when they are on.
    ///
    /// # Errors
    /// Why the payload could not be folded; a syntax error may be retried on a repaired
    /// payload with [`Fold::fold_repaired`].
    fn fold(
        &mut self,
        event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<(), ErrorKind>;

    /// Folds a payload that the driver repaired after [`Fold::fold`] refused it.
    ///
    /// # Errors
    /// Why even the repaired payload could not be folded.
    fn fold_repaired(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<(), ErrorKind>;

    /// Starts the next stream of a capture, keeping only counters.
    fn next_stream(&mut self);

    /// Payloads folded in so far in this stream.
    fn folded(&self) -> u64;

    /// Whether the stream is complete without an end marker (every choice has finished).
    fn complete(&self) -> bool;

    /// The events that close the stream, before the final `done` event.
    fn finish_events(&mut self, events: &mut Vec<Event>);

    /// The result so far (the whole result at the end).
    fn result(&self) -> Value;

    /// Equal versions have equal results.
    fn version(&self) -> (u64, u64);
}
