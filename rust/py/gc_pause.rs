//! Keeps `CPython`'s cyclic garbage collector from running while a result is being built.
//!
//! A completion converts into thousands of lists and dicts at once (a logprobs stream: a
//! dict and two or more lists per token). Every 700 new containers start a collection, which
//! walks the young containers, all of them ours, half-built and referenced from the builder:
//! it can free none of them, and that walking costs as much as building them. Pausing the
//! collector for the build skips those walks. The allocation count it keeps is not reset, so
//! the first container allocated after the build starts the collection that was due, and it
//! finds then whatever it would have found; if the caller drops the result first, its objects
//! leave the count as they go, as any short-lived objects do.

use pyo3::ffi;
use pyo3::Python;

/// While alive, the collector is disabled; dropping it re-enables the collector if this guard
/// disabled it (a caller that had disabled it keeps it disabled).
pub struct GcPause<'py> {
    was_enabled: bool,
    /// Ties the guard to the GIL it was made under (and keeps it on this thread).
    _gil: Python<'py>,
}

impl<'py> GcPause<'py> {
    /// Pauses the collector. Nothing in a build runs Python code (it only creates and frees
    /// strings, numbers, lists and dicts), so no one can see or change the paused state
    /// meanwhile.
    pub fn new(py: Python<'py>) -> Self {
        // SAFETY: the GIL is held (`py`); PyGC_Disable only clears the collector's enabled
        // flag and returns its previous value (`CPython` 3.10+, the oldest this crate supports).
        let was_enabled = unsafe { ffi::PyGC_Disable() } != 0;
        GcPause {
            was_enabled,
            _gil: py,
        }
    }
}

impl Drop for GcPause<'_> {
    fn drop(&mut self) {
        if self.was_enabled {
            // SAFETY: the guard holds `Python<'py>`, so it is dropped under the GIL it was
            // made under, on the same thread; PyGC_Enable only sets the enabled flag.
            unsafe {
                ffi::PyGC_Enable();
            }
        }
    }
}
