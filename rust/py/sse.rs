//! `SseDecoder` and `SseEvent`: the plain WHATWG event-stream layer.

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use crate::framing::sse::{Decoder, LineTooLong, RawEvent};
use crate::limits::Limits;

use super::errors::line_too_long;
use super::options::{positive, LimitArg};

/// One dispatched Server-Sent Event (WHATWG "event stream interpretation").
///
/// - `event`: the event type; `"message"` when no `event:` field was given.
/// - `data`: the data buffer: `data` lines joined with a newline.
/// - `id`: the last event ID at dispatch time (persists across events; empty if never set).
/// - `retry`: the reconnection time at dispatch time (persists; None if never set).
#[pyclass(
    name = "SseEvent",
    module = "deltafold",
    frozen,
    eq,
    skip_from_py_object
)]
#[derive(Debug, Clone, PartialEq)]
pub struct SseEventPy {
    #[pyo3(get)]
    event: String,
    #[pyo3(get)]
    data: String,
    #[pyo3(get)]
    id: String,
    #[pyo3(get)]
    retry: Option<u64>,
}

#[pymethods]
impl SseEventPy {
    fn __repr__(&self) -> String {
        format!(
            "SseEvent(event={:?}, data={:?}, id={:?}, retry={:?})",
            self.event, self.data, self.id, self.retry
        )
    }
}

impl SseEventPy {
    fn from_raw(ev: &RawEvent<'_>) -> Self {
        let event = if ev.event_type.is_empty() {
            "message".to_string()
        } else {
            String::from_utf8_lossy(ev.event_type).into_owned()
        };
        SseEventPy {
            event,
            data: String::from_utf8_lossy(ev.data).into_owned(),
            id: String::from_utf8_lossy(ev.last_event_id).into_owned(),
            retry: ev.retry,
        }
    }
}

/// Incremental SSE decoder: feed bytes as they arrive, get the `SseEvent`s they complete.
///
/// Line ends are CRLF, LF or lone CR, also when a CR ends one read and the LF starts the next.
/// One leading BOM is stripped. Invalid UTF-8 becomes U+FFFD.
///
/// Options (keyword-only):
///
/// - `max_line_bytes`: longest line (default 64 MiB). A longer line raises
///   `LimitExceededError`: the events completed before it are returned first and the next
///   call raises; decoding then goes on after that line.
#[pyclass(name = "SseDecoder", module = "deltafold")]
pub struct SseDecoderPy {
    decoder: Decoder,
}

#[pymethods]
impl SseDecoderPy {
    #[new]
    #[pyo3(text_signature = "(*, max_line_bytes=67108864)")]
    #[pyo3(signature = (*, max_line_bytes = LimitArg(Limits::DEFAULT.max_line_bytes as i128)))]
    fn new(max_line_bytes: LimitArg) -> PyResult<Self> {
        let limit =
            usize::try_from(positive("max_line_bytes", max_line_bytes)?).unwrap_or(usize::MAX);
        Ok(SseDecoderPy {
            decoder: Decoder::new(limit),
        })
    }

    /// Events the read completed; an error met after some events is raised by the next call
    /// (the core's delivery rule, see `crate::framing::sse::Decoder`).
    fn feed(&mut self, py: Python<'_>, data: PyBackedBytes) -> PyResult<Vec<SseEventPy>> {
        self.decoder
            .feed(&data, SseEventPy::from_raw)
            .map_err(|e| raise(py, e))
    }

    /// End of input: the events still held; an unterminated event is discarded (per spec).
    fn finish(&mut self, py: Python<'_>) -> PyResult<Vec<SseEventPy>> {
        self.decoder
            .finish(SseEventPy::from_raw)
            .map_err(|e| raise(py, e))
    }

    /// The last event ID buffer.
    #[getter]
    fn last_event_id(&self) -> String {
        String::from_utf8_lossy(self.decoder.framer().last_event_id()).into_owned()
    }

    /// The reconnection time, if a valid `retry` field was seen.
    #[getter]
    fn retry(&self) -> Option<u64> {
        self.decoder.framer().retry()
    }
}

fn raise(py: Python<'_>, error: LineTooLong) -> PyErr {
    line_too_long(py, error.line_offset, error.limit, error.event_index)
}
