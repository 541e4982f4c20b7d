//! `Event`: an immutable per-delta event. Attributes are converted to Python objects only
//! when read, and text snapshots are rebuilt from the event's trail only when read.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::event::{Call, CallOf, Event, LogprobsOf, TextOf};
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

    fn call(&self) -> Option<&Call> {
        match &self.inner {
            Event::ArgumentsDelta { call, .. } | Event::ArgumentsDone { call, .. } => Some(call),
            _ => None,
        }
    }

    /// The newest piece of a text or arguments delta event's trail.
    fn newest_text(&self) -> Option<&str> {
        match &self.inner {
            Event::TextDelta { trail, .. } | Event::ArgumentsDelta { trail, .. } => {
                trail.last().map(|s| &**s)
            }
            _ => None,
        }
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
        PyString::intern(py, self.inner.kind().name()).unbind()
    }

    /// The choice (candidate) the event belongs to; 0 for single-message formats.
    #[getter]
    fn choice_index(&self) -> Option<u64> {
        self.inner.choice_index()
    }

    /// Tool-call position among the message's tool calls (tool events only).
    #[getter]
    fn index(&self) -> Option<usize> {
        match self.call()?.of {
            CallOf::Tool { index, .. } => Some(index),
            CallOf::Function => None,
        }
    }

    /// Tool-call id (tool events only).
    #[getter]
    fn id(&self) -> Option<&str> {
        match &self.call()?.of {
            CallOf::Tool { id, .. } => id.as_deref(),
            CallOf::Function => None,
        }
    }

    /// Function name (tool and `function_call` events).
    #[getter]
    fn name(&self) -> Option<&str> {
        self.call()?.name.as_deref()
    }

    /// The delta key a reasoning event comes from (`reasoning_content` or `reasoning`).
    #[getter]
    fn field(&self) -> Option<&'static str> {
        match &self.inner {
            Event::TextDelta { of, .. } | Event::TextDone { of, .. } => match of {
                TextOf::Reasoning(field) => Some(field),
                TextOf::Content | TextOf::Refusal => None,
            },
            _ => None,
        }
    }

    /// The new text of a `*.delta` event.
    #[getter]
    fn delta(&self) -> Option<&str> {
        self.newest_text()
    }

    /// Text so far (text delta events), the final text (done events) or the list so far
    /// (logprobs events).
    #[getter]
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner {
            Event::TextDelta { trail, .. } | Event::ArgumentsDelta { trail, .. } => {
                Ok(PyString::new(py, &trail.text()).into_any())
            }
            Event::TextDone { text, .. } | Event::ArgumentsDone { text, .. } => {
                Ok(PyString::new(py, text).into_any())
            }
            Event::Logprobs { trail, .. } => Ok(list_to_py(py, &trail.items())?.into_any()),
            Event::Usage(_) | Event::Error(_) | Event::Done(_) => Ok(py.None().into_bound(py)),
        }
    }

    /// `content.done`: the final text; `logprobs.content.delta`: the new entries.
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.text_or_entries(py, TextOf::Content, LogprobsOf::Content)
    }

    /// `refusal.done`: the final text; `logprobs.refusal.delta`: the new entries.
    #[getter]
    fn refusal<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.text_or_entries(py, TextOf::Refusal, LogprobsOf::Refusal)
    }

    /// Tool/function arguments so far (delta events) or final (done events).
    #[getter]
    fn arguments<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.call().is_some() {
            self.snapshot(py)
        } else {
            Ok(py.None().into_bound(py))
        }
    }

    /// The new argument text of an arguments delta event.
    #[getter]
    fn arguments_delta(&self) -> Option<&str> {
        match &self.inner {
            Event::ArgumentsDelta { .. } => self.newest_text(),
            _ => None,
        }
    }

    /// The arguments parsed as partial JSON (only with `partial_arguments=True`).
    #[getter]
    fn parsed_arguments<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.inner.parsed() {
            Some(snapshot) => partial_to_py(py, snapshot),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// `usage` events: the usage so far (rebuilt from the shared usage history on each read).
    #[getter]
    fn usage<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner {
            Event::Usage(usage) => to_py(py, &Value::Object(usage.to_map())),
            _ => Ok(py.None().into_bound(py)),
        }
    }

    /// `error` events: the error body.
    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner {
            Event::Error(body) => to_py(py, body),
            _ => Ok(py.None().into_bound(py)),
        }
    }

    /// `done` events: the assembled completion.
    #[getter]
    fn completion<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner {
            Event::Done(completion) => opt_to_py(py, completion.as_ref()),
            _ => Ok(py.None().into_bound(py)),
        }
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
    /// The final text of a `*.done` event about `text`, or the new entries of a logprobs event
    /// about `entries`.
    fn text_or_entries<'py>(
        &self,
        py: Python<'py>,
        text: TextOf,
        entries: LogprobsOf,
    ) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner {
            Event::TextDone { of, text: t, .. } if *of == text => {
                Ok(PyString::new(py, t).into_any())
            }
            Event::Logprobs { of, trail, .. } if *of == entries => {
                let newest = trail.last().map_or(&[][..], Vec::as_slice);
                Ok(list_to_py(py, newest)?.into_any())
            }
            _ => Ok(py.None().into_bound(py)),
        }
    }
}
