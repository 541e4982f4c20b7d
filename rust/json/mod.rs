//! JSON shared by every format: the positioned reader, the value tree, incremental partial
//! JSON (tool-call arguments), structural repair of malformed payloads, and the number grammar
//! they share.

pub mod number;
pub mod partial;
pub mod reader;
pub mod repair;
pub mod value;
pub mod writer;
