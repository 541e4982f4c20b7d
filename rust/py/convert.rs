//! Builds Python objects from core values.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};

use crate::json::{JsonError, Reader};
use crate::limits::DEPTH_CEILING;
use crate::value::Value;

/// JSON numbers as orjson reads them: integers within 64 bits are ints, other integers and
/// all fractions are floats.
fn number<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(i.into_pyobject(py)?.into_any());
        }
        if let Ok(u) = text.parse::<u64>() {
            return Ok(u.into_pyobject(py)?.into_any());
        }
    }
    match text.parse::<f64>() {
        Ok(f) => Ok(PyFloat::new(py, f).into_any()),
        Err(_) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "not a JSON number: {text}"
        ))),
    }
}

/// The keys every completion has, as cached Python strings: building the result dict then
/// costs no string creation or interning lookup for them.
fn key<'py>(py: Python<'py>, k: &str) -> Bound<'py, PyString> {
    macro_rules! known {
        ($($name:literal),* $(,)?) => {
            match k {
                $($name => pyo3::intern!(py, $name).clone(),)*
                _ => PyString::new(py, k),
            }
        };
    }
    known!(
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "service_tier",
        "system_fingerprint",
        "index",
        "message",
        "logprobs",
        "finish_reason",
        "role",
        "content",
        "refusal",
        "tool_calls",
        "function_call",
        "type",
        "function",
        "name",
        "arguments",
        "annotations",
        "audio",
        "reasoning_content",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
        "cached_tokens",
        "audio_tokens",
        "reasoning_tokens",
        "accepted_prediction_tokens",
        "rejected_prediction_tokens",
        "token",
        "logprob",
        "bytes",
        "top_logprobs",
    )
}

pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(t) => number(py, t)?,
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(key(py, k), to_py(py, item)?)?;
            }
            dict.into_any()
        }
        Value::Raw(text) => {
            let mut r = Reader::new(text.as_bytes(), DEPTH_CEILING);
            raw_to_py(py, &mut r)?
        }
    })
}

fn invalid_raw(e: JsonError) -> PyErr {
    // Raw text was validated when it was read; this would be an internal error.
    pyo3::exceptions::PyValueError::new_err(format!("invalid stored JSON: {:?}", e.code))
}

/// Builds Python objects straight from validated JSON text (see `Value::Raw`).
fn raw_to_py<'py>(py: Python<'py>, r: &mut Reader<'_>) -> PyResult<Bound<'py, PyAny>> {
    if let Some(s) = r.take_string().map_err(invalid_raw)? {
        return Ok(PyString::new(py, &s).into_any());
    }
    if let Some(n) = r.take_number().map_err(invalid_raw)? {
        return number(py, n);
    }
    if r.begin_object().map_err(invalid_raw)? {
        let dict = PyDict::new(py);
        let mut first = true;
        while let Some(k) = r.next_key(&mut first).map_err(invalid_raw)? {
            let v = raw_to_py(py, r)?;
            dict.set_item(key(py, &k), v)?;
        }
        return Ok(dict.into_any());
    }
    if r.begin_array().map_err(invalid_raw)? {
        let list = PyList::empty(py);
        let mut first = true;
        while r.next_element(&mut first).map_err(invalid_raw)? {
            list.append(raw_to_py(py, r)?)?;
        }
        return Ok(list.into_any());
    }
    if let Some(b) = r.take_bool().map_err(invalid_raw)? {
        return Ok(PyBool::new(py, b).to_owned().into_any());
    }
    r.take_null().map_err(invalid_raw)?;
    Ok(py.None().into_bound(py))
}

pub fn opt_to_py<'py>(py: Python<'py>, v: Option<&Value>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(v) => to_py(py, v),
        None => Ok(py.None().into_bound(py)),
    }
}
