//! The wire formats: one folder per format, each folding decoded events into that format's
//! result. The driver ([`crate::driver`]) runs any of them.

pub mod chat;
