//! `StreamParser`, the capture parser behind `iter_completions`, and `assemble`.

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyWeakrefReference};

use crate::driver::{Config, Options, DEFAULT_MAX_PROBLEMS};
use crate::error::StreamError;
use crate::formats::auto::{AnyFold, AnyStream};
use crate::formats::Fold;
use crate::json::value::Value;
use crate::json::writer;
use crate::limits::Limits;

use super::convert::{fold_to_py, to_py};
use super::errors::{problem_to_py, to_pyerr_lazy, to_pyerr_with};
use super::event::EventPy;
use super::options::{self, FlagArg, FormatArg, LimitArg, OnErrorArg};
use super::release::{json_bytes_taking, to_py_taking, Taken};

/// The keyword defaults are the core's own (`Limits::DEFAULT`, `DEFAULT_MAX_PROBLEMS`).
const LIMITS: Limits = Limits::DEFAULT;

/// Releasing the GIL costs microseconds; worth it only for inputs this large.
const DETACH_BYTES: usize = 1 << 20;

/// The parser behind a pending `.partial`: the handle reads its snapshot on demand.
enum Owner {
    Stream(Py<StreamParserPy>),
    Capture(Py<CaptureParserPy>),
}

impl Owner {
    /// The owner's snapshot, converted once for every error showing this `version`.
    fn convert(&self, py: Python<'_>, version: (u64, u64)) -> PyResult<Py<PyAny>> {
        match self {
            Owner::Stream(p) => {
                let this = &mut *p.bind(py).try_borrow_mut()?;
                this.put_back(py)?;
                let aside = this.aside.get_or_insert_with(Box::default);
                aside.partial.convert(py, &this.stream, version)
            }
            Owner::Capture(p) => {
                let this = &mut *p.bind(py).try_borrow_mut()?;
                this.partial.convert(py, &this.stream, version)
            }
        }
    }
}

enum PartialState {
    /// The owner's snapshot as it stands: the owner converts it before it next changes, if
    /// this handle is still alive then (see [`PartialCache::settle`]).
    Pending(Owner, (u64, u64)),
    /// Not converted yet, and held here: `assemble` has no parser to read later.
    Held(Value),
    Converted(Py<PyAny>),
}

/// An error's `.partial` before its first read (`DeltafoldError.partial` calls it).
///
/// A caller that resumes after each bad event and drops the error unread (a gateway that logs
/// and goes on) would otherwise pay for converting the whole completion at every raise: with
/// good and bad events alternating, time quadratic in the stream.
#[pyclass(weakref, name = "_LazyPartial", module = "deltafold._core")]
struct LazyPartial {
    state: PartialState,
}

#[pymethods]
impl LazyPartial {
    fn __call__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let obj = match &self.state {
            PartialState::Converted(obj) => return Ok(obj.clone_ref(py)),
            PartialState::Pending(owner, version) => owner.convert(py, *version)?,
            PartialState::Held(v) => to_py(py, v)?.unbind(),
        };
        self.state = PartialState::Converted(obj.clone_ref(py));
        Ok(obj)
    }
}

/// The `.partial` handed out with the last error, and the snapshot version it shows.
///
/// A read full of bad events raises once per event (the caller resumes with `feed(b"")`).
/// Errors raised with no chunk applied in between show the same snapshot, so they share one
/// handle, and one `.partial` object once it is read. The handle is kept weakly: when the
/// parser is about to change, an error still alive gets its snapshot converted first, and one
/// already dropped costs nothing.
///
/// Boxed, and only while an error is around: most parsers never raise, and every live parser
/// carries this inline (a parser object over 512 bytes leaves `CPython`'s small-object
/// allocator).
#[derive(Default)]
struct PartialCache(Option<Box<PartialSlots>>);

#[derive(Default)]
struct PartialSlots {
    pending: Option<((u64, u64), Py<PyWeakrefReference>)>,
    converted: Option<((u64, u64), Py<PyAny>)>,
}

impl PartialCache {
    /// The `.partial` of an error raised now: the object already converted for this state,
    /// or else a handle (shared with the last error if that one shows this state and lives).
    fn partial<'py>(
        &mut self,
        py: Python<'py>,
        stream: &AnyStream,
        owner: impl FnOnce() -> Owner,
    ) -> PyResult<Partial<'py>> {
        let version = stream.snapshot_version();
        let slots = self.0.get_or_insert_with(Box::default);
        if let Some((v, obj)) = &slots.converted {
            if *v == version {
                return Ok(Partial::Converted(obj.bind(py).clone()));
            }
        }
        if let Some((v, weak)) = &slots.pending {
            if *v == version {
                if let Some(handle) = weak.bind(py).upgrade() {
                    return Ok(Partial::Lazy(handle));
                }
            }
        }
        let state = PartialState::Pending(owner(), version);
        let handle = Bound::new(py, LazyPartial { state })?.into_any();
        slots.pending = Some((version, PyWeakrefReference::new(&handle)?.unbind()));
        Ok(Partial::Lazy(handle))
    }

    /// Before every call that may change the parser: a pending handle still alive takes its
    /// snapshot now, as it stands at its raise.
    fn settle(&mut self, py: Python<'_>, stream: &AnyStream) -> PyResult<()> {
        let Some((version, weak)) = self.0.as_mut().and_then(|s| s.pending.take()) else {
            return Ok(());
        };
        let Some(handle) = weak.bind(py).upgrade() else {
            return Ok(());
        };
        let handle = handle.cast_into::<LazyPartial>()?;
        let mut handle = handle.try_borrow_mut()?;
        if let PartialState::Pending(..) = handle.state {
            let obj = self.convert(py, stream, version)?;
            handle.state = PartialState::Converted(obj);
        }
        Ok(())
    }

    /// The snapshot as a Python object, kept for the next error that shows the same state.
    fn convert(
        &mut self,
        py: Python<'_>,
        stream: &AnyStream,
        version: (u64, u64),
    ) -> PyResult<Py<PyAny>> {
        let obj = to_py(py, &stream.snapshot())?.unbind();
        self.0.get_or_insert_with(Box::default).converted = Some((version, obj.clone_ref(py)));
        Ok(obj)
    }

    /// Whether it holds nothing (and its box is gone).
    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// After a call that raised nothing: the next error, if any, will most likely show
    /// another state, and the snapshot should not be kept alive meanwhile.
    fn clear(&mut self) {
        if let Some(slots) = &mut self.0 {
            slots.converted = None;
            if slots.pending.is_none() {
                self.0 = None;
            }
        }
    }
}

fn raise(
    py: Python<'_>,
    stream: &AnyStream,
    cache: &mut PartialCache,
    owner: impl FnOnce() -> Owner,
    err: &StreamError,
) -> PyErr {
    match cache.partial(py, stream, owner) {
        Ok(Partial::Converted(obj)) => to_pyerr_with(py, err, Some(obj)),
        Ok(Partial::Lazy(handle)) => to_pyerr_lazy(py, err, &handle),
        Err(e) => e,
    }
}

enum Partial<'py> {
    Converted(Bound<'py, PyAny>),
    /// A [`LazyPartial`].
    Lazy(Bound<'py, PyAny>),
}

/// The keyword options of every entry point as given. [`ConfigArgs::config`] checks them in
/// one order, with the reference twin's messages (`tests/test_options.py`); entry points without
/// `events` pass `FlagArg(false)` for both event flags.
struct ConfigArgs {
    format: FormatArg,
    on_error: OnErrorArg,
    events: FlagArg,
    partial_arguments: FlagArg,
    allow_truncated: FlagArg,
    max_line_bytes: LimitArg,
    max_buffer_bytes: LimitArg,
    max_choice_index: LimitArg,
    max_tool_calls: LimitArg,
    max_depth: LimitArg,
    max_problems: LimitArg,
}

/// The keyword defaults of [`entry_point!`] and of [`ConfigArgs::with_format`].
const DEFAULT_ON_ERROR: OnErrorArg = OnErrorArg("raise");
const DEFAULT_MAX_LINE_BYTES: LimitArg = LimitArg(LIMITS.max_line_bytes as i128);
const DEFAULT_MAX_BUFFER_BYTES: LimitArg = LimitArg(LIMITS.max_buffer_bytes as i128);
const DEFAULT_MAX_CHOICE_INDEX: LimitArg = LimitArg(LIMITS.max_choice_index as i128);
const DEFAULT_MAX_TOOL_CALLS: LimitArg = LimitArg(LIMITS.max_tool_calls as i128);
const DEFAULT_MAX_DEPTH: LimitArg = LimitArg(LIMITS.max_depth as i128);
const DEFAULT_MAX_PROBLEMS_ARG: LimitArg = LimitArg(DEFAULT_MAX_PROBLEMS as i128);

impl ConfigArgs {
    /// The options of a call that gives only `format` (or nothing): the others at the
    /// signature's defaults.
    fn with_format(format: FormatArg) -> Self {
        ConfigArgs {
            format,
            on_error: DEFAULT_ON_ERROR,
            events: FlagArg(false),
            partial_arguments: FlagArg(false),
            allow_truncated: FlagArg(false),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_buffer_bytes: DEFAULT_MAX_BUFFER_BYTES,
            max_choice_index: DEFAULT_MAX_CHOICE_INDEX,
            max_tool_calls: DEFAULT_MAX_TOOL_CALLS,
            max_depth: DEFAULT_MAX_DEPTH,
            max_problems: DEFAULT_MAX_PROBLEMS_ARG,
        }
    }

    /// The validated config; `capture` for a parser of many streams back to back.
    fn config(self, capture: bool) -> PyResult<Config> {
        let format = options::format(&self.format)?;
        let on_error = options::on_error(&self.on_error)?;
        let events = options::flag("events", &self.events)?;
        let partial_arguments = options::flag("partial_arguments", &self.partial_arguments)?;
        let allow_truncated = options::flag("allow_truncated", &self.allow_truncated)?;
        let limits = options::limits(
            self.max_line_bytes,
            self.max_buffer_bytes,
            self.max_choice_index,
            self.max_tool_calls,
            self.max_depth,
        )?;
        Ok(Config {
            on_error,
            options: Options {
                events,
                // Partial arguments only shape tool-call events: without events there is
                // nothing to carry them, and the folds need not run the partial parsers.
                partial_arguments: events && partial_arguments,
            },
            limits,
            allow_truncated,
            capture,
            max_problems: options::max_problems(self.max_problems)?,
            format,
        })
    }
}

/// Writes an entry point that takes the keyword options (`assemble`, `assemble_json`, the
/// parsers' constructors): its `PyO3` signature, its parameters and the [`ConfigArgs`] they
/// make, with the options and their defaults listed once, here. An entry point adds a leading
/// `source`, or the event flags, and gives its own `text_signature` (`PyO3` takes only a
/// string literal there). A constructor is emitted as a `#[pymethods]` block of its own (the
/// `multiple-pymethods` feature), since `PyO3` expands no macro among a block's items.
macro_rules! entry_point {
    // A module function: `source`, then the options without the event flags.
    (
        $(#[$doc:meta])*
        text_signature = $text:literal;
        pub fn $name:ident($py:ident, $source:ident) -> $ret:ty;
        |$config:ident| $body:block
    ) => {
        entry_point! {
            @emit as_item []
            [$(#[$doc])* #[pyfunction]] $text
            pub fn $name [$source,] [$py: Python<'_>, $source: PyBackedBytes,] [] false;
            $ret; |$config| $body
        }
    };
    // A class's `__new__`: the options, with the event flags if named.
    (
        impl $class:ident {
            text_signature = $text:literal;
            fn new(flags [$($flag:ident),*], capture = $capture:literal) -> $ret:ty;
            |$config:ident| $body:block
        }
    ) => {
        entry_point! {
            @emit as_constructor [$class]
            [#[new]] $text
            fn new [] [] [$($flag),*] $capture;
            $ret; |$config| $body
        }
    };
    (
        @emit $wrap:ident [$($wrap_args:tt)*]
        [$(#[$attr:meta])*] $text:literal
        $vis:vis fn $name:ident [$($lead:tt)*] [$($lead_param:tt)*] [$($flag:ident),*]
        $capture:literal;
        $ret:ty; |$config:ident| $body:block
    ) => {
        $wrap! { $($wrap_args)*
            $(#[$attr])*
            #[pyo3(text_signature = $text)]
            #[pyo3(signature = (
                $($lead)*
                *,
                format = FormatArg("auto"),
                on_error = DEFAULT_ON_ERROR,
                $($flag = FlagArg(false),)*
                allow_truncated = FlagArg(false),
                max_line_bytes = DEFAULT_MAX_LINE_BYTES,
                max_buffer_bytes = DEFAULT_MAX_BUFFER_BYTES,
                max_choice_index = DEFAULT_MAX_CHOICE_INDEX,
                max_tool_calls = DEFAULT_MAX_TOOL_CALLS,
                max_depth = DEFAULT_MAX_DEPTH,
                max_problems = DEFAULT_MAX_PROBLEMS_ARG,
            ))]
            #[allow(clippy::too_many_arguments)]
            $vis fn $name(
                $($lead_param)*
                format: FormatArg,
                on_error: OnErrorArg,
                $($flag: FlagArg,)*
                allow_truncated: FlagArg,
                max_line_bytes: LimitArg,
                max_buffer_bytes: LimitArg,
                max_choice_index: LimitArg,
                max_tool_calls: LimitArg,
                max_depth: LimitArg,
                max_problems: LimitArg,
            ) -> $ret {
                let (events, partial_arguments) = entry_point!(@flags $($flag)*);
                let $config = ConfigArgs {
                    format,
                    on_error,
                    events,
                    partial_arguments,
                    allow_truncated,
                    max_line_bytes,
                    max_buffer_bytes,
                    max_choice_index,
                    max_tool_calls,
                    max_depth,
                    max_problems,
                }
                .config($capture)?;
                $body
            }
        }
    };
    (@flags) => {
        (FlagArg(false), FlagArg(false))
    };
    (@flags $events:ident $partial_arguments:ident) => {
        ($events, $partial_arguments)
    };
}

macro_rules! as_item {
    ($item:item) => {
        $item
    };
}

macro_rules! as_constructor {
    ($class:ident $item:item) => {
        #[pymethods]
        impl $class {
            $item
        }
    };
}

fn events_to_py<'py>(py: Python<'py>, stream: &mut AnyStream) -> PyResult<Bound<'py, PyList>> {
    if !stream.has_events() {
        return Ok(no_events(py));
    }
    let list = PyList::empty(py);
    for e in stream.take_events() {
        list.append(Bound::new(py, EventPy::new(e))?)?;
    }
    Ok(list)
}

/// The empty list a `feed` without events returns: one list, handed out again once every
/// caller has dropped it (nearly every caller ignores what `feed` returns with events off), so
/// that a read costs no list allocation, no free and no step of the garbage collector's count.
/// While someone holds it, or once someone filled it, each call gets a new list instead.
static NO_EVENTS: PyOnceLock<Py<PyList>> = PyOnceLock::new();

fn no_events(py: Python<'_>) -> Bound<'_, PyList> {
    let list = NO_EVENTS.get_or_init(py, || PyList::empty(py).unbind());
    // SAFETY: the GIL is held (`py`) and the cell holds a reference to the list, so the pointer
    // is to a live object; reading its count has no other effect. With the GIL held, no other
    // thread can take a reference between this check and the return (as for the handed lists
    // of `convert`).
    if unsafe { pyo3::ffi::Py_REFCNT(list.as_ptr()) } == 1 && list.bind(py).is_empty() {
        return list.bind(py).clone();
    }
    PyList::empty(py)
}

/// Incremental parser for one stream (Chat Completions, Anthropic Messages, ...).
///
/// Feed each network read to `feed`; call `finish` (the completion) or `finish_events` (the
/// last events) at end of input; `summary()` and `snapshot()` work at any time. Holds only the
/// partial line and the accumulators, never the raw chunks.
///
/// Options (keyword-only):
///
/// - `format`: the wire format: `"auto"` (default: decided from the first event, then
///   fixed for the stream) or a name in `deltafold._core.FORMATS` (`"chat"`, `"anthropic"`, ...).
/// - `on_error`: what a bad chunk does: `"raise"` (default) raises and keeps the parser
///   usable; `"skip"` drops it and records a `Problem` on `problems`; `"repair"` first tries
///   a structural repair of malformed chunk JSON.
/// - `events`: `feed` and `finish_events` return per-delta `Event`s (default False).
/// - `partial_arguments`: tool-call events carry `parsed_arguments`, the arguments so far
///   parsed as partial JSON (default False).
/// - `allow_truncated`: accept input that ends without the stream's end marker (default False).
/// - `max_line_bytes`: longest line, and longest data of one event (default 64 MiB).
/// - `max_buffer_bytes`: all event data of one stream (default 256 MiB).
/// - `max_choice_index`: highest choice `index` accepted (default 1024).
/// - `max_tool_calls`: tool calls per choice (default 1024).
/// - `max_depth`: JSON nesting depth (default 128, at most 254).
/// - `max_problems`: problems kept on `problems` (default 1000); later ones are only counted
///   on `problems_dropped`.
///
/// Every default is in `deltafold.DEFAULTS`; a limit that is hit raises `LimitExceededError`.
#[pyclass(name = "StreamParser", module = "deltafold")]
pub struct StreamParserPy {
    stream: AnyStream,
    /// Only while there is something in it: one field, so that the object stays 496 bytes,
    /// a size class of `CPython`'s small-object allocator 16 bytes below 512.
    aside: Option<Box<Aside>>,
}

/// What a `StreamParser` holds only at times.
#[derive(Default)]
struct Aside {
    partial: PartialCache,
    /// The long texts the last `finish` moved into its result instead of copying them: the
    /// state lacks them until a call that reads it puts them back ([`StreamParserPy::put_back`]).
    taken: Option<Taken>,
}

impl StreamParserPy {
    /// Before the state is read or changed: the texts `finish` took go back into it.
    fn put_back(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(taken) = self.aside.as_mut().and_then(|a| a.taken.take()) {
            if let Err(e) = self.stream.with_result_mut(|v| taken.put_back(py, v)) {
                // Putting them back again overwrites what was put back: try again next call.
                self.aside.get_or_insert_with(Box::default).taken = Some(taken);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Keeps the texts `finish` took until the state is next read.
    fn keep_taken(&mut self, taken: Taken) {
        if !taken.is_empty() {
            self.aside.get_or_insert_with(Box::default).taken = Some(taken);
        }
    }

    /// One call that changes the parser: a still-referenced lazy `.partial` is converted
    /// first (it shows the state before this call); a failure raises with a `.partial` of the
    /// state it failed in.
    fn step<'py, R, T>(
        slf: &Bound<'py, Self>,
        run: impl FnOnce(&mut AnyStream) -> Result<R, StreamError>,
        then: impl FnOnce(Python<'py>, &mut AnyStream, R) -> PyResult<T>,
    ) -> PyResult<T> {
        let (py, this) = (slf.py(), &mut *slf.try_borrow_mut()?);
        // Nearly every call: nothing was taken out and no error is around, so nothing to do.
        if this.aside.is_some() {
            this.put_back(py)?;
            if let Some(aside) = &mut this.aside {
                aside.partial.settle(py, &this.stream)?;
            }
        }
        match run(&mut this.stream) {
            Ok(r) => {
                if let Some(aside) = &mut this.aside {
                    aside.partial.clear();
                    if aside.partial.is_empty() && aside.taken.is_none() {
                        this.aside = None;
                    }
                }
                then(py, &mut this.stream, r)
            }
            Err(e) => {
                let owner = || Owner::Stream(slf.clone().unbind());
                let aside = this.aside.get_or_insert_with(Box::default);
                Err(raise(py, &this.stream, &mut aside.partial, owner, &e))
            }
        }
    }
}

impl StreamParserPy {
    /// `StreamParser(format=...)` or `StreamParser()`, as the generated constructor makes it
    /// (see `new_entry`), as a new Python object.
    pub(super) fn new_with_format<'py>(
        py: Python<'py>,
        format: &FormatArg,
    ) -> PyResult<Bound<'py, Self>> {
        // The other options' checks give the same config at every call: made once.
        static DEFAULT: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
        let format = options::format(format)?;
        let config = if let Some(config) = DEFAULT.get() {
            *config
        } else {
            let config = ConfigArgs::with_format(FormatArg("auto")).config(false)?;
            *DEFAULT.get_or_init(|| config)
        };
        let config = Config { format, ..config };
        // Made in the call that moves it into the object: the parser is some 480 bytes, and
        // each move between frames is a copy.
        Bound::new(
            py,
            StreamParserPy {
                stream: AnyStream::new(config),
                aside: None,
            },
        )
    }
}

entry_point! {
    impl StreamParserPy {
        text_signature = "(*, format='auto', on_error='raise', events=False, partial_arguments=False, allow_truncated=False, max_line_bytes=67108864, max_buffer_bytes=268435456, max_choice_index=1024, max_tool_calls=1024, max_depth=128, max_problems=1000)";
        fn new(flags [events, partial_arguments], capture = false) -> PyResult<Self>;
        |config| {
            Ok(StreamParserPy {
                stream: AnyStream::new(config),
                aside: None,
            })
        }
    }
}

#[pymethods]
impl StreamParserPy {
    /// Consumes one read; returns the events it produced (empty unless events are on).
    pub(super) fn feed<'py>(
        slf: &Bound<'py, Self>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        // Events produced before an error are returned, and the error raised by the next call
        // (the core defers it), so an error here comes with no events.
        let feed =
            |input: &[u8]| Self::step(slf, |s| s.feed(input), |py, s, ()| events_to_py(py, s));
        match data.cast::<PyBytes>() {
            // Immutable, and alive while borrowed here: read in place, with no reference taken.
            Ok(bytes) => feed(bytes.as_bytes()),
            // A `bytearray` is copied, as the argument's declared type extracts it, and anything
            // else is refused with that type's message.
            Err(_) => feed(&data.extract::<PyBackedBytes>()?),
        }
    }

    /// End of input: the assembled completion.
    fn finish<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        // The long texts move into the result rather than being copied (see `release`), so
        // finishing never holds them twice; the state gets them back when next read.
        // A fold that can builds the result from its state, which it keeps as it is.
        let mut taken = Taken::default();
        let take = |s: &mut AnyStream| s.finish_with_fold(|f| fold_result(py, f, &mut taken, true));
        let out = Self::step(slf, take, |_, _, v| v);
        slf.try_borrow_mut()?.keep_taken(taken);
        out
    }

    /// End of input: the assembled completion as compact JSON bytes, built without Python
    /// objects.
    fn finish_json<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        let py = slf.py();
        // As `finish`: the long texts are written out of the state with their pages freed,
        // and decoded back from the `bytes` when the state is next read.
        let mut taken = Taken::default();
        let take = |s: &mut AnyStream| s.finish_with(|v| json_bytes_taking(py, v, &mut taken));
        let out = Self::step(slf, take, |_, _, b| b);
        slf.try_borrow_mut()?.keep_taken(taken);
        out
    }

    /// End of input with events: the pending `*.done` events, then `done`.
    fn finish_events<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyList>> {
        Self::step(slf, AnyStream::finish_events, |py, s, ()| {
            events_to_py(py, s)
        })
    }

    /// The completion assembled so far.
    fn snapshot<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.put_back(py)?;
        to_py(py, &self.stream.snapshot())
    }

    /// What was skipped or repaired (`on_error` `"skip"`/`"repair"`), in order: the first
    /// `max_problems`.
    #[getter]
    fn problems<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for p in self.stream.problems() {
            list.append(problem_to_py(py, p)?)?;
        }
        Ok(list)
    }

    /// Problems past `max_problems`, counted but not kept.
    #[getter]
    fn problems_dropped(&self) -> u64 {
        self.stream.problems_dropped()
    }

    /// Whether the stream's end marker (`[DONE]`, `message_stop`, ...) was seen.
    #[getter]
    fn done(&self) -> bool {
        self.stream.done()
    }

    /// The fixed format, or under auto the decided one (`None` until the first event).
    #[getter]
    fn format(&self) -> Option<&'static str> {
        self.stream.format().map(crate::formats::Format::name)
    }

    /// The cross-format summary of the stream as it stands (works after an error too).
    fn summary<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.put_back(py)?;
        to_py(py, &self.stream.summary().to_value())
    }

    /// `summary()` as compact JSON bytes, built without Python objects.
    fn summary_json<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.put_back(py)?;
        Ok(PyBytes::new(
            py,
            &writer::to_vec(&self.stream.summary().to_value()),
        ))
    }

    /// How many bytes were fed so far.
    #[getter]
    fn bytes_fed(&self) -> u64 {
        self.stream.bytes_seen()
    }
}

/// Parser for a capture holding many streams back to back, each ended by its end marker;
/// `feed` and `finish` return the completions of the streams they closed.
///
/// Options (keyword-only):
///
/// - `format`: the wire format: `"auto"` (default: decided from the first event, then
///   fixed for the stream) or a name in `deltafold._core.FORMATS` (`"chat"`, `"anthropic"`, ...).
/// - `on_error`: what a bad chunk does: `"raise"` (default) raises and keeps the parser
///   usable; `"skip"` drops it and records a `Problem` on `problems`; `"repair"` first tries
///   a structural repair of malformed chunk JSON.
/// - `allow_truncated`: accept input that ends without the stream's end marker (default False).
/// - `max_line_bytes`: longest line, and longest data of one event (default 64 MiB).
/// - `max_buffer_bytes`: all event data of one stream (default 256 MiB).
/// - `max_choice_index`: highest choice `index` accepted (default 1024).
/// - `max_tool_calls`: tool calls per choice (default 1024).
/// - `max_depth`: JSON nesting depth (default 128, at most 254).
/// - `max_problems`: problems kept on `problems` (default 1000); later ones are only counted
///   on `problems_dropped`.
///
/// Every default is in `deltafold.DEFAULTS`; a limit that is hit raises `LimitExceededError`.
#[pyclass(name = "CaptureParser", module = "deltafold")]
pub struct CaptureParserPy {
    stream: AnyStream,
    partial: PartialCache,
}

fn completions(py: Python<'_>, done: Vec<Value>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for c in &done {
        list.append(to_py(py, c)?)?;
    }
    Ok(list)
}

entry_point! {
    impl CaptureParserPy {
        text_signature = "(*, format='auto', on_error='raise', allow_truncated=False, max_line_bytes=67108864, max_buffer_bytes=268435456, max_choice_index=1024, max_tool_calls=1024, max_depth=128, max_problems=1000)";
        fn new(flags [], capture = true) -> PyResult<Self>;
        |config| {
            Ok(CaptureParserPy {
                stream: AnyStream::new(config),
                partial: PartialCache::default(),
            })
        }
    }
}

#[pymethods]
impl CaptureParserPy {
    /// Consumes one read; returns the completions of the streams it closed. An error met
    /// after one closed is raised by the next call.
    fn feed<'py>(slf: &Bound<'py, Self>, data: PyBackedBytes) -> PyResult<Bound<'py, PyList>> {
        let (py, this) = (slf.py(), &mut *slf.try_borrow_mut()?);
        this.partial.settle(py, &this.stream)?;
        match this.stream.feed(&data) {
            Ok(()) => {
                this.partial.clear();
                completions(py, this.stream.take_completed())
            }
            Err(e) => {
                let owner = || Owner::Capture(slf.clone().unbind());
                Err(raise(py, &this.stream, &mut this.partial, owner, &e))
            }
        }
    }

    /// End of input: the last stream's completion, if it had any chunk.
    fn finish<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyList>> {
        let (py, this) = (slf.py(), &mut *slf.try_borrow_mut()?);
        this.partial.settle(py, &this.stream)?;
        let last = match this.stream.finish() {
            Ok(last) => last,
            Err(e) => {
                let owner = || Owner::Capture(slf.clone().unbind());
                return Err(raise(py, &this.stream, &mut this.partial, owner, &e));
            }
        };
        let mut done = this.stream.take_completed();
        done.extend(last);
        completions(py, done)
    }

    /// What was skipped or repaired (`on_error` `"skip"`/`"repair"`), in order: the first
    /// `max_problems`.
    #[getter]
    fn problems<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for p in self.stream.problems() {
            list.append(problem_to_py(py, p)?)?;
        }
        Ok(list)
    }

    /// Problems past `max_problems`, counted but not kept.
    #[getter]
    fn problems_dropped(&self) -> u64 {
        self.stream.problems_dropped()
    }
}

entry_point! {
    /// Assembles a whole stream held in memory (`source`: bytes) into its completion.
    ///
    /// Options (keyword-only):
    ///
    /// - `format`: the wire format: `"auto"` (default: decided from the first event, then
    ///   fixed for the stream) or a name in `deltafold._core.FORMATS` (`"chat"`, `"anthropic"`, ...).
    /// - `on_error`: what a bad chunk does: `"raise"` (default) raises and keeps the parser
    ///   usable; `"skip"` drops it and records a `Problem` on `problems`; `"repair"` first tries
    ///   a structural repair of malformed chunk JSON.
    /// - `allow_truncated`: accept input that ends without the stream's end marker (default False).
    /// - `max_line_bytes`: longest line, and longest data of one event (default 64 MiB).
    /// - `max_buffer_bytes`: all event data of one stream (default 256 MiB).
    /// - `max_choice_index`: highest choice `index` accepted (default 1024).
    /// - `max_tool_calls`: tool calls per choice (default 1024).
    /// - `max_depth`: JSON nesting depth (default 128, at most 254).
    /// - `max_problems`: problems kept on `problems` (default 1000); later ones are only counted
    ///   on `problems_dropped`.
    ///
    /// Every default is in `deltafold.DEFAULTS`; a limit that is hit raises `LimitExceededError`.
    text_signature = "(source, *, format='auto', on_error='raise', allow_truncated=False, max_line_bytes=67108864, max_buffer_bytes=268435456, max_choice_index=1024, max_tool_calls=1024, max_depth=128, max_problems=1000)";
    pub fn assemble(py, source) -> PyResult<Bound<'_, PyAny>>;
    |config| {
        // The fold is dropped next, so the long texts its result takes need not be kept.
        let mut fold = whole(py, &source, config)?;
        fold_result(py, &mut fold, &mut Taken::default(), false)
    }
}

/// The result of a fold at the end of its input: built from its state when the fold can
/// (see [`Fold::build_result`]), else taken out of it and converted with its long texts moved
/// into `taken`; then given back to the fold when it is `kept`.
fn fold_result<'py>(
    py: Python<'py>,
    fold: &mut AnyFold,
    taken: &mut Taken,
    kept: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(obj) = fold_to_py(py, fold)? {
        return Ok(obj);
    }
    let mut v = fold.take_result();
    let out = to_py_taking(py, &mut v, taken);
    if kept {
        fold.restore(v);
    }
    out
}

/// Folds a whole input held in memory (without the GIL when it is large), to the fold that
/// holds its result.
fn whole(py: Python<'_>, data: &[u8], config: Config) -> PyResult<AnyFold> {
    let run = |data: &[u8]| AnyStream::run_whole_into_fold(config, data);
    let outcome = if data.len() >= DETACH_BYTES {
        py.detach(|| run(data))
    } else {
        run(data)
    };
    outcome.map_err(|failure| {
        let state = PartialState::Held(failure.partial);
        match Bound::new(py, LazyPartial { state }) {
            Ok(handle) => to_pyerr_lazy(py, &failure.error, handle.as_any()),
            Err(e) => e,
        }
    })
}

entry_point! {
    /// As `assemble`, but returns the completion as compact JSON bytes, built without Python
    /// objects.
    text_signature = "(source, *, format='auto', on_error='raise', allow_truncated=False, max_line_bytes=67108864, max_buffer_bytes=268435456, max_choice_index=1024, max_tool_calls=1024, max_depth=128, max_problems=1000)";
    pub fn assemble_json(py, source) -> PyResult<Bound<'_, PyBytes>>;
    |config| {
        // The value is dropped next, so its long texts need not be kept.
        let mut v = whole(py, &source, config)?.take_result();
        json_bytes_taking(py, &mut v, &mut Taken::default())
    }
}
