//! Builds Python objects from core values.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};

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
                // Keys repeat across every completion; interning shares one str per key.
                dict.set_item(PyString::intern(py, k), to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

pub fn opt_to_py<'py>(py: Python<'py>, v: Option<&Value>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(v) => to_py(py, v),
        None => Ok(py.None().into_bound(py)),
    }
}
