//! Keyword options shared by every entry point.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::assemble::Options;
use crate::limits::{Limits, DEPTH_CEILING};
use crate::stream::{Config, OnError};

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

fn positive(name: &str, value: i64) -> PyResult<u64> {
    u64::try_from(value).ok().filter(|v| *v > 0).ok_or_else(|| {
        PyValueError::new_err(format!("{name} must be a positive integer, not {value}"))
    })
}

/// Validates limit options.
pub fn limits(
    max_line_bytes: i64,
    max_buffer_bytes: i64,
    max_choice_index: i64,
    max_tool_calls: i64,
    max_depth: i64,
) -> PyResult<Limits> {
    let max_choice_index = u64::try_from(max_choice_index).map_err(|_| {
        PyValueError::new_err(format!(
            "max_choice_index must be a non-negative integer, not {max_choice_index}"
        ))
    })?;
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
pub fn max_problems(value: i64) -> PyResult<usize> {
    usize::try_from(value).map_err(|_| {
        PyValueError::new_err(format!(
            "max_problems must be a non-negative integer, not {value}"
        ))
    })
}

#[allow(clippy::too_many_arguments)]
pub fn config(
    on_error_name: &str,
    events: bool,
    partial_arguments: bool,
    allow_truncated: bool,
    capture: bool,
    limits: Limits,
    max_problems: usize,
) -> PyResult<Config> {
    Ok(Config {
        max_problems,
        on_error: on_error(on_error_name)?,
        options: Options {
            events,
            partial_arguments,
        },
        limits,
        allow_truncated,
        capture,
    })
}
