//! Framing: how a byte stream is cut into events before any JSON is read. Every format shares
//! these; the driver picks one per format.

pub mod delivery;
pub mod eventstream;
pub mod sse;
