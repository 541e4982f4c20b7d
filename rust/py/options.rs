//! Keyword options shared by every entry point.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyMappingProxy, PyString};

use crate::driver::{Config, OnError};
use crate::formats::Format;
use crate::limits::{Limits, DEPTH_CEILING};

/// The `on_error` option as given. Like [`LimitArg`], extraction never fails, so a value of the
/// wrong type gets the same message as in the reference (`on_error must be a str, not int`).
#[derive(Clone)]
pub struct OnErrorArg {
    /// A known name as the static string it equals (no copy of the caller's text, made for
    /// every parser), another name as given, or the wrong type's name.
    name: Result<std::borrow::Cow<'static, str>, String>,
}

/// A valid `on_error` value; spelled like a tuple struct so signature defaults read
/// `OnErrorArg("raise")`.
#[allow(non_snake_case)]
pub const fn OnErrorArg(name: &'static str) -> OnErrorArg {
    OnErrorArg {
        name: Ok(std::borrow::Cow::Borrowed(name)),
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for OnErrorArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(text) = obj.cast_exact::<PyString>() {
            let given = text.to_str()?;
            let known = ["raise", "skip", "repair"]
                .into_iter()
                .find(|n| *n == given);
            return Ok(OnErrorArg {
                name: Ok(known.map_or_else(
                    || std::borrow::Cow::Owned(given.to_owned()),
                    std::borrow::Cow::Borrowed,
                )),
            });
        }
        Ok(OnErrorArg {
            name: Err(obj.get_type().name()?.to_string()),
        })
    }
}

pub fn on_error(arg: &OnErrorArg) -> PyResult<OnError> {
    let name = match &arg.name {
        Ok(name) => name.as_ref(),
        Err(kind) => {
            return Err(PyTypeError::new_err(format!(
                "on_error must be a str, not {kind}"
            )))
        }
    };
    match name {
        "raise" => Ok(OnError::Raise),
        "skip" => Ok(OnError::Skip),
        "repair" => Ok(OnError::Repair),
        other => Err(PyValueError::new_err(format!(
            "on_error must be 'raise', 'skip' or 'repair', not '{other}'"
        ))),
    }
}

/// The `format` option as given (extraction never fails, as for [`OnErrorArg`]).
#[derive(Clone)]
pub struct FormatArg {
    /// The format a known name selects (`None`: auto), or the message's text: an unknown
    /// name's Python `repr` (made only then: every parser is given a format) or the wrong
    /// type's name.
    name: Result<Option<Format>, FormatError>,
}

#[derive(Clone)]
enum FormatError {
    /// The `repr` of a `str` naming no format.
    Unknown(String),
    /// The type of a value that is not a `str`.
    WrongType(String),
}

/// A `format` value; spelled like a tuple struct so signature defaults read
/// `FormatArg("auto")`.
#[allow(non_snake_case)]
pub fn FormatArg(name: &str) -> FormatArg {
    FormatArg {
        name: Format::parse(name).ok_or_else(|| FormatError::Unknown(format!("'{name}'"))),
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for FormatArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(text) = obj.cast_exact::<PyString>() {
            return Ok(FormatArg {
                name: match Format::parse(text.to_str()?) {
                    Some(format) => Ok(format),
                    None => Err(FormatError::Unknown(obj.repr()?.to_string())),
                },
            });
        }
        Ok(FormatArg {
            name: Err(FormatError::WrongType(obj.get_type().name()?.to_string())),
        })
    }
}

/// The format a `format=` value selects (`None`: auto); only implemented formats are accepted.
pub fn format(arg: &FormatArg) -> PyResult<Option<Format>> {
    match &arg.name {
        Ok(format) => Ok(*format),
        Err(FormatError::WrongType(kind)) => Err(PyTypeError::new_err(format!(
            "format must be a str, not {kind}"
        ))),
        Err(FormatError::Unknown(shown)) => Err(PyValueError::new_err(format!(
            "format must be {}, not {shown}",
            Format::accepted_names()
        ))),
    }
}

/// A boolean option as given: only an exact `bool` is accepted (an int where a flag belongs is
/// a mistake), with the reference's message naming the option.
#[derive(Clone)]
pub struct FlagArg {
    value: Result<bool, String>,
}

/// A valid flag; spelled like a tuple struct so signature defaults read `FlagArg(false)`.
#[allow(non_snake_case)]
pub const fn FlagArg(value: bool) -> FlagArg {
    FlagArg { value: Ok(value) }
}

impl<'a, 'py> FromPyObject<'a, 'py> for FlagArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_exact_instance_of::<PyBool>() {
            return Ok(FlagArg {
                value: Ok(obj.is_truthy()?),
            });
        }
        Ok(FlagArg {
            value: Err(obj.get_type().name()?.to_string()),
        })
    }
}

/// The flag's value, or the `TypeError` naming `option`.
pub fn flag(option: &str, arg: &FlagArg) -> PyResult<bool> {
    arg.value
        .clone()
        .map_err(|kind| PyTypeError::new_err(format!("{option} must be a bool, not {kind}")))
}

/// A limit option: an exact `int` (so a bool is refused: `True` as a byte count is a mistake) of
/// any size; beyond the i128 range only its sign matters. The twins agree on this
/// (docs/design.md, twin decisions, row k).
///
/// Extraction never fails: a value of the wrong type is kept as its type's name and refused by
/// the check that knows the option's name, so the message names the option as the reference's
/// does. `LimitArg(n)` (the function below) builds a valid one, as the signature defaults do.
#[derive(Clone)]
pub struct LimitArg {
    value: i128,
    wrong_type: Option<String>,
}

/// A limit option holding `value`; spelled like a tuple struct so signature defaults read
/// `LimitArg(1024)`.
#[allow(non_snake_case)]
pub const fn LimitArg(value: i128) -> LimitArg {
    LimitArg {
        value,
        wrong_type: None,
    }
}

impl LimitArg {
    /// The value, or the `TypeError` naming `option` when it was not an exact int.
    fn checked(&self, option: &str) -> PyResult<i128> {
        match &self.wrong_type {
            Some(kind) => Err(PyTypeError::new_err(format!(
                "{option} must be an int, not {kind}"
            ))),
            None => Ok(self.value),
        }
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for LimitArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if !obj.is_exact_instance_of::<PyInt>() {
            return Ok(LimitArg {
                value: 0,
                wrong_type: Some(obj.get_type().name()?.to_string()),
            });
        }
        match obj.extract::<i128>() {
            Ok(v) => Ok(LimitArg(v)),
            Err(_) => Ok(LimitArg(if obj.lt(0)? { i128::MIN } else { i128::MAX })),
        }
    }
}

/// A limit that must be at least 1; one beyond u64 means no limit in practice, so it saturates.
pub fn positive(name: &str, value: LimitArg) -> PyResult<u64> {
    let value = value.checked(name)?;
    if value <= 0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a positive integer, not {value}"
        )));
    }
    Ok(u64::try_from(value).unwrap_or(u64::MAX))
}

/// Validates limit options.
pub fn limits(
    max_line_bytes: LimitArg,
    max_buffer_bytes: LimitArg,
    max_choice_index: LimitArg,
    max_tool_calls: LimitArg,
    max_depth: LimitArg,
) -> PyResult<Limits> {
    let max_line_bytes = positive("max_line_bytes", max_line_bytes)?;
    let max_buffer_bytes = positive("max_buffer_bytes", max_buffer_bytes)?;
    let max_choice_index = max_choice_index.checked("max_choice_index")?;
    if max_choice_index < 0 {
        return Err(PyValueError::new_err(format!(
            "max_choice_index must be a non-negative integer, not {max_choice_index}"
        )));
    }
    let max_choice_index = u64::try_from(max_choice_index).unwrap_or(u64::MAX);
    let max_tool_calls = positive("max_tool_calls", max_tool_calls)?;
    let depth = positive("max_depth", max_depth)?;
    if depth > DEPTH_CEILING as u64 {
        return Err(PyValueError::new_err(format!(
            "max_depth must be at most {DEPTH_CEILING}, not {depth}"
        )));
    }
    Ok(Limits {
        max_line_bytes: usize::try_from(max_line_bytes).unwrap_or(usize::MAX),
        max_buffer_bytes,
        max_choice_index,
        max_tool_calls: usize::try_from(max_tool_calls).unwrap_or(usize::MAX),
        max_depth: depth as usize,
    })
}

/// `max_problems`: how many problems are kept in full (0 keeps none; all are counted).
/// `max_problems` may be 0 (keep none, count them all); one beyond usize means no limit.
pub fn max_problems(value: LimitArg) -> PyResult<usize> {
    let value = value.checked("max_problems")?;
    if value < 0 {
        return Err(PyValueError::new_err(format!(
            "max_problems must be a non-negative integer, not {value}"
        )));
    }
    Ok(usize::try_from(value).unwrap_or(usize::MAX))
}

/// The default of every keyword option, as the read-only mapping `_core.DEFAULTS`: the Python facade and the tests
/// read them from here instead of repeating the numbers (issue 9). The `#[pyo3(signature)]`
/// defaults and `_core.pyi` still spell them out; `tests/test_options.py` checks they agree.
pub fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyMappingProxy>> {
    let config = Config::default();
    let limits = Limits::default();
    let on_error = match config.on_error {
        OnError::Raise => "raise",
        OnError::Skip => "skip",
        OnError::Repair => "repair",
    };
    let out = PyDict::new(py);
    out.set_item("format", "auto")?;
    out.set_item("on_error", on_error)?;
    out.set_item("events", config.options.events)?;
    out.set_item("partial_arguments", config.options.partial_arguments)?;
    out.set_item("allow_truncated", config.allow_truncated)?;
    out.set_item("max_line_bytes", limits.max_line_bytes)?;
    out.set_item("max_buffer_bytes", limits.max_buffer_bytes)?;
    out.set_item("max_choice_index", limits.max_choice_index)?;
    out.set_item("max_tool_calls", limits.max_tool_calls)?;
    out.set_item("max_depth", limits.max_depth)?;
    out.set_item("max_problems", config.max_problems)?;
    // Read-only: a caller changing them would change nothing but what the facade reports.
    Ok(PyMappingProxy::new(py, out.as_mapping()))
}
