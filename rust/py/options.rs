//! Keyword options shared by every entry point.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyInt;

use crate::driver::OnError;
use crate::limits::{Limits, DEPTH_CEILING};

pub fn on_error(name: &str) -> PyResult<OnError> {
    match name {
        "raise" => Ok(OnError::Raise),
        "skip" => Ok(OnError::Skip),
        "repair" => Ok(OnError::Repair),
        other => Err(PyValueError::new_err(format!(
            "on_error must be 'raise', 'skip' or 'repair', not {other:?}"
        ))),
    }
}

/// A limit option: an exact `int` (so a bool is refused: `True` as a byte count is a mistake) of
/// any size; beyond the i128 range only its sign matters. The twins agree on this
/// (docs/design.md, twin decisions, row k).
#[derive(Clone, Copy)]
pub struct LimitArg(pub i128);

impl<'a, 'py> FromPyObject<'a, 'py> for LimitArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if !obj.is_exact_instance_of::<PyInt>() {
            let kind = obj.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "a limit must be an int, not {kind}"
            )));
        }
        match obj.extract::<i128>() {
            Ok(v) => Ok(LimitArg(v)),
            Err(_) => Ok(LimitArg(if obj.lt(0)? { i128::MIN } else { i128::MAX })),
        }
    }
}

/// A limit that must be at least 1; one beyond u64 means no limit in practice, so it saturates.
pub fn positive(name: &str, value: LimitArg) -> PyResult<u64> {
    if value.0 <= 0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a positive integer, not {}",
            value.0
        )));
    }
    Ok(u64::try_from(value.0).unwrap_or(u64::MAX))
}

/// Validates limit options.
pub fn limits(
    max_line_bytes: LimitArg,
    max_buffer_bytes: LimitArg,
    max_choice_index: LimitArg,
    max_tool_calls: LimitArg,
    max_depth: LimitArg,
) -> PyResult<Limits> {
    if max_choice_index.0 < 0 {
        return Err(PyValueError::new_err(format!(
            "max_choice_index must be a non-negative integer, not {}",
            max_choice_index.0
        )));
    }
    let max_choice_index = u64::try_from(max_choice_index.0).unwrap_or(u64::MAX);
    let depth = positive("max_depth", max_depth)?;
    if depth > DEPTH_CEILING as u64 {
        return Err(PyValueError::new_err(format!(
            "max_depth must be at most {DEPTH_CEILING}, not {depth}"
        )));
    }
    Ok(Limits {
        max_line_bytes: usize::try_from(positive("max_line_bytes", max_line_bytes)?)
            .unwrap_or(usize::MAX),
        max_buffer_bytes: positive("max_buffer_bytes", max_buffer_bytes)?,
        max_choice_index,
        max_tool_calls: usize::try_from(positive("max_tool_calls", max_tool_calls)?)
            .unwrap_or(usize::MAX),
        max_depth: depth as usize,
    })
}

/// `max_problems`: how many problems are kept in full (0 keeps none; all are counted).
/// `max_problems` may be 0 (keep none, count them all); one beyond usize means no limit.
pub fn max_problems(value: LimitArg) -> PyResult<usize> {
    if value.0 < 0 {
        return Err(PyValueError::new_err(format!(
            "max_problems must be a non-negative integer, not {}",
            value.0
        )));
    }
    Ok(usize::try_from(value.0).unwrap_or(usize::MAX))
}
