//! `StreamParser`, the capture parser behind `iter_completions`, and `assemble`.

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyList;

use crate::error::StreamError;
use crate::stream::ChatStream;
use crate::value::Value;

use super::convert::to_py;
use super::errors::{problem_to_py, to_pyerr};
use super::event::EventPy;
use super::options::{self, LimitArg};

/// Releasing the GIL costs microseconds; worth it only for inputs this large.
const DETACH_BYTES: usize = 1 << 20;

fn raise(py: Python<'_>, stream: &ChatStream, err: &StreamError) -> PyErr {
    to_pyerr(py, err, Some(&stream.snapshot()))
}

fn events_to_py<'py>(py: Python<'py>, stream: &mut ChatStream) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for e in stream.take_events() {
        list.append(Bound::new(py, EventPy::new(e))?)?;
    }
    Ok(list)
}

#[pyclass(name = "StreamParser", module = "deltafold")]
pub struct StreamParserPy {
    stream: ChatStream,
}

#[pymethods]
impl StreamParserPy {
    #[new]
    #[pyo3(signature = (
        *,
        on_error = "raise",
        events = false,
        partial_arguments = false,
        allow_truncated = false,
        max_line_bytes = LimitArg(67108864),
        max_buffer_bytes = LimitArg(268435456),
        max_choice_index = LimitArg(1024),
        max_tool_calls = LimitArg(1024),
        max_depth = LimitArg(128),
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        on_error: &str,
        events: bool,
        partial_arguments: bool,
        allow_truncated: bool,
        max_line_bytes: LimitArg,
        max_buffer_bytes: LimitArg,
        max_choice_index: LimitArg,
        max_tool_calls: LimitArg,
        max_depth: LimitArg,
    ) -> PyResult<Self> {
        let limits = options::limits(
            max_line_bytes,
            max_buffer_bytes,
            max_choice_index,
            max_tool_calls,
            max_depth,
        )?;
        let config = options::config(
            on_error,
            events || partial_arguments,
            partial_arguments,
            allow_truncated,
            false,
            limits,
        )?;
        Ok(StreamParserPy {
            stream: ChatStream::new(config),
        })
    }

    /// Consumes one read; returns the events it produced (empty unless events are on).
    fn feed<'py>(&mut self, py: Python<'py>, data: PyBackedBytes) -> PyResult<Bound<'py, PyList>> {
        if let Err(e) = self.stream.feed(&data) {
            // Events produced before the error stay queued for the next call.
            return Err(raise(py, &self.stream, &e));
        }
        events_to_py(py, &mut self.stream)
    }

    /// End of input: the assembled completion.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.stream.finish() {
            Ok(v) => {
                self.stream.take_events();
                to_py(py, &v.unwrap_or_else(|| self.stream.snapshot()))
            }
            Err(e) => Err(raise(py, &self.stream, &e)),
        }
    }

    /// End of input with events: the pending `*.done` events, then `done`.
    fn finish_events<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        match self.stream.finish() {
            Ok(_) => events_to_py(py, &mut self.stream),
            Err(e) => Err(raise(py, &self.stream, &e)),
        }
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.stream.snapshot())
    }

    #[getter]
    fn problems<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for p in self.stream.problems() {
            list.append(problem_to_py(py, p)?)?;
        }
        Ok(list)
    }

    #[getter]
    fn done(&self) -> bool {
        self.stream.done()
    }

    #[getter]
    fn bytes_fed(&self) -> u64 {
        self.stream.bytes_seen()
    }
}

/// Parser for a capture holding many streams back to back; yields completions.
#[pyclass(name = "CaptureParser", module = "deltafold")]
pub struct CaptureParserPy {
    stream: ChatStream,
}

fn completions<'py>(py: Python<'py>, done: Vec<Value>) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for c in &done {
        list.append(to_py(py, c)?)?;
    }
    Ok(list)
}

#[pymethods]
impl CaptureParserPy {
    #[new]
    #[pyo3(signature = (
        *,
        on_error = "raise",
        allow_truncated = false,
        max_line_bytes = LimitArg(67108864),
        max_buffer_bytes = LimitArg(268435456),
        max_choice_index = LimitArg(1024),
        max_tool_calls = LimitArg(1024),
        max_depth = LimitArg(128),
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        on_error: &str,
        allow_truncated: bool,
        max_line_bytes: LimitArg,
        max_buffer_bytes: LimitArg,
        max_choice_index: LimitArg,
        max_tool_calls: LimitArg,
        max_depth: LimitArg,
    ) -> PyResult<Self> {
        let limits = options::limits(
            max_line_bytes,
            max_buffer_bytes,
            max_choice_index,
            max_tool_calls,
            max_depth,
        )?;
        let config = options::config(on_error, false, false, allow_truncated, true, limits)?;
        Ok(CaptureParserPy {
            stream: ChatStream::new(config),
        })
    }

    /// Consumes one read; returns the completions of the streams it closed.
    fn feed<'py>(&mut self, py: Python<'py>, data: PyBackedBytes) -> PyResult<Bound<'py, PyList>> {
        let result = self.stream.feed(&data);
        let done = self.stream.take_completed();
        match result {
            Ok(()) => completions(py, done),
            Err(e) => Err(raise(py, &self.stream, &e)),
        }
    }

    /// End of input: the last stream's completion, if it had any chunk.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let last = self
            .stream
            .finish()
            .map_err(|e| raise(py, &self.stream, &e))?;
        let mut done = self.stream.take_completed();
        done.extend(last);
        completions(py, done)
    }

    #[getter]
    fn problems<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for p in self.stream.problems() {
            list.append(problem_to_py(py, p)?)?;
        }
        Ok(list)
    }
}

/// Assembles a whole stream held in memory.
#[pyfunction]
#[pyo3(signature = (
    source,
    *,
    on_error = "raise",
    allow_truncated = false,
    max_line_bytes = LimitArg(67108864),
    max_buffer_bytes = LimitArg(268435456),
    max_choice_index = LimitArg(1024),
    max_tool_calls = LimitArg(1024),
    max_depth = LimitArg(128),
))]
#[allow(clippy::too_many_arguments)]
pub fn assemble<'py>(
    py: Python<'py>,
    source: PyBackedBytes,
    on_error: &str,
    allow_truncated: bool,
    max_line_bytes: LimitArg,
    max_buffer_bytes: LimitArg,
    max_choice_index: LimitArg,
    max_tool_calls: LimitArg,
    max_depth: LimitArg,
) -> PyResult<Bound<'py, PyAny>> {
    let limits = options::limits(
        max_line_bytes,
        max_buffer_bytes,
        max_choice_index,
        max_tool_calls,
        max_depth,
    )?;
    let config = options::config(on_error, false, false, allow_truncated, false, limits)?;
    let run = |data: &[u8]| {
        let mut stream = ChatStream::new(config);
        let result = stream.feed(data).and_then(|()| stream.finish());
        match result {
            Ok(v) => Ok(v.unwrap_or_else(|| stream.snapshot())),
            Err(e) => Err(Box::new((e, stream.snapshot()))),
        }
    };
    let data: &[u8] = &source;
    let outcome = if data.len() >= DETACH_BYTES {
        py.detach(|| run(data))
    } else {
        run(data)
    };
    match outcome {
        Ok(v) => to_py(py, &v),
        Err(failure) => {
            let (e, partial) = *failure;
            Err(to_pyerr(py, &e, Some(&partial)))
        }
    }
}
