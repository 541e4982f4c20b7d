//! Builds Python objects from core values.
//!
//! A completion is mostly small strings (keys, tokens, ids) and small numbers, so what costs is
//! the per-object overhead: strings of at most [`CACHED_BYTES`] bytes come from a small cache of
//! Python strings (keys and logprobs tokens repeat all the time), ASCII strings are copied
//! straight into a new Python string without UTF-8 decoding, lists are created at their final
//! size, and integers are read in the same pass that recognises them. Logprobs entries are kept
//! as validated JSON text ([`Value::Raw`]) and built by a walker that trusts that text.

use std::sync::{Mutex, TryLockError};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};

use super::release::LONG_BYTES;
use crate::formats::build::Build;
use crate::formats::Fold;
use crate::json::number::{plain_digits, Num};
use crate::json::partial::{OpenLevel, PartialSnapshot};
use crate::json::reader::{string_stop, JsonError, Reader};
use crate::json::value::Value;
use crate::limits::DEPTH_CEILING;

/// Strings up to this many bytes are looked up in the cache before a new one is built: every
/// key of the usual results (`candidatesTokenCount`, `output_tokens_details`, a tool schema's
/// property names), model names and versions, ids, finish reasons and the short values that
/// repeat. Built, hashed as a dict key and freed anew each time, a string of this size costs
/// about what the rest of its member does.
const CACHED_BYTES: usize = 64;
/// Bytes of a cached string kept in its slot: a string no longer than this is told apart there
/// alone; past it, the rest is compared with the Python string's own text (the object a hit
/// hands out and whose count it raises anyway), so the table stays the same size.
const HEAD_BYTES: usize = 16;
/// Slots of the cache (a power of two). Few enough that the table (40 KB) stays in the
/// processor's near caches between conversions: a lookup that misses there costs more than
/// building the string it saves. The strings that repeat (keys, vocabulary) are far fewer.
const CACHE_SLOTS: usize = 1024;

/// One cached string: its length and first [`HEAD_BYTES`] bytes, zero-padded, as two words
/// (so a hit on a short string costs two compares, no call into Python) and the Python
/// string; plus the hash of the last string that missed here, which is admitted when it comes
/// again. A string longer than the head is admitted only when ASCII, so that its Python text
/// is its UTF-8 bytes.
struct CacheSlot {
    len: u8,
    head: (u64, u64),
    string: Option<Py<PyString>>,
    candidate: u64,
}

/// The first [`HEAD_BYTES`] bytes of `bytes`, zero-padded, as two little-endian words, read
/// with a few overlapping loads rather than copied into a buffer (a call, per string built).
fn head_words(bytes: &[u8]) -> (u64, u64) {
    let len = bytes.len();
    let u64_at = |at: usize| {
        (bytes.get(at..at + 8))
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let u32_at = |at: usize| {
        (bytes.get(at..at + 4))
            .and_then(|w| w.try_into().ok())
            .map_or(0, |w| u64::from(u32::from_le_bytes(w)))
    };
    let byte_at = |at: usize| bytes.get(at).map_or(0, |&b| u64::from(b));
    match len {
        16.. => (u64_at(0), u64_at(8)),
        // The last eight bytes, shifted down past those the first word has.
        9..=15 => (u64_at(0), u64_at(len - 8) >> ((16 - len) * 8)),
        8 => (u64_at(0), 0),
        // The first four and the last four, overlapping: the shared bytes agree.
        4..=7 => (u32_at(0) | u32_at(len - 4) << ((len - 4) * 8), 0),
        1..=3 => {
            let word = byte_at(0) | byte_at(len / 2) << (len / 2 * 8);
            (word | byte_at(len - 1) << ((len - 1) * 8), 0)
        }
        0 => (0, 0),
    }
}

/// A direct-mapped cache of short Python strings, shared by every conversion of the process.
/// A slot holds a string that was asked for twice in a row among those that hash to it: no
/// eviction bookkeeping, and a miss costs only the string it builds anyway. A string seen
/// once (a tool input is full of keys and values that never come back) only marks itself as
/// the slot's candidate, so it neither evicts a string that repeats nor costs the reference
/// counting and freeing of one. It lives in a static that is never dropped, and a slot lets go
/// of its string only in [`StringCache::get`], with the GIL held.
struct StringCache {
    slots: Box<[CacheSlot]>,
}

static CACHE: Mutex<Option<StringCache>> = Mutex::new(None);

impl StringCache {
    fn new() -> Self {
        StringCache {
            slots: (0..CACHE_SLOTS)
                .map(|_| CacheSlot {
                    len: 0,
                    head: (0, 0),
                    string: None,
                    candidate: 0,
                })
                .collect(),
        }
    }

    /// A Python string equal to `s` (at most [`CACHED_BYTES`] long), from the cache if there.
    // Inlined into its callers (`Builder::string` runs it for every short string): a call
    // costs what the lookup does.
    #[inline(always)]
    fn get<'py>(&mut self, py: Python<'py>, s: &str) -> Bound<'py, PyString> {
        let bytes = s.as_bytes();
        let head = head_words(bytes);
        let rest = bytes.get(HEAD_BYTES..).unwrap_or_default();
        // Past the head, the last eight bytes: long keys often share a prefix
        // (`promptTokenCount`, `promptTokensDetails`) and differ at the end.
        let end = if rest.is_empty() {
            0
        } else {
            bytes
                .last_chunk::<8>()
                .map_or(0, |w| u64::from_le_bytes(*w))
        };
        let mixed = (head.0 ^ head.1.rotate_left(29) ^ end.rotate_left(47) ^ (bytes.len() as u64))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // The top bits of a multiplicative hash are its best mixed ones.
        let index = (mixed >> (64 - CACHE_SLOTS.trailing_zeros())) as usize;
        let Some(slot) = self.slots.get_mut(index) else {
            return new_string(py, s);
        };
        let len = u8::try_from(bytes.len()).unwrap_or(0);
        if slot.len == len && slot.head == head {
            if let Some(cached) = &slot.string {
                let cached = cached.bind(py);
                // SAFETY: the GIL is held (`py`) and the slot holds a reference to `cached`, so
                // it is a live `str`. A string longer than the head is admitted only when ASCII
                // (below), as a compact ASCII string of `len` characters (`new_string`, or
                // `PyString::new` of ASCII text), so its data is `len` one-byte characters, its
                // UTF-8 text; a `str` that others may see never changes. Past the head, the
                // compare reads `len - 16` of those bytes.
                let same = rest.is_empty()
                    || unsafe {
                        let text = ffi::PyUnicode_DATA(cached.as_ptr()).cast::<u8>();
                        std::slice::from_raw_parts(text, bytes.len()).get(HEAD_BYTES..)
                            == Some(rest)
                    };
                if same {
                    return cached.clone();
                }
            }
        }
        let string = new_string(py, s);
        // A hash collision only admits a string early; the slot then holds that string.
        if slot.candidate == mixed && (rest.is_empty() || s.is_ascii()) {
            slot.len = len;
            slot.head = head;
            slot.string = Some(string.clone().unbind());
        } else {
            slot.candidate = mixed;
        }
        string
    }
}

/// Builds Python objects from values, holding the string cache for the whole value.
pub(super) struct Builder<'py, 'c> {
    pub(super) py: Python<'py>,
    cache: Option<&'c mut StringCache>,
    /// Items of the raw arrays being built, innermost last (one buffer for all of them).
    pub(super) pending: Vec<Bound<'py, PyAny>>,
}

/// Runs `build` with the process's string cache, or without one when another conversion holds
/// it (building Python objects can run a finaliser that converts another value meanwhile).
fn with_builder<'py, T>(
    py: Python<'py>,
    build: impl FnOnce(&mut Builder<'py, '_>) -> PyResult<T>,
) -> PyResult<T> {
    let mut guard = match CACHE.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    };
    let cache = guard
        .as_mut()
        .map(|slot| slot.get_or_insert_with(StringCache::new));
    let mut builder = Builder {
        py,
        cache,
        pending: Vec::new(),
    };
    let _paused = super::gc_pause::GcPause::new(py);
    build(&mut builder)
}

/// A new Python string; ASCII is copied straight in, without UTF-8 decoding.
fn new_string<'py>(py: Python<'py>, s: &str) -> Bound<'py, PyString> {
    if !s.is_ascii() {
        return PyString::new(py, s);
    }
    let Ok(len) = ffi::Py_ssize_t::try_from(s.len()) else {
        return PyString::new(py, s);
    };
    // SAFETY: the GIL is held (`py`). `PyUnicode_New(len, 127)` makes a compact ASCII string
    // with room for `len` one-byte characters (and writes the terminating NUL itself), or
    // returns null with an exception set, handled by the fallback. `s` is ASCII and `len`
    // bytes long, so the copy fills exactly the data area with valid characters before the
    // string is handed out.
    unsafe {
        let obj = ffi::PyUnicode_New(len, 127);
        if obj.is_null() {
            ffi::PyErr_Clear();
            return PyString::new(py, s);
        }
        let data = ffi::PyUnicode_DATA(obj).cast::<u8>();
        std::ptr::copy_nonoverlapping(s.as_ptr(), data, s.len());
        Bound::from_owned_ptr(py, obj).cast_into_unchecked()
    }
}

impl<'py> Builder<'py, '_> {
    pub(super) fn string(&mut self, s: &str) -> Bound<'py, PyString> {
        match &mut self.cache {
            Some(cache) if s.len() <= CACHED_BYTES => cache.get(self.py, s),
            _ => new_string(self.py, s),
        }
    }

    fn value(&mut self, v: &Value) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match v {
            Value::Null => py.None().into_bound(py),
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::Number(t) => number(py, t)?,
            Value::String(s) => self.string(s).into_any(),
            Value::Array(items) => {
                let list = new_list(py, items.len())?;
                for (i, item) in items.iter().enumerate() {
                    let built = self.value(item)?;
                    set_list_item(&list, i, built);
                }
                list.into_any()
            }
            Value::Object(map) => {
                let dict = PyDict::new(py);
                for (k, item) in map {
                    let built = self.value(item)?;
                    let k = self.string(k);
                    // SAFETY: as in `Build::set`: the GIL is held (`py`); `dict` is a live dict
                    // and `k` (a `str`) and `built` are live objects. `PyDict_SetItem` takes
                    // new references of its own and returns -1 with an exception set on
                    // failure, which `PyErr::fetch` takes.
                    if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), k.as_ptr(), built.as_ptr()) }
                        != 0
                    {
                        return Err(PyErr::fetch(py));
                    }
                }
                dict.into_any()
            }
            Value::Raw(text) => {
                // Only a logprobs entry starts so (checked here, inline: most raw values, such
                // as a Gemini result's `usageMetadata`, are something else).
                if super::logprobs::starts_like_entry(text) {
                    if let Some(entry) = super::logprobs::entry(self, text)? {
                        return Ok(entry);
                    }
                }
                let mut walk = RawWalk {
                    text,
                    bytes: text.as_bytes(),
                    pos: 0,
                };
                walk.value(self)?
            }
        })
    }
}

/// A list of `len` empty slots, each to be filled by [`set_list_item`].
pub(super) fn new_list(py: Python<'_>, len: usize) -> PyResult<Bound<'_, PyList>> {
    let n = ffi::Py_ssize_t::try_from(len)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("list too long"))?;
    // SAFETY: the GIL is held. `PyList_New` returns a new reference to a list whose `n` slots
    // are NULL, or null with an exception set (`from_owned_ptr_or_err` raises it). A list with
    // NULL slots is safe to drop (its dealloc uses Py_XDECREF), so an error before every slot
    // is filled leaks nothing; it never reaches Python code before `new_list`'s callers fill
    // every slot.
    unsafe { Ok(Bound::from_owned_ptr_or_err(py, ffi::PyList_New(n))?.cast_into_unchecked()) }
}

/// Fills slot `i` of a list from [`new_list`], taking over the reference to `item`.
pub(super) fn set_list_item(list: &Bound<'_, PyList>, i: usize, item: Bound<'_, PyAny>) {
    if i >= list.len() {
        return;
    }
    let Ok(i) = ffi::Py_ssize_t::try_from(i) else {
        return;
    };
    // SAFETY: the GIL is held (the list is bound); `i` is within the list's length (checked
    // above) and the slot is still NULL (each index is filled once, in order, by the caller),
    // so PyList_SET_ITEM steals the new reference `into_ptr` gives without leaking another.
    unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), i, item.into_ptr()) }
}

/// JSON numbers as orjson reads them: integers within 64 bits are ints, other integers and
/// all fractions are floats. Integers of up to 18 digits (all that a completion ever holds)
/// are read in the pass that checks them.
pub(super) fn number<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let bytes = text.as_bytes();
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if !digits.is_empty() && digits.len() <= 18 {
        let mut n: i64 = 0;
        let mut integer = true;
        for &d in digits {
            if !d.is_ascii_digit() {
                integer = false;
                break;
            }
            n = n * 10 + i64::from(d - b'0');
        }
        if integer {
            let n = if negative { -n } else { n };
            return Ok(n.into_pyobject(py)?.into_any());
        }
    }
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

/// Builds a result straight from a fold's state ([`Fold::build_result`]): dicts, lists and
/// leaves as [`Builder::value`] builds them from the `Value` the fold's `result()` gives.
impl<'py> Build for Builder<'py, '_> {
    type Out = Bound<'py, PyAny>;
    type Object = Bound<'py, PyDict>;
    /// The list, and how many of its slots are filled.
    type List = (Bound<'py, PyList>, usize);
    type Error = PyErr;

    fn value(&mut self, v: &Value) -> PyResult<Bound<'py, PyAny>> {
        Builder::value(self, v)
    }

    fn string(&mut self, s: &str) -> PyResult<Bound<'py, PyAny>> {
        Ok(Builder::string(self, s).into_any())
    }

    fn null(&mut self) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.py.None().into_bound(self.py))
    }

    fn object(&mut self, _len: usize) -> PyResult<Bound<'py, PyDict>> {
        Ok(PyDict::new(self.py))
    }

    fn set(
        &mut self,
        object: &mut Bound<'py, PyDict>,
        key: &str,
        v: Bound<'py, PyAny>,
    ) -> PyResult<()> {
        let k = Builder::string(self, key);
        set_item(object, &k, &v)
    }

    fn end_object(&mut self, object: Bound<'py, PyDict>) -> Bound<'py, PyAny> {
        object.into_any()
    }

    fn list(&mut self, len: usize) -> PyResult<(Bound<'py, PyList>, usize)> {
        Ok((new_list(self.py, len)?, 0))
    }

    fn push(
        &mut self,
        (list, filled): &mut (Bound<'py, PyList>, usize),
        v: Bound<'py, PyAny>,
    ) -> PyResult<()> {
        if *filled >= list.len() {
            return Err(unfilled_list());
        }
        set_list_item(list, *filled, v);
        *filled += 1;
        Ok(())
    }

    fn end_list(
        &mut self,
        (list, filled): (Bound<'py, PyList>, usize),
    ) -> PyResult<Bound<'py, PyAny>> {
        // A slot left empty would be a NULL item in a list Python code can read.
        if filled != list.len() {
            return Err(unfilled_list());
        }
        Ok(list.into_any())
    }

    // Texts this long are moved out of a result by `to_py_taking` rather than copied, so a
    // fold that holds one is not built from its state.
    fn long_text(&self) -> usize {
        LONG_BYTES
    }
}

/// `dict[k] = v`, with no check of `k`'s type (a `str` is hashable).
fn set_item(
    dict: &Bound<'_, PyDict>,
    k: &Bound<'_, PyString>,
    v: &Bound<'_, PyAny>,
) -> PyResult<()> {
    // SAFETY: the GIL is held (`dict` is bound); `dict` is a live dict and `k` (a `str`) and
    // `v` are live objects. `PyDict_SetItem` takes new references of its own and returns -1
    // with an exception set on failure, which `PyErr::fetch` takes.
    if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), k.as_ptr(), v.as_ptr()) } != 0 {
        return Err(PyErr::fetch(dict.py()));
    }
    Ok(())
}

/// A fold pushed a different number of items than the list it asked for.
fn unfilled_list() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("a built list got the wrong number of items")
}

/// The result `fold` builds straight from its state, or None when it has no such walk or
/// declines (see [`Fold::build_result`]): the caller converts its `Value` instead.
pub fn fold_to_py<'py, F: Fold>(py: Python<'py>, fold: &F) -> PyResult<Option<Bound<'py, PyAny>>> {
    with_builder(py, |b| fold.build_result(b).transpose())
}

/// A key as a Python string (from the cache when short).
fn key<'py>(py: Python<'py>, k: &str) -> Bound<'py, PyString> {
    with_builder(py, |b| Ok(b.string(k))).unwrap_or_else(|_| new_string(py, k))
}

pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    with_builder(py, |b| b.value(v))
}

/// Builds the items of `items` into one new list (logprobs entries of an event).
pub fn list_to_py<'py>(py: Python<'py>, items: &[Value]) -> PyResult<Bound<'py, PyList>> {
    with_builder(py, |b| {
        let list = new_list(py, items.len())?;
        for (i, item) in items.iter().enumerate() {
            let built = b.value(item)?;
            set_list_item(&list, i, built);
        }
        Ok(list)
    })
}

fn invalid_raw(e: JsonError) -> PyErr {
    // Raw text was validated when it was read; this would be an internal error.
    pyo3::exceptions::PyValueError::new_err(format!("invalid stored JSON: {:?}", e.code))
}

fn invalid_raw_at(pos: usize) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(format!("invalid stored JSON at byte {pos}"))
}

/// Walks validated JSON text (see `Value::Raw`) and builds its Python value. The text passed
/// the reader's checks when it was stored, so the walk only finds where things end; a string
/// with an escape is decoded by the reader.
pub(super) struct RawWalk<'t> {
    pub(super) text: &'t str,
    pub(super) bytes: &'t [u8],
    pub(super) pos: usize,
}

impl<'t> RawWalk<'t> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, consumed. Inline for what follows nearly every value
    /// (a `,`, `:` or closing bracket right after it: servers send compact text), and a call
    /// only when whitespace comes first.
    #[inline(always)]
    fn next_byte(&mut self) -> PyResult<u8> {
        match self.bytes.get(self.pos) {
            Some(&b) if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') => {
                self.pos += 1;
                Ok(b)
            }
            _ => self.next_byte_after_ws(),
        }
    }

    #[inline(never)]
    fn next_byte_after_ws(&mut self) -> PyResult<u8> {
        self.skip_ws();
        let b = self
            .bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| invalid_raw_at(self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// The string starting at `pos` (its opening quote): borrowed from the text when it has
    /// no escape, else decoded by the reader.
    pub(super) fn string(&mut self) -> PyResult<std::borrow::Cow<'t, str>> {
        let start = self.pos + 1;
        let rest = self.bytes.get(start..).unwrap_or_default();
        // Validated text has no control byte in a string: this stops at `"` or `\`, and a
        // short string (most are) is scanned without a call into a SIMD search.
        let n = string_stop(rest);
        match rest.get(n) {
            Some(b'"') => {
                self.pos = start + n + 1;
                // Both ends are ASCII quotes, so the slice is on character boundaries.
                let s = self
                    .text
                    .get(start..start + n)
                    .ok_or_else(|| invalid_raw_at(start))?;
                Ok(std::borrow::Cow::Borrowed(s))
            }
            Some(_) => {
                let tail = self.text.get(self.pos..).unwrap_or_default();
                let mut r = Reader::over_text(tail, DEPTH_CEILING);
                let s = r
                    .take_string()
                    .map_err(invalid_raw)?
                    .ok_or_else(|| invalid_raw_at(self.pos))?;
                self.pos += r.pos();
                Ok(s)
            }
            None => Err(invalid_raw_at(self.pos)),
        }
    }

    /// The string starting at `pos` as a Python string. A string with an escape (a long text
    /// usually has some) is decoded into a buffer the thread keeps, not into a new one that
    /// grows by doubling and is dropped once the Python string holds a copy.
    fn py_string<'py>(&mut self, b: &mut Builder<'py, '_>) -> PyResult<Bound<'py, PyString>> {
        const KEPT_DECODED_BYTES: usize = 1 << 20;
        std::thread_local! {
            static DECODED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        let start = self.pos + 1;
        let rest = self.bytes.get(start..).unwrap_or_default();
        let n = string_stop(rest);
        if rest.get(n) == Some(&b'"') {
            self.pos = start + n + 1;
            // Both ends are ASCII quotes, so the slice is on character boundaries.
            let s = self
                .text
                .get(start..start + n)
                .ok_or_else(|| invalid_raw_at(start))?;
            return Ok(b.string(s));
        }
        let tail = self.text.get(self.pos..).unwrap_or_default();
        let mut r = Reader::over_text(tail, DEPTH_CEILING);
        let built = DECODED.with(|cell| {
            // Building a Python object can run a finaliser that converts another value on
            // this thread meanwhile: then the buffer is in use, and this string gets its own.
            let mut own = String::new();
            let mut guard = cell.try_borrow_mut().ok();
            let out = guard.as_deref_mut().unwrap_or(&mut own);
            out.clear();
            let built = match r.take_string_into(out) {
                Ok(true) => Ok(b.string(out)),
                Ok(false) => Err(invalid_raw_at(self.pos)),
                Err(e) => Err(invalid_raw(e)),
            };
            // A huge text is not kept hold of for the life of the thread.
            if out.capacity() > KEPT_DECODED_BYTES {
                *out = String::new();
            }
            built
        })?;
        self.pos += r.pos();
        Ok(built)
    }

    /// The key starting at `pos` (its opening quote) as a Python string, from the builder's
    /// cache (which takes every key of up to [`CACHED_BYTES`] bytes). The plain key's path is
    /// its own, small enough to be inlined into the walk of an object, where
    /// [`Self::py_string`]'s is not.
    fn py_key<'py>(&mut self, b: &mut Builder<'py, '_>) -> PyResult<Bound<'py, PyString>> {
        let start = self.pos + 1;
        let rest = self.bytes.get(start..).unwrap_or_default();
        let n = string_stop(rest);
        if rest.get(n) != Some(&b'"') {
            // An escape: decoded as any string is.
            return self.py_string(b);
        }
        self.pos = start + n + 1;
        // Both ends are ASCII quotes, so the slice is on character boundaries.
        let key = self
            .text
            .get(start..start + n)
            .ok_or_else(|| invalid_raw_at(start))?;
        Ok(b.string(key))
    }

    fn value<'py>(&mut self, b: &mut Builder<'py, '_>) -> PyResult<Bound<'py, PyAny>> {
        let py = b.py;
        self.skip_ws();
        let first = self
            .bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| invalid_raw_at(self.pos))?;
        match first {
            b'"' => Ok(self.py_string(b)?.into_any()),
            b'{' => {
                self.pos += 1;
                let dict = PyDict::new(py);
                self.skip_ws();
                if self.bytes.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Ok(dict.into_any());
                }
                loop {
                    self.skip_ws();
                    let k = self.py_key(b)?;
                    if self.next_byte()? != b':' {
                        return Err(invalid_raw_at(self.pos));
                    }
                    let v = self.value(b)?;
                    // SAFETY: the GIL is held (`py`); `dict` is a live dict and `k` (a `str`)
                    // and `v` are live objects. `PyDict_SetItem` takes new references of its
                    // own (`k` and `v` are released when dropped here) and returns -1 with an
                    // exception set on failure, which `PyErr::fetch` takes.
                    if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), k.as_ptr(), v.as_ptr()) } != 0 {
                        return Err(PyErr::fetch(py));
                    }
                    match self.next_byte()? {
                        b',' => {}
                        b'}' => return Ok(dict.into_any()),
                        _ => return Err(invalid_raw_at(self.pos)),
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                let rest = self.bytes.get(self.pos..).unwrap_or_default();
                if let Some((list, n)) = super::logprobs::small_int_list(py, rest)? {
                    self.pos += n;
                    return Ok(list.into_any());
                }
                let start = b.pending.len();
                self.skip_ws();
                if self.bytes.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                } else {
                    loop {
                        let v = self.value(b)?;
                        b.pending.push(v);
                        match self.next_byte()? {
                            b',' => {}
                            b']' => break,
                            _ => return Err(invalid_raw_at(self.pos)),
                        }
                    }
                }
                let items = b.pending.len().saturating_sub(start);
                let list = new_list(py, items)?;
                for (i, item) in b.pending.drain(start..).enumerate() {
                    set_list_item(&list, i, item);
                }
                Ok(list.into_any())
            }
            b't' => {
                self.pos += 4;
                Ok(PyBool::new(py, true).to_owned().into_any())
            }
            b'f' => {
                self.pos += 5;
                Ok(PyBool::new(py, false).to_owned().into_any())
            }
            b'n' => {
                self.pos += 4;
                Ok(py.None().into_bound(py))
            }
            _ => {
                let start = self.pos;
                // A small non-negative integer (a token count, a timestamp) is read in the
                // pass that finds its end, as `number` would read its text.
                if let Some((n, len)) = plain_digits(self.bytes.get(start..).unwrap_or_default()) {
                    self.pos += len;
                    return Ok(n.into_pyobject(py)?.into_any());
                }
                self.pos += Num::Start
                    .scan(self.bytes.get(start..).unwrap_or_default())
                    .0;
                let text = self
                    .text
                    .get(start..self.pos)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| invalid_raw_at(start))?;
                number(py, text)
            }
        }
    }
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
    /// The unfinished string last handed out.
    tail: Option<TailString>,
}

/// An unfinished string handed out by a read, kept so that the next read of the same string can
/// append the new text to it instead of building the whole string again.
struct TailString {
    string: Py<PyString>,
    /// Its [`tail_place`].
    place: Option<(u64, usize)>,
    /// Its length in UTF-8 bytes (of the decoded text).
    len: usize,
}

struct LevelMemo {
    /// The container ([`OpenLevel::id`]) these children belong to.
    id: u64,
    /// Children converted so far.
    len: usize,
    /// A list of the items or a dict of the entries; never handed out, only copied.
    children: Py<PyAny>,
    /// The list last handed out for this container (arrays only), kept so that the next read
    /// can extend it in place once nobody else can see it.
    handed: Option<Handed>,
}

/// A list handed out by a read: the first `completed` items of the memo's `children` (the same
/// objects), then the pending tail item when `tail` is set (the unfinished value, or the next
/// level's container).
struct Handed {
    list: Py<PyList>,
    completed: usize,
    tail: bool,
}

/// `parsed_arguments`: the snapshot as a Python value. Completed children of the open
/// containers are built once per call and shared by every later read (of any event of the
/// call); a read builds only the children completed since the last read and the unfinished
/// string or number. An open array's list from the previous read is extended in place when
/// nothing but the memo (and its parent list) holds it and the caller left it as it was handed
/// (see [`PartialMemo::reusable`]); otherwise, and for every open object, the read makes a new
/// list or dict (a C-level copy of the references to its completed children). The unfinished
/// string is the previous read's string with the new text appended, in place when nothing but
/// the memo holds it (see [`PartialMemo::tail_string`]). See the cost model in docs/design.md
/// ('Events').
pub fn partial_to_py<'py>(py: Python<'py>, snap: &PartialSnapshot) -> PyResult<Bound<'py, PyAny>> {
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
    let memo = guard.as_mut().and_then(|slot| {
        slot.get_or_insert_with(|| Box::new(PartialMemo::default()))
            .downcast_mut::<PartialMemo>()
    });
    if let Some(memo) = memo {
        return memo.read(py, snap);
    }
    let inner = tail_to_py(py, snap)?;
    if snap.open_levels().len() == 0 {
        return Ok(inner.unwrap_or_else(|| py.None().into_bound(py)));
    }
    let mut containers = Vec::with_capacity(snap.open_levels().len());
    for level in snap.open_levels() {
        containers.push(fresh_children(py, level)?);
    }
    nest(py, snap, containers, inner, |_| {})
}

/// The value inside the innermost open container of `snap` (the whole value with none open),
/// built from scratch.
fn tail_to_py<'py>(py: Python<'py>, snap: &PartialSnapshot) -> PyResult<Option<Bound<'py, PyAny>>> {
    match snap.tail_value() {
        Some(v) => Ok(Some(to_py(py, &v)?)),
        None => Ok(None),
    }
}

/// Where the tail value of `snap` sits: after the completed children of the innermost open
/// container (its id and their count), or at the top level (None). Within one memo, one place
/// holds one value for good, so the string there only grows at its end.
fn tail_place(snap: &PartialSnapshot) -> Option<(u64, usize)> {
    snap.open_levels()
        .last()
        .map(|level| (level.id(), level.len()))
}

/// What a read finds in the snapshot's tail string, against the memo's string of the same place.
enum TailRead<'py> {
    /// No memo'd string there: the whole text as a new string, and its length in bytes.
    Whole(Bound<'py, PyString>, usize),
    /// The text past the memo's string, and the whole text's length.
    Suffix(Bound<'py, PyString>, usize),
    /// The memo's string as it is.
    Same,
    /// Shorter than the memo's string (an earlier event).
    Earlier,
}

/// `left + right`, by the C API's `PyUnicode_Append`: it resizes `left` in place when nothing but
/// this call holds it (one reference, no hash computed yet, not interned, an exact `str`, and
/// `right` not of a wider kind), and otherwise builds a new string and releases `left`.
fn append_str<'py>(
    left: Bound<'py, PyString>,
    right: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyString>> {
    let py = left.py();
    let mut joined = left.into_ptr();
    // SAFETY: the GIL is held (`py`). `joined` is a strong reference to a `str`, given over to
    // `PyUnicode_Append`, which either resizes that object (only when no one else holds it) or
    // releases it, and leaves in `joined` a new strong reference to the result, or null with an
    // exception set (`from_owned_ptr_or_err` raises it). `right` is a live `str` it only reads.
    // The result is a `str`, so the unchecked cast holds.
    unsafe {
        ffi::PyUnicode_Append(&raw mut joined, right.as_ptr());
        Ok(Bound::from_owned_ptr_or_err(py, joined)?.cast_into_unchecked())
    }
}

/// Puts `inner` into the innermost of `containers` (one per open level of `snap`), that into
/// the next one out, and so on; returns the outermost. `appended(depth)` is told of each list
/// that got a tail item.
fn nest<'py>(
    py: Python<'py>,
    snap: &PartialSnapshot,
    containers: Vec<Bound<'py, PyAny>>,
    mut inner: Option<Bound<'py, PyAny>>,
    mut appended: impl FnMut(usize),
) -> PyResult<Bound<'py, PyAny>> {
    for (depth, (level, container)) in snap.open_levels().zip(containers).enumerate().rev() {
        if let Some(value) = inner.take() {
            match level.pending_key() {
                Some(k) => container.set_item(key(py, k), value)?,
                None if !level.is_object() => {
                    container.cast::<PyList>()?.append(value)?;
                    appended(depth);
                }
                None => {}
            }
        }
        inner = Some(container);
    }
    Ok(inner.unwrap_or_else(|| py.None().into_bound(py)))
}

impl PartialMemo {
    /// The value of `snap` whose unfinished value is `inner`, reusing handed lists where
    /// [`Self::reusable`] allows and handing out every list it returns.
    fn read<'py>(
        &mut self,
        py: Python<'py>,
        snap: &PartialSnapshot,
    ) -> PyResult<Bound<'py, PyAny>> {
        if snap.open_levels().len() == 0 {
            let inner = match self.tail_string(py, snap)? {
                Some(string) => Some(string.into_any()),
                None => tail_to_py(py, snap)?,
            };
            return Ok(inner.unwrap_or_else(|| py.None().into_bound(py)));
        }
        for (depth, level) in snap.open_levels().enumerate() {
            self.sync(py, depth, level)?;
        }
        // Deeper entries belong to containers that are closed now.
        self.levels.truncate(snap.open_levels().len());
        // Decided for every level before any list changes: a level's check looks at its
        // parent's list as it was handed.
        let mut reuse = Vec::with_capacity(self.levels.len());
        for (depth, level) in snap.open_levels().enumerate() {
            let parent_reused = depth > 0 && reuse.last() == Some(&true);
            reuse.push(self.reusable(py, depth, level, parent_reused));
        }
        let mut containers = Vec::with_capacity(reuse.len());
        for ((level, memo), reused) in snap.open_levels().zip(&mut self.levels).zip(reuse) {
            let container = if reused {
                memo.extend_handed(py, level.len())?
            } else {
                memo.fresh(py, level)?
            };
            containers.push(container);
        }
        // Only now: a reused list has let go of its tail item (the previous string) and a
        // replaced one has been released, so the memo may be the string's only holder.
        let inner = match self.tail_string(py, snap)? {
            Some(string) => Some(string.into_any()),
            None => tail_to_py(py, snap)?,
        };
        nest(py, snap, containers, inner, |depth| {
            if let Some(handed) = self.levels.get_mut(depth).and_then(|m| m.handed.as_mut()) {
                handed.tail = true;
            }
        })
    }

    /// The unfinished string of `snap`, or None when its tail is not a string or is an earlier
    /// state of the memo's string (an earlier event read after a later one: built as before).
    /// The same string as the memo's, grown: the memo's string with the new text appended
    /// (in place when the memo holds the only reference); the same length: the memo's string
    /// itself; another string: built whole. The result becomes the memo's string.
    fn tail_string<'py>(
        &mut self,
        py: Python<'py>,
        snap: &PartialSnapshot,
    ) -> PyResult<Option<Bound<'py, PyString>>> {
        let place = tail_place(snap);
        let known = self.tail.take().filter(|known| known.place == place);
        let read = snap.with_tail_str(|text| match &known {
            Some(known) if known.len == text.len() => TailRead::Same,
            Some(known) => match text.get(known.len..) {
                Some(suffix) if known.len < text.len() => {
                    TailRead::Suffix(new_string(py, suffix), text.len())
                }
                _ => TailRead::Earlier,
            },
            None => TailRead::Whole(new_string(py, text), text.len()),
        });
        let (string, len) = match (read, known) {
            // Not a string, or an earlier state of the memo's: built as before, and the memo's
            // string (if of this place) stays for the reads of later events.
            (None | Some(TailRead::Earlier), known) => {
                self.tail = known;
                return Ok(None);
            }
            (Some(TailRead::Same), Some(known)) => (known.string.into_bound(py), known.len),
            (Some(TailRead::Suffix(suffix, len)), Some(known)) => {
                (append_str(known.string.into_bound(py), &suffix)?, len)
            }
            (Some(TailRead::Whole(string, len)), _) => (string, len),
            (Some(TailRead::Same | TailRead::Suffix(..)), None) => return Ok(None),
        };
        self.tail = Some(TailString {
            string: string.clone().unbind(),
            place,
            len,
        });
        Ok(Some(string))
    }

    /// Brings the memo of `level`, the open container at `depth`, up to its completed children
    /// (a memo of another container at that depth is replaced).
    fn sync(&mut self, py: Python<'_>, depth: usize, level: OpenLevel<'_>) -> PyResult<()> {
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
                children: children.unbind(),
                handed: None,
            });
            return Ok(());
        };
        if memo.len < level.len() {
            if let Err(e) = add_children(py, memo.children.bind(py), level, memo.len) {
                // The memo may hold some of the new children: forget it rather than trust it.
                self.levels.truncate(depth);
                return Err(e);
            }
            memo.len = level.len();
        }
        Ok(())
    }

    /// Whether the list handed out for `level` (at `depth`, memo in sync) can be extended in
    /// place into its value: nobody but the memo, and the parent list when that is reused too
    /// (`parent_reused`), holds it, so no one can see it change; it is not ahead of `level`
    /// (an earlier event read after a later one); and it is exactly as it was handed: its
    /// length, and its completed items the memo's children, compared as one array of pointers
    /// (O(completed), but a few instructions per hundred items, against copying and releasing
    /// a reference per item).
    fn reusable(
        &self,
        py: Python<'_>,
        depth: usize,
        level: OpenLevel<'_>,
        parent_reused: bool,
    ) -> bool {
        let Some(memo) = self.levels.get(depth) else {
            return false;
        };
        let Some(handed) = &memo.handed else {
            return false;
        };
        if level.is_object() || memo.id != level.id() || handed.completed > level.len() {
            return false;
        }
        let holders = if parent_reused { 2 } else { 1 };
        // SAFETY: the GIL is held (`py`) and the memo holds a reference to the list, so the
        // pointer is to a live object; reading its count has no other effect.
        if unsafe { ffi::Py_REFCNT(handed.list.as_ptr()) } != holders {
            return false;
        }
        if parent_reused {
            // The second holder must be the parent list, as its tail item (a caller may have
            // put this list elsewhere and the parent's tail may be something else).
            let parent_tail = depth
                .checked_sub(1)
                .and_then(|up| self.levels.get(up))
                .and_then(|up| up.handed.as_ref())
                .filter(|up| up.tail)
                .and_then(|up| last_item(up.list.bind(py)));
            if parent_tail != Some(handed.list.as_ptr()) {
                return false;
            }
        }
        let list = handed.list.bind(py);
        if list.len() != handed.completed + usize::from(handed.tail) {
            return false;
        }
        match memo.children.bind(py).cast::<PyList>() {
            Ok(children) => same_items(list, children, handed.completed),
            Err(_) => false,
        }
    }
}

impl LevelMemo {
    /// The handed list, its tail item dropped and the children completed since it was handed
    /// (up to `len`) appended. Only after [`PartialMemo::reusable`] said yes.
    fn extend_handed<'py>(&mut self, py: Python<'py>, len: usize) -> PyResult<Bound<'py, PyAny>> {
        let Some(handed) = self.handed.as_mut() else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "parsed_arguments: no list to extend",
            ));
        };
        let list = handed.list.bind(py).clone();
        if handed.tail {
            list.del_item(handed.completed)?;
            handed.tail = false;
        }
        let children = self.children.bind(py).cast::<PyList>()?;
        for i in handed.completed..len {
            list.append(children.get_item(i)?)?;
            handed.completed = i + 1;
        }
        Ok(list.into_any())
    }

    /// A new list or dict of the completed children of `level` (this memo's container, in
    /// sync); a list becomes the handed one.
    fn fresh<'py>(&mut self, py: Python<'py>, level: OpenLevel<'_>) -> PyResult<Bound<'py, PyAny>> {
        self.handed = None;
        let children = self.children.bind(py);
        if self.len > level.len() && level.is_object() {
            // An earlier event of the call, read after a later one: the memo's dict may hold a
            // later value of a repeated key.
            return fresh_children(py, level);
        }
        let container = copy(children, level.len())?;
        if let Ok(list) = container.cast::<PyList>() {
            self.handed = Some(Handed {
                list: list.clone().unbind(),
                completed: level.len(),
                tail: false,
            });
        }
        Ok(container)
    }
}

/// The last item of `list`, as a pointer (for an identity check only).
fn last_item(list: &Bound<'_, PyList>) -> Option<*mut ffi::PyObject> {
    let index = list.len().checked_sub(1)?;
    list.get_item(index).ok().map(|item| item.as_ptr())
}

/// Whether the first `n` items of `a` and of `b` are the same objects.
fn same_items(a: &Bound<'_, PyList>, b: &Bound<'_, PyList>, n: usize) -> bool {
    if a.len() < n || b.len() < n {
        return false;
    }
    if n == 0 {
        return true;
    }
    // SAFETY: the GIL is held (both lists are bound) and nothing here runs Python code, so
    // neither list changes during the compare. Both are `list` objects (`Bound<PyList>`, an
    // exact or subclass instance, which shares `PyListObject`'s layout; this crate is not
    // built for the limited API), and both hold at least `n > 0` items (checked above), so
    // each `ob_item` points to at least `n` initialised item pointers. They are read as
    // integers of the same size, only compared, never dereferenced.
    unsafe {
        let items = |list: &Bound<'_, PyList>| {
            let raw = (*list.as_ptr().cast::<ffi::PyListObject>()).ob_item;
            std::slice::from_raw_parts(raw.cast::<usize>().cast_const(), n)
        };
        items(a) == items(b)
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

#[cfg(test)]
mod tests {
    use super::{head_words, HEAD_BYTES};

    /// The loads give what copying the head into a zeroed buffer gives, at every length.
    #[test]
    fn head_words_are_the_zero_padded_head() {
        let text: Vec<u8> = (1..=70u8).map(|i| i.wrapping_mul(37) | 1).collect();
        for len in 0..=text.len() {
            let bytes = &text[..len];
            let mut padded = [0u8; HEAD_BYTES];
            let n = len.min(HEAD_BYTES);
            padded[..n].copy_from_slice(&bytes[..n]);
            let (a, b) = padded.split_at(8);
            let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or_default());
            assert_eq!(head_words(bytes), (word(a), word(b)), "{len}");
        }
    }
}
