//! Raises the exception classes defined in `deltafold/errors.py`, so the native parser and
//! the reference raise the very same types.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyModule};

use crate::driver::{Problem, ProblemKind};
use crate::error::{ErrorClass, ErrorKind, StreamError};
use crate::json::value::Value;

use super::convert::to_py;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("deltafold.errors")?.unbind())
        })
        .map(|m| m.bind(py))
}

/// Builds the Python exception for `err`; `partial` is the snapshot before the error.
pub fn to_pyerr(py: Python<'_>, err: &StreamError, partial: Option<&Value>) -> PyErr {
    let partial = match partial.map(|p| to_py(py, p)).transpose() {
        Ok(p) => p,
        Err(e) => return e,
    };
    to_pyerr_with(py, err, partial)
}

/// As [`to_pyerr`], with the snapshot already converted.
pub fn to_pyerr_with(
    py: Python<'_>,
    err: &StreamError,
    partial: Option<Bound<'_, PyAny>>,
) -> PyErr {
    build(py, err, partial).unwrap_or_else(|e| e)
}

/// As [`to_pyerr`], with `.partial` left to `handle`: a callable of no arguments that
/// `DeltafoldError.partial` calls on its first read (so an error dropped unread never converts
/// the completion).
pub fn to_pyerr_lazy(py: Python<'_>, err: &StreamError, handle: &Bound<'_, PyAny>) -> PyErr {
    let build_lazy = || {
        let instance = instance(py, err, None)?;
        instance.setattr(intern!(py, "_partial"), handle)?;
        Ok(PyErr::from_value(instance))
    };
    build_lazy().unwrap_or_else(|e| e)
}

fn build(py: Python<'_>, err: &StreamError, partial: Option<Bound<'_, PyAny>>) -> PyResult<PyErr> {
    instance(py, err, partial).map(PyErr::from_value)
}

fn instance<'py>(
    py: Python<'py>,
    err: &StreamError,
    partial: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let module = errors_module(py)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("byte_offset", err.byte_offset)?;
    kwargs.set_item("event_index", err.event_index)?;
    match partial {
        Some(p) => kwargs.set_item("partial", p)?,
        None => kwargs.set_item("partial", py.None())?,
    }
    let message = err.message();
    let class = module.getattr(class_name(err.kind.class()))?;
    let instance = match &err.kind {
        ErrorKind::Decode(d) => {
            let payload = err.payload.as_deref().unwrap_or_default();
            class.call_method(
                "from_payload_bytes",
                (message, PyBytes::new(py, payload), d.pos()),
                Some(&kwargs),
            )?
        }
        ErrorKind::Limit { limit, maximum } => {
            kwargs.set_item("limit", limit.option())?;
            kwargs.set_item("maximum", *maximum)?;
            class.call((message,), Some(&kwargs))?
        }
        ErrorKind::Api { body } | ErrorKind::ErrorResponse { body, .. } => {
            kwargs.set_item("body", to_py(py, body)?)?;
            class.call((message,), Some(&kwargs))?
        }
        ErrorKind::UnsupportedFormat { format } => {
            kwargs.set_item("format", format.id())?;
            class.call((message,), Some(&kwargs))?
        }
        ErrorKind::Incomplete { .. }
        | ErrorKind::NotEventStream { .. }
        | ErrorKind::Stream { .. }
        | ErrorKind::Frame(_) => class.call((message,), Some(&kwargs))?,
    };
    Ok(instance)
}

/// A `LimitExceededError` raised by the plain SSE decoder.
pub fn line_too_long(py: Python<'_>, line_offset: u64, limit: usize, event_index: u64) -> PyErr {
    let err = StreamError {
        kind: ErrorKind::Limit {
            limit: crate::limits::LimitName::LineBytes,
            maximum: limit as u64,
        },
        byte_offset: line_offset,
        event_index: Some(event_index),
        payload: None,
    };
    to_pyerr(py, &err, None)
}

/// The exception class in `deltafold.errors` of each error family.
fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::ChunkDecode => "ChunkDecodeError",
        ErrorClass::LimitExceeded => "LimitExceededError",
        ErrorClass::Api => "StreamAPIError",
        ErrorClass::Incomplete => "IncompleteStreamError",
        ErrorClass::NotEventStream | ErrorClass::StreamDecode => "StreamDecodeError",
        ErrorClass::UnsupportedFormat => "UnsupportedFormatError",
    }
}

/// The name `deltafold.errors.Problem` gives a problem's kind: the class of the error that was
/// not raised, or `DataAfterDone`.
fn problem_kind_name(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::DataAfterDone => "DataAfterDone",
        ProblemKind::Note(kind) => kind,
        ProblemKind::Error(class) => class_name(class),
    }
}

pub fn problem_to_py<'py>(py: Python<'py>, p: &Problem) -> PyResult<Bound<'py, PyAny>> {
    errors_module(py)?.getattr("Problem")?.call1((
        problem_kind_name(p.kind),
        p.action.name(),
        p.message.as_str(),
        p.byte_offset,
        p.event_index,
    ))
}
