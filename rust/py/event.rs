//! `Event`: an immutable per-delta event. Attributes are converted to Python objects only
//! when read, and text snapshots are rebuilt from the event's trail only when read.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::event::{Event, EventKind, Snapshot};
use crate::json::value::Value;

use super::convert::{list_to_py, opt_to_py, partial_to_py, to_py};

/// A per-delta event. Immutable; attributes that do not apply to its type are None.
///
/// Types: `content.delta`/`.done`, `refusal.delta`/`.done`, `reasoning.delta`/`.done`,
/// `tool_calls.function.arguments.delta`/`.done`, `function_call.arguments.delta`/`.done`,
/// `logprobs.content.delta`, `logprobs.refusal.delta`, `usage`, `error`, `done`.
#[pyclass(name = "Event", module = "deltafold", frozen)]
pub struct EventPy {
    inner: Event,
}

impl EventPy {
    pub fn new(inner: Event) -> Self {
        EventPy { inner }
    }

    fn kind(&self) -> EventKind {
        self.inner.kind
    }

    fn is_tool(&self) -> bool {
        matches!(
            self.kind(),
            EventKind::ToolArgumentsDelta
                | EventKind::ToolArgumentsDone
                | EventKind::FunctionArgumentsDelta
                | EventKind::FunctionArgumentsDone
        )
    }
}

const ATTRIBUTES: [&str; 16] = [
    "type",
    "choice_index",
    "index",
    "id",
    "name",
    "field",
    "delta",
    "snapshot",
    "content",
    "refusal",
    "arguments",
    "arguments_delta",
    "parsed_arguments",
    "usage",
    "error",
    "completion",
];

#[pymethods]
impl EventPy {
    /// The event type, e.g. `content.delta` (see the class doc).
    #[getter(r#type)]
    fn kind_name(&self, py: Python<'_>) -> Py<PyString> {
        PyString::intern(py, self.kind().name()).unbind()
    }

    /// The choice (candidate) the event belongs to; 0 for single-message formats.
    #[getter]
    fn choice_index(&self) -> Option<u64> {
        self.inner.choice_index
    }

    /// Tool-call position among the message's tool calls (tool events only).
    #[getter]
    fn index(&self) -> Option<usize> {
        self.inner.index
    }

    /// Tool-call id (tool events only).
    #[getter]
    fn id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }

    /// Function name (tool and `function_call` events).
    #[getter]
    fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The delta key a reasoning event comes from (`reasoning_content` or `reasoning`).
    #[getter]
    fn field(&self) -> Option<&str> {
        self.inner.field.as_deref()
    }

    /// The new text of a `*.delta` event.
    #[getter]
    fn delta(&self) -> Option<&str> {
        match self.kind() {
            EventKind::LogprobsContentDelta | EventKind::LogprobsRefusalDelta => None,
            _ => self.inner.delta(),
        }
    }

    /// Text so far (text delta events), the final text (done events) or the list so far
    /// (logprobs events).
    #[getter]
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner.snapshot {
            Snapshot::Text(trail) => Ok(PyString::new(py, &trail.text()).into_any()),
            Snapshot::List(trail) => Ok(list_to_py(py, &trail.items())?.into_any()),
            Snapshot::None => match &self.inner.text {
                Some(t) => Ok(PyString::new(py, t).into_any()),
                None => Ok(py.None().into_bound(py)),
            },
        }
    }

    /// `content.done`: the final text; `logprobs.content.delta`: the new entries.
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.kind() {
            EventKind::ContentDone => self.snapshot(py),
            EventKind::LogprobsContentDelta => self.items(py),
            _ => Ok(py.None().into_bound(py)),
        }
    }

    /// `refusal.done`: the final text; `logprobs.refusal.delta`: the new entries.
    #[getter]
    fn refusal<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.kind() {
            EventKind::RefusalDone => self.snapshot(py),
            EventKind::LogprobsRefusalDelta => self.items(py),
            _ => Ok(py.None().into_bound(py)),
        }
    }

    /// Tool/function arguments so far (delta events) or final (done events).
    #[getter]
    fn arguments<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.is_tool() {
            self.snapshot(py)
        } else {
            Ok(py.None().into_bound(py))
        }
    }

    /// The new argument text of an arguments delta event.
    #[getter]
    fn arguments_delta(&self) -> Option<&str> {
        match self.kind() {
            EventKind::ToolArgumentsDelta | EventKind::FunctionArgumentsDelta => self.inner.delta(),
            _ => None,
        }
    }

    /// The arguments parsed as partial JSON (only with `partial_arguments=True`).
    #[getter]
    fn parsed_arguments<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner.parsed {
            Some(snapshot) => partial_to_py(py, snapshot),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// `usage` events: the usage so far (rebuilt from the shared usage history on each read).
    #[getter]
    fn usage<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner.usage {
            Some(usage) if self.kind() == EventKind::Usage => {
                to_py(py, &Value::Object(usage.to_map()))
            }
            _ => Ok(py.None().into_bound(py)),
        }
    }

    /// `error` events: the error body.
    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.value_if(py, EventKind::Error)
    }

    /// `done` events: the assembled completion.
    #[getter]
    fn completion<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.value_if(py, EventKind::Done)
    }

    /// The event as a dict: `type` plus every attribute that is not None.
    fn as_dict<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let py = slf.py();
        let out = PyDict::new(py);
        for name in ATTRIBUTES {
            let v = slf.getattr(name)?;
            if !v.is_none() {
                out.set_item(name, v)?;
            }
        }
        Ok(out)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let d = Self::as_dict(slf)?;
        Ok(format!("Event({})", d.repr()?))
    }
}

impl EventPy {
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = self.inner.items.as_deref().unwrap_or_default();
        Ok(list_to_py(py, items)?.into_any())
    }

    fn value_if<'py>(&self, py: Python<'py>, kind: EventKind) -> PyResult<Bound<'py, PyAny>> {
        if self.kind() == kind {
            opt_to_py(py, self.inner.value.as_ref())
        } else {
            Ok(py.None().into_bound(py))
        }
    }
}
