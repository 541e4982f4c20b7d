//! `EventStreamDecoder` and `EventStreamMessage`: the plain AWS event-stream layer, sibling of
//! `SseDecoder`.

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};

use crate::framing::eventstream::{
    Decoder, FrameError, FrameErrorKind, HeaderValue, RawMessage, DEFAULT_MAX_MESSAGE_BYTES,
};

use super::options::{positive, LimitArg};

/// A header value, owned: the message outlives the read it came from.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Bool(bool),
    Int(i64),
    Bytes(Vec<u8>),
    String(String),
}

impl Value {
    fn from_wire(value: HeaderValue<'_>) -> Value {
        match value {
            HeaderValue::Bool(b) => Value::Bool(b),
            HeaderValue::Byte(v) => Value::Int(v.into()),
            HeaderValue::Short(v) => Value::Int(v.into()),
            HeaderValue::Int(v) => Value::Int(v.into()),
            HeaderValue::Long(v) | HeaderValue::Timestamp(v) => Value::Int(v),
            HeaderValue::Bytes(v) => Value::Bytes(v.to_vec()),
            HeaderValue::Uuid(v) => Value::Bytes(v.to_vec()),
            HeaderValue::String(v) => Value::String(v.to_string()),
        }
    }
}

#[pyclass(
    name = "EventStreamMessage",
    module = "deltafold",
    frozen,
    skip_from_py_object
)]
pub struct EventStreamMessagePy {
    headers: Vec<(String, Value)>,
    payload: Py<PyBytes>,
}

#[pymethods]
impl EventStreamMessagePy {
    /// The headers as botocore's `EventStreamMessage.headers` gives them: booleans as bool,
    /// integers and timestamps (milliseconds) as int, bytes and uuids as bytes, strings as str.
    /// A new dict on each read: the message itself is immutable.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in &self.headers {
            match value {
                Value::Bool(b) => dict.set_item(name, *b)?,
                Value::Int(i) => dict.set_item(name, *i)?,
                Value::Bytes(b) => dict.set_item(name, PyBytes::new(py, b))?,
                Value::String(s) => dict.set_item(name, s)?,
            }
        }
        Ok(dict)
    }

    #[getter]
    fn payload(&self, py: Python<'_>) -> Py<PyBytes> {
        self.payload.clone_ref(py)
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<EventStreamMessagePy>() else {
            return false;
        };
        let other = other.get();
        self.headers == other.headers && self.payload.as_bytes(py) == other.payload.as_bytes(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "EventStreamMessage(headers={}, payload={})",
            self.headers(py)?.repr()?,
            self.payload.bind(py).repr()?
        ))
    }
}

impl EventStreamMessagePy {
    fn from_raw(py: Python<'_>, message: &RawMessage<'_>) -> Self {
        EventStreamMessagePy {
            headers: message
                .headers()
                .map(|h| (h.name.to_string(), Value::from_wire(h.value)))
                .collect(),
            payload: PyBytes::new(py, message.payload).unbind(),
        }
    }
}

#[pyclass(name = "EventStreamDecoder", module = "deltafold")]
pub struct EventStreamDecoderPy {
    decoder: Decoder,
}

#[pymethods]
impl EventStreamDecoderPy {
    #[new]
    #[pyo3(text_signature = "(*, max_message_bytes=25296912)")]
    #[pyo3(signature = (*, max_message_bytes = LimitArg(DEFAULT_MAX_MESSAGE_BYTES as i128)))]
    fn new(max_message_bytes: LimitArg) -> PyResult<Self> {
        let limit = usize::try_from(positive("max_message_bytes", max_message_bytes)?)
            .unwrap_or(usize::MAX);
        Ok(EventStreamDecoderPy {
            decoder: Decoder::new(limit),
        })
    }

    /// Messages the read completed; an error met after some messages is raised by the next
    /// call (the core's delivery rule, see `crate::framing::eventstream::Decoder`).
    fn feed(&mut self, py: Python<'_>, data: PyBackedBytes) -> PyResult<Vec<EventStreamMessagePy>> {
        self.decoder
            .feed(&data, |m| EventStreamMessagePy::from_raw(py, m))
            .map_err(|e| raise(py, &e))
    }

    /// End of input: raises `StreamDecodeError` if it ended inside a message.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Vec<EventStreamMessagePy>> {
        self.decoder
            .finish(|m| EventStreamMessagePy::from_raw(py, m))
            .map_err(|e| raise(py, &e))
    }
}

/// `LimitExceededError` for a message over the limit, `StreamDecodeError` for anything else.
pub fn raise(py: Python<'_>, error: &FrameError) -> PyErr {
    build(py, error).unwrap_or_else(|e| e)
}

fn build(py: Python<'_>, error: &FrameError) -> PyResult<PyErr> {
    let errors = py.import("deltafold.errors")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("byte_offset", error.byte_offset)?;
    kwargs.set_item("event_index", error.message_index)?;
    let class = if let FrameErrorKind::TooLong { limit, .. } = error.kind {
        kwargs.set_item("limit", "max_message_bytes")?;
        kwargs.set_item("maximum", limit)?;
        "LimitExceededError"
    } else {
        "StreamDecodeError"
    };
    let instance = errors
        .getattr(class)?
        .call((error.message(),), Some(&kwargs))?;
    Ok(PyErr::from_value(instance))
}
