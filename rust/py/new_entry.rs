//! `StreamParser(...)`'s entry point: a vectorcall on the class (see [`install_new_entry`]).

use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::Borrowed;

use super::options::FormatArg;
use super::parser::StreamParserPy;

/// `StreamParser(...)` as `CPython` calls the class. A call with `format=` alone or nothing
/// (a parser per stream, as nearly every caller makes it) builds the parser here: `CPython`
/// would otherwise pack the call into a tuple and a dict for the class's `tp_new`, which
/// `PyO3` unpacks again and matches against every option's name, fills in ten defaults, and
/// copies the whole parser through a few frames, at about the cost of folding a short stream's
/// first event. Any other call, and one whose `format` value does not extract, goes through
/// `type.__call__`, to the generated constructor, with its checks and messages.
///
/// # Safety
/// As `CPython` calls a vectorcall (the fastcall trampoline's arguments): attached, `class`
/// this class, and the `nargs` positional arguments (then one per name in `kwnames`) at
/// `args` valid.
unsafe fn new_entry(
    py: Python<'_>,
    class: *mut pyo3::ffi::PyObject,
    args: *const *mut pyo3::ffi::PyObject,
    nargs: pyo3::ffi::Py_ssize_t,
    kwnames: *mut pyo3::ffi::PyObject,
) -> PyResult<*mut pyo3::ffi::PyObject> {
    // SAFETY: as the caller promises (see above).
    if let Some(format) = unsafe { format_alone(py, args, nargs, kwnames) } {
        // SAFETY: `class` is the class object, valid for the call.
        let slots_as_made = unsafe {
            let class = class.cast::<pyo3::ffi::PyTypeObject>();
            // Function pointers compared as addresses, read from type objects: only whether
            // the slot still holds what it held is asked.
            let init = |t: *const pyo3::ffi::PyTypeObject| (*t).tp_init.map(|f| f as usize);
            init(class) == init(std::ptr::addr_of!(pyo3::ffi::PyBaseObject_Type))
                && (*class).tp_new.map(|f| f as usize)
                    == Some(GENERATED_NEW.load(std::sync::atomic::Ordering::Relaxed))
        };
        // `type.__call__` would run an `__init__` or a `__new__` someone set on the class.
        if slots_as_made {
            return StreamParserPy::new_with_format(py, &format).map(Bound::into_ptr);
        }
    }
    // SAFETY: as the caller promises.
    unsafe { call_type(py, class, args, nargs, kwnames) }
}

/// The `format` of a call that passes nothing but `format=` (or nothing at all), extracted;
/// None for any other call, or when the value does not extract (the generated constructor
/// then raises its own error).
///
/// # Safety
/// As for [`new_entry`].
unsafe fn format_alone(
    py: Python<'_>,
    args: *const *mut pyo3::ffi::PyObject,
    nargs: pyo3::ffi::Py_ssize_t,
    kwnames: *mut pyo3::ffi::PyObject,
) -> Option<FormatArg> {
    if nargs != 0 {
        return None;
    }
    if kwnames.is_null() {
        return Some(FormatArg("auto"));
    }
    // SAFETY: a non-null `kwnames` is a tuple of `str` (the vectorcall protocol), whose
    // values follow the positional arguments (none here) at `args`.
    let (names, value) = unsafe {
        (
            Borrowed::from_ptr(py, kwnames).cast_unchecked::<pyo3::types::PyTuple>(),
            args,
        )
    };
    if names.len() != 1 {
        return None;
    }
    let name = names.get_borrowed_item(0).ok()?;
    if name.cast::<PyString>().ok()?.to_str().ok()? != "format" {
        return None;
    }
    // SAFETY: the one keyword's value, valid for the call.
    let value = unsafe { Borrowed::from_ptr(py, *value) };
    value.extract::<FormatArg>().ok()
}

/// The call as `type.__call__` makes it: the class's generated `tp_new` (then `tp_init`),
/// given the arguments as a tuple and the keywords as a dict.
///
/// # Safety
/// As for [`new_entry`].
unsafe fn call_type(
    py: Python<'_>,
    class: *mut pyo3::ffi::PyObject,
    args: *const *mut pyo3::ffi::PyObject,
    nargs: pyo3::ffi::Py_ssize_t,
    kwnames: *mut pyo3::ffi::PyObject,
) -> PyResult<*mut pyo3::ffi::PyObject> {
    let positional = usize::try_from(nargs).unwrap_or_default();
    // SAFETY: the positional arguments lie at `args`, valid for the call.
    let items = unsafe { std::slice::from_raw_parts(args, positional) };
    // SAFETY: each is a valid object.
    let tuple = pyo3::types::PyTuple::new(
        py,
        items
            .iter()
            .map(|&item| unsafe { Borrowed::from_ptr(py, item) }),
    )?;
    let kwargs = if kwnames.is_null() {
        None
    } else {
        // SAFETY: a non-null `kwnames` is a tuple (the protocol), whose values follow the
        // positional ones at `args`.
        let names =
            unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<pyo3::types::PyTuple>() };
        let dict = pyo3::types::PyDict::new(py);
        for (i, name) in names.iter().enumerate() {
            // SAFETY: the `i`th keyword's value, valid for the call.
            let value = unsafe { Borrowed::from_ptr(py, *args.add(positional + i)) };
            dict.set_item(name, value)?;
        }
        Some(dict)
    };
    let kwargs_ptr = kwargs
        .as_ref()
        .map_or(std::ptr::null_mut(), pyo3::Bound::as_ptr);
    // SAFETY: `class`'s type is `type`, whose `tp_call` is `type.__call__`.
    let call = unsafe { (*pyo3::ffi::Py_TYPE(class)).tp_call };
    let Some(call) = call else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "StreamParser is not callable",
        ));
    };
    // SAFETY: the class, a tuple and a dict or null, as `tp_call` takes them; a new
    // reference, or null with an exception set.
    let out = unsafe { call(class, tuple.as_ptr(), kwargs_ptr) };
    // SAFETY: as just said.
    unsafe { Bound::from_owned_ptr_or_err(py, out) }.map(Bound::into_ptr)
}

/// The class's vectorcall: [`new_entry`] behind `PyO3`'s trampoline (which catches panics and
/// raises errors).
///
/// # Safety
/// As `CPython` calls a vectorcall.
unsafe extern "C" fn new_vectorcall(
    class: *mut pyo3::ffi::PyObject,
    args: *const *mut pyo3::ffi::PyObject,
    nargsf: usize,
    kwnames: *mut pyo3::ffi::PyObject,
) -> *mut pyo3::ffi::PyObject {
    let entry = pyo3::get_trampoline_function!(fastcall_cfunction_with_keywords, new_entry);
    // SAFETY: `PyVectorcall_NARGS` only masks the flag bit off; the rest as `CPython` passed it.
    unsafe { entry(class, args, pyo3::ffi::PyVectorcall_NARGS(nargsf), kwnames) }
}

/// Makes [`new_vectorcall`] the way `StreamParser(...)` is called. `CPython` calls a class
/// through its `tp_vectorcall` when set (the slot is not inherited, and the class has no
/// subclasses); `type.__call__`, which the fallback takes, does not read it.
pub(super) fn install_new_entry(py: Python<'_>) {
    let class = py.get_type::<StreamParserPy>();
    // SAFETY: the class object is alive (held by `class`) and the GIL is held; it has not been
    // called yet, and `tp_new` and `tp_vectorcall` are plain fields of the type object that
    // `CPython` reads at each call.
    unsafe {
        let class = class.as_type_ptr();
        let generated = (*class).tp_new.map_or(0, |f| f as usize);
        GENERATED_NEW.store(generated, std::sync::atomic::Ordering::Relaxed);
        (*class).tp_vectorcall = Some(new_vectorcall);
    }
}

/// The class's `tp_new` as `PyO3` made it (its address), which [`new_entry`] stands in for.
static GENERATED_NEW: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
