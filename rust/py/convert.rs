//! Builds Python objects from core values.

use std::sync::TryLockError;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};

use crate::json::partial::{OpenLevel, PartialSnapshot};
use crate::json::reader::{JsonError, Reader};
use crate::json::value::Value;
use crate::limits::DEPTH_CEILING;

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

/// The Python objects already built for the completed children of the open containers of one
/// tool call's arguments, kept in the call's [`crate::json::partial::ReaderMemo`]: one entry per depth.
#[derive(Default)]
struct PartialMemo {
    levels: Vec<LevelMemo>,
}

struct LevelMemo {
    /// The container ([`OpenLevel::id`]) these children belong to.
    id: u64,
    /// Children converted so far.
    len: usize,
    /// A list of the items or a dict of the entries; never handed out, only copied.
    children: Py<PyAny>,
}

/// `parsed_arguments`: the snapshot as a new Python value. Completed children of the open
/// containers are built once per call and shared by every later read (of any event of the
/// call); a read builds only the children completed since the last read, one new list or dict
/// per open container (a C-level copy of the references to its completed children) and the
/// unfinished string or number. See the cost model in docs/design.md ('Events').
pub fn partial_to_py<'py>(py: Python<'py>, snap: &PartialSnapshot) -> PyResult<Bound<'py, PyAny>> {
    let mut inner = match snap.tail_value() {
        Some(v) => Some(to_py(py, &v)?),
        None => None,
    };
    if snap.open_levels().len() == 0 {
        return Ok(inner.unwrap_or_else(|| py.None().into_bound(py)));
    }
    // `try_lock`: building Python objects can run a finaliser or switch threads, and either may
    // read another event of this call meanwhile; that read builds its value without the memo.
    let mut guard = match snap.reader_memo().try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => {
            let mut guard = poisoned.into_inner();
            *guard = None;
            Some(guard)
        }
        Err(TryLockError::WouldBlock) => None,
    };
    let mut memo = guard.as_mut().and_then(|slot| {
        slot.get_or_insert_with(|| Box::new(PartialMemo::default()))
            .downcast_mut::<PartialMemo>()
    });
    let mut containers = Vec::with_capacity(snap.open_levels().len());
    for (depth, level) in snap.open_levels().enumerate() {
        let container = match memo.as_deref_mut() {
            Some(memo) => memo.completed(py, depth, level)?,
            None => fresh_children(py, level)?,
        };
        containers.push(container);
    }
    if let Some(memo) = memo {
        // Deeper entries belong to containers that are closed now.
        memo.levels.truncate(containers.len());
    }
    drop(guard);
    for (level, container) in snap.open_levels().zip(containers).rev() {
        if let Some(value) = inner.take() {
            match level.pending_key() {
                Some(k) => container.set_item(key(py, k), value)?,
                None if !level.is_object() => container.cast::<PyList>()?.append(value)?,
                None => {}
            }
        }
        inner = Some(container);
    }
    Ok(inner.unwrap_or_else(|| py.None().into_bound(py)))
}

impl PartialMemo {
    /// A new list or dict of the completed children of `level`, the open container at `depth`.
    fn completed<'py>(
        &mut self,
        py: Python<'py>,
        depth: usize,
        level: OpenLevel<'_>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let known = self
            .levels
            .get_mut(depth)
            .filter(|memo| memo.id == level.id());
        let Some(memo) = known else {
            let children = fresh_children(py, level)?;
            self.levels.truncate(depth);
            self.levels.push(LevelMemo {
                id: level.id(),
                len: level.len(),
                children: children.clone().unbind(),
            });
            return copy(&children, level.len());
        };
        let children = memo.children.bind(py).clone();
        if memo.len > level.len() {
            // An earlier event of the call, read after a later one.
            return if level.is_object() {
                fresh_children(py, level)
            } else {
                copy(&children, level.len())
            };
        }
        if memo.len < level.len() {
            if let Err(e) = add_children(py, &children, level, memo.len) {
                // The memo may hold some of the new children: forget it rather than trust it.
                self.levels.truncate(depth);
                return Err(e);
            }
            memo.len = level.len();
        }
        copy(&children, level.len())
    }
}

/// The completed children of `level` as a new list or dict.
fn fresh_children<'py>(py: Python<'py>, level: OpenLevel<'_>) -> PyResult<Bound<'py, PyAny>> {
    let container = if level.is_object() {
        PyDict::new(py).into_any()
    } else {
        PyList::empty(py).into_any()
    };
    add_children(py, &container, level, 0)?;
    Ok(container)
}

/// Adds the completed children of `level` from position `start` on to `container`.
fn add_children(
    py: Python<'_>,
    container: &Bound<'_, PyAny>,
    level: OpenLevel<'_>,
    start: usize,
) -> PyResult<()> {
    let children = level.children_from(start);
    if let Ok(list) = container.cast::<PyList>() {
        for (_, value) in &children {
            list.append(to_py(py, value)?)?;
        }
    } else {
        let dict = container.cast::<PyDict>()?;
        for (k, value) in &children {
            if let Some(k) = k {
                // A repeated key keeps its first position and takes the later value.
                dict.set_item(key(py, k), to_py(py, value)?)?;
            }
        }
    }
    Ok(())
}

/// A new list holding the first `len` items of the list `children`, or a new dict with the
/// entries of the dict `children`: references copied, no child built.
fn copy<'py>(children: &Bound<'py, PyAny>, len: usize) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(list) = children.cast::<PyList>() {
        Ok(list.get_slice(0, len).into_any())
    } else {
        Ok(children.cast::<PyDict>()?.copy()?.into_any())
    }
}
