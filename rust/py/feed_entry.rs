//! `StreamParser.feed`'s entry point, in place of the one `PyO3` generates (see
//! [`install_feed_entry`]).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::Borrowed;

use super::parser::StreamParserPy;

/// The `feed` method `PyO3` generated, which takes every call [`feed_entry`] does not.
static GENERATED_FEED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `StreamParser.feed` as `CPython` calls it. A call with the read alone, positionally (every
/// read of a stream), goes straight to [`StreamParserPy::feed`]: `PyO3`'s general argument
/// parsing (names, keywords, defaults) cost more than the call's own work with the read, for
/// a read of one line. Any other call goes to the generated method, so that its messages and
/// keyword handling are the generated ones.
///
/// # Safety
/// As `PyO3`'s trampoline for a `METH_FASTCALL | METH_KEYWORDS` method calls it: attached, `slf`
/// and the `nargs` positional arguments (then one per name in `kwnames`) at `args` valid.
unsafe fn feed_entry(
    py: Python<'_>,
    slf: *mut pyo3::ffi::PyObject,
    args: *const *mut pyo3::ffi::PyObject,
    nargs: pyo3::ffi::Py_ssize_t,
    kwnames: *mut pyo3::ffi::PyObject,
) -> PyResult<*mut pyo3::ffi::PyObject> {
    if nargs == 1 && kwnames.is_null() {
        // SAFETY: the caller passes a valid `self` and one valid positional argument, both
        // borrowed for the call.
        let (slf, data) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, *args)) };
        let slf = slf.cast::<StreamParserPy>()?;
        return StreamParserPy::feed(&slf, &data).map(Bound::into_ptr);
    }
    let Some(generated) = GENERATED_FEED.get(py) else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "StreamParser.feed is not set up",
        ));
    };
    let keywords = if kwnames.is_null() {
        0
    } else {
        // SAFETY: a non-null `kwnames` is a tuple (the vectorcall protocol).
        unsafe { pyo3::ffi::PyTuple_GET_SIZE(kwnames) }
    };
    let count = usize::try_from(nargs + keywords).unwrap_or_default();
    let mut with_self = Vec::with_capacity(count + 1);
    with_self.push(slf);
    if count > 0 {
        // SAFETY: the positional then the keyword arguments lie at `args` (the protocol).
        with_self.extend_from_slice(unsafe { std::slice::from_raw_parts(args, count) });
    }
    // SAFETY: a method descriptor called with its `self` first, then the call's own arguments
    // and names, all valid for the call.
    let out = unsafe {
        pyo3::ffi::PyObject_Vectorcall(
            generated.as_ptr(),
            with_self.as_ptr(),
            (nargs + 1).unsigned_abs(),
            kwnames,
        )
    };
    // SAFETY: a new reference, or null with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, out) }.map(Bound::into_ptr)
}

/// Puts [`feed_entry`] in place of the generated `StreamParser.feed`, with the generated one's
/// name, signature and docstring. Left as it is if that is not a plain method descriptor.
pub(super) fn install_feed_entry(py: Python<'_>) -> PyResult<()> {
    let class = py.get_type::<StreamParserPy>();
    let generated = class.getattr("feed")?;
    // The address of the type object `CPython` exports; nothing is read or written.
    let method_type = std::ptr::addr_of_mut!(pyo3::ffi::PyMethodDescr_Type);
    if generated.get_type().as_type_ptr() != method_type {
        return Ok(());
    }
    // SAFETY: a method descriptor (just checked) is a `PyMethodDescrObject`, whose method
    // definition `PyO3` keeps for the life of the process.
    let doc = unsafe {
        let descr = generated.as_ptr().cast::<pyo3::ffi::PyMethodDescrObject>();
        (*(*descr).d_method).ml_doc
    };
    // Leaked: `CPython` keeps pointing at it from the descriptor, for the life of the process.
    let def = Box::leak(Box::new(pyo3::ffi::PyMethodDef {
        ml_name: c"feed".as_ptr(),
        ml_meth: pyo3::ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: pyo3::get_trampoline_function!(
                fastcall_cfunction_with_keywords,
                feed_entry
            ),
        },
        ml_flags: pyo3::ffi::METH_FASTCALL | pyo3::ffi::METH_KEYWORDS,
        ml_doc: doc,
    }));
    // SAFETY: a type object and a method definition that outlive the descriptor.
    let entry = unsafe {
        Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyDescr_NewMethod(class.as_type_ptr(), def))
    }?;
    GENERATED_FEED
        .set(py, generated.unbind())
        .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("feed set up twice"))?;
    class.setattr("feed", entry)
}
