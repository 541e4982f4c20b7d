//! The Python bindings: the only module that uses pyo3.

// pyo3 hands extracted arguments (`PyBackedBytes`, `LimitArg`) over by value.
#![allow(clippy::needless_pass_by_value)]

mod convert;
mod errors;
mod event;
mod eventstream;
mod feed_entry;
mod gc_pause;
mod logprobs;
mod new_entry;
mod options;
mod parser;
mod release;
mod sse;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<sse::SseEventPy>()?;
    m.add_class::<sse::SseDecoderPy>()?;
    m.add_class::<eventstream::EventStreamMessagePy>()?;
    m.add_class::<eventstream::EventStreamDecoderPy>()?;
    m.add_class::<event::EventPy>()?;
    m.add_class::<parser::StreamParserPy>()?;
    feed_entry::install_feed_entry(m.py())?;
    new_entry::install_new_entry(m.py());
    m.add_class::<parser::CaptureParserPy>()?;
    m.add_function(wrap_pyfunction!(parser::assemble, m)?)?;
    m.add_function(wrap_pyfunction!(parser::assemble_json, m)?)?;
    m.add("DEFAULTS", options::defaults(m.py())?)?;
    let formats: Vec<&str> = crate::formats::Format::ALL
        .iter()
        .map(|f| f.name())
        .collect();
    m.add("FORMATS", pyo3::types::PyTuple::new(m.py(), formats)?)?;
    // Which heap the Rust side allocates from (rust/heap.rs): a build without the feature
    // still works, only slower, so the packaging test and bug reports read it here.
    let allocator = if cfg!(feature = "mimalloc") {
        "mimalloc"
    } else {
        "system"
    };
    m.add("ALLOCATOR", allocator)?;
    Ok(())
}
