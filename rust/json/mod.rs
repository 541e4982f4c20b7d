//! JSON shared by every format: the positioned reader, the value tree, incremental partial
//! JSON (tool-call arguments) and structural repair of malformed payloads.

pub mod partial;
pub mod reader;
pub mod repair;
pub mod value;
pub mod writer;
