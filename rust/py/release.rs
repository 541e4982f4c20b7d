//! Converting a completion whose long texts are freed while they are copied.
//!
//! A completion is mostly its long texts (a tool call's arguments, a message's content). A
//! plain conversion holds each of them twice at the end of it: the Rust `String` and the new
//! Python `str`. Here a text of at least [`LONG_BYTES`] is copied into a Python string of its
//! known length block by block, and the pages of every block already copied are handed back to
//! the operating system at once, so the peak is about one copy plus a block.
//!
//! The same goes for the JSON text of `assemble_json` and `finish_json`: a long text is escaped
//! into the `bytes` block by block, its pages freed behind it.
//!
//! The texts are gone from the value afterwards. `assemble` drops the value anyway; a
//! `StreamParser` keeps where they went ([`Taken`]: the Python strings, or their places in the
//! `bytes`) and puts them back into its state only when a later call reads that state
//! ([`Taken::put_back`]).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyStringData};

use crate::json::reader::Reader;
use crate::json::value::Value;
use crate::json::writer::{self, Sink};

use super::convert::to_py;

/// Texts at least this long are copied with their pages freed as they go; shorter ones are
/// converted as usual (the system calls would cost more than the memory is worth).
pub(super) const LONG_BYTES: usize = 64 * 1024;

/// Bytes copied between two releases of the pages behind them.
const BLOCK_BYTES: usize = 64 * 1024;

/// The long texts a conversion took out of a value, each with its place: the index of its
/// string among the value's strings in depth-first order.
#[derive(Default)]
pub struct Taken {
    texts: Vec<(usize, Text)>,
    /// The `bytes` that [`json_bytes_taking`] wrote the texts of [`Text::Json`] into.
    json: Option<Py<PyBytes>>,
}

/// Where a taken text is now.
enum Text {
    /// Moved into this Python string (`finish`).
    Str(Py<PyString>),
    /// Written, quoted and escaped, at this byte range of [`Taken::json`] (`finish_json`):
    /// decoded back when put back, so the `bytes` is the only copy meanwhile.
    Json(std::ops::Range<usize>),
}

impl Taken {
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Writes the texts back into `v`, a value of the same shape as the one they were taken
    /// from (the state they were taken from, not changed since).
    pub fn put_back(&self, py: Python<'_>, v: &mut Value) -> PyResult<()> {
        let json = self
            .json
            .as_ref()
            .map_or(&[][..], |b| b.bind(py).as_bytes());
        let mut wanted = self.texts.iter().peekable();
        fill(py, v, &mut 0, &mut wanted, json)
    }
}

/// Writes the texts of `wanted` whose place `v`'s strings reach, counting from `index`;
/// `json` is the text the [`Text::Json`] ranges are in.
fn fill<'t>(
    py: Python<'_>,
    v: &mut Value,
    index: &mut usize,
    wanted: &mut std::iter::Peekable<impl Iterator<Item = &'t (usize, Text)>>,
    json: &[u8],
) -> PyResult<()> {
    match v {
        Value::String(s) => {
            if let Some((_, text)) = wanted.next_if(|(i, _)| i == index) {
                *s = match text {
                    Text::Str(text) => {
                        // SAFETY: the GIL is held and `text` is a live `str`, which nothing
                        // changes while its data is read (a Python `str` is immutable).
                        let data = unsafe { text.bind(py).data() }?;
                        decode(data)?
                    }
                    Text::Json(range) => decode_json(json.get(range.clone()).unwrap_or_default())?,
                };
            }
            *index += 1;
        }
        Value::Array(items) => {
            for item in items {
                fill(py, item, index, wanted, json)?;
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                fill(py, item, index, wanted, json)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The text of a JSON string (quotes included) that [`write_text_taking`] wrote.
fn decode_json(quoted: &[u8]) -> PyResult<String> {
    match Reader::new(quoted, 1).take_string() {
        Ok(Some(text)) => Ok(text.into_owned()),
        _ => Err(pyo3::exceptions::PyValueError::new_err(
            "a taken text is not a JSON string",
        )),
    }
}

/// The text of a Python string's data, by its kind (one of the strings [`take_text`] made,
/// so it holds no lone surrogate).
fn decode(data: PyStringData<'_>) -> PyResult<String> {
    let chars = |units: &mut dyn Iterator<Item = u32>| -> PyResult<String> {
        units
            .map(|u| {
                char::from_u32(u).ok_or_else(|| {
                    pyo3::exceptions::PyValueError::new_err("a lone surrogate in a taken text")
                })
            })
            .collect()
    };
    match data {
        // Latin-1: every byte is the character of that number.
        PyStringData::Ucs1(bytes) => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        PyStringData::Ucs2(units) => chars(&mut units.iter().map(|&u| u32::from(u))),
        PyStringData::Ucs4(units) => chars(&mut units.iter().copied()),
    }
}

/// Whether `v` holds a string of at least [`LONG_BYTES`].
fn has_long_text(v: &Value) -> bool {
    match v {
        Value::String(s) => s.len() >= LONG_BYTES,
        Value::Array(items) => items.iter().any(has_long_text),
        Value::Object(map) => map.iter().any(|(_, v)| has_long_text(v)),
        _ => false,
    }
}

/// How many strings `v` holds (the places [`Taken`] counts).
fn strings_in(v: &Value) -> usize {
    match v {
        Value::String(_) => 1,
        Value::Array(items) => items.iter().map(strings_in).sum(),
        Value::Object(map) => map.iter().map(|(_, v)| strings_in(v)).sum(),
        _ => 0,
    }
}

/// `v` as a Python object, as [`to_py`] builds it, with its long texts moved out of `v`
/// (each left empty) and recorded in `taken`.
pub fn to_py_taking<'py>(
    py: Python<'py>,
    v: &mut Value,
    taken: &mut Taken,
) -> PyResult<Bound<'py, PyAny>> {
    let mut index = 0;
    build(py, v, &mut index, taken)
}

fn build<'py>(
    py: Python<'py>,
    v: &mut Value,
    index: &mut usize,
    taken: &mut Taken,
) -> PyResult<Bound<'py, PyAny>> {
    if !has_long_text(v) {
        *index += strings_in(v);
        return to_py(py, v);
    }
    Ok(match v {
        Value::String(s) => {
            let text = take_text(py, s)?;
            taken.texts.push((*index, Text::Str(text.clone().unbind())));
            *index += 1;
            text.into_any()
        }
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(build(py, item, index, taken)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map.iter_mut() {
                let built = build(py, item, index, taken)?;
                dict.set_item(PyString::new(py, k), built)?;
            }
            dict.into_any()
        }
        _ => to_py(py, v)?,
    })
}

/// `s` as a new Python string, `s` left empty; the pages of `s` are released as they are
/// copied, so the two are never both whole in memory.
fn take_text<'py>(py: Python<'py>, s: &mut String) -> PyResult<Bound<'py, PyString>> {
    let (chars, max_char) = if s.is_ascii() {
        (s.len(), 127)
    } else {
        s.chars()
            .fold((0, 0), |(n, max), c| (n + 1, max.max(u32::from(c))))
    };
    let len = ffi::Py_ssize_t::try_from(chars)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("string too long"))?;
    // Spare capacity past the text may hold pages touched by an earlier use of the memory.
    let _ = release_pages(s, s.len(), s.capacity());
    // SAFETY: the GIL is held. `PyUnicode_New` returns a new compact string of `len`
    // characters whose kind fits `max_char` (the largest character of `s`), or null with an
    // exception set (raised by `from_owned_ptr_or_err`). Its data is filled below before the
    // string is handed out.
    let string: Bound<'py, PyString> =
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyUnicode_New(len, max_char))? }
            .cast_into()?;
    let obj = string.as_ptr();
    // SAFETY: `obj` is a compact string just made (not yet shared).
    let (kind, data) = unsafe { (ffi::PyUnicode_KIND(obj), ffi::PyUnicode_DATA(obj)) };
    let mut at = 0; // bytes of `s` copied
    let mut released = 0; // bytes of `s` whose whole pages are released
    let mut written = 0; // characters written
    while at < s.len() {
        let mut end = (at + BLOCK_BYTES).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        let block = s.get(at..end).unwrap_or_default();
        if max_char < 128 {
            // SAFETY: ASCII: one byte per character, and `written + block.len()` is at most
            // `len`, the string's length, so the copy stays in its data area.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    block.as_ptr(),
                    data.cast::<u8>().add(written),
                    block.len(),
                );
            }
            written += block.len();
        } else {
            for c in block.chars() {
                let c = u32::from(c);
                // SAFETY: `written` < `len` (the characters of `s` were counted), and each
                // character is stored at the width of the string's kind, which fits
                // `max_char` and so every character (the truncations are lossless).
                unsafe {
                    match kind {
                        ffi::PyUnicode_1BYTE_KIND => *data.cast::<u8>().add(written) = c as u8,
                        ffi::PyUnicode_2BYTE_KIND => *data.cast::<u16>().add(written) = c as u16,
                        _ => *data.cast::<u32>().add(written) = c,
                    }
                }
                written += 1;
            }
        }
        released = release_pages(s, released, end);
        at = end;
    }
    *s = String::new();
    Ok(string)
}

/// Hands the whole pages within bytes `from..to` of `s`'s buffer back to the operating
/// system: they read as zeros afterwards (still valid UTF-8), so only bytes already copied
/// out or past the text may be given. Returns where the released pages end (`from` if none
/// were), where the next release of the bytes after these starts.
#[cfg(target_os = "linux")]
fn release_pages(s: &mut String, from: usize, to: usize) -> usize {
    const PAGE: usize = 4096;
    // SAFETY: `as_mut_vec` is used only for its buffer pointer; nothing is written through it.
    let base = unsafe { s.as_mut_vec() }.as_mut_ptr() as usize;
    let start = (base + from).next_multiple_of(PAGE);
    let end = (base + to) / PAGE * PAGE;
    if end > start {
        // SAFETY: `start..end` lies within the buffer `s` owns (`to` is at most its
        // capacity). MADV_DONTNEED on private anonymous memory (what the allocator hands out)
        // only replaces those pages with zero pages; zeros are valid UTF-8 and the bytes given
        // are no longer read. Should the kernel refuse (a larger page size), nothing changes.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
        return end - base;
    }
    from
}

#[cfg(not(target_os = "linux"))]
fn release_pages(_s: &mut String, from: usize, _to: usize) -> usize {
    from
}

/// Writes into the data of a new `bytes` object of the measured size ([`writer::measure`]),
/// left uninitialised by `CPython` so that its pages are touched only as the text reaches them
/// (a zeroed buffer would hold the whole text's room before the first byte is written). What
/// would not fit is counted, not written.
struct Fill {
    data: *mut u8,
    len: usize,
    at: usize,
}

impl Sink for Fill {
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        if self.at + bytes.len() <= self.len {
            // SAFETY: `at..at + bytes.len()` lies within the `len` bytes of `data`, the data
            // area of a `bytes` object that nothing else reads or writes yet.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data.add(self.at), bytes.len());
            }
        }
        self.at += bytes.len();
    }
    fn push(&mut self, byte: u8) {
        self.extend_from_slice(&[byte]);
    }
}

/// The compact JSON text of `v` as `bytes`, as `json_bytes` writes it, with `v`'s long texts
/// written block by block and their pages freed behind them, so the text and the value are
/// never both whole in memory. Each text taken is recorded in `taken` with its place in the
/// `bytes`, which `taken` keeps to decode it back from ([`Taken::put_back`]); a caller that
/// drops `v` next passes a `Taken` it drops too.
pub fn json_bytes_taking<'py>(
    py: Python<'py>,
    v: &mut Value,
    taken: &mut Taken,
) -> PyResult<Bound<'py, PyBytes>> {
    let len = writer::measure(v);
    let size = ffi::Py_ssize_t::try_from(len)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("JSON text too long"))?;
    // SAFETY: the GIL is held. A null source makes `PyBytes_FromStringAndSize` return a new
    // `bytes` of `size` uninitialised bytes (NUL-terminated), or null with an exception set
    // (raised by `from_owned_ptr_or_err`). Every byte is written below before it is handed out.
    let bytes: Bound<'py, PyBytes> = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), size))?
    }
    .cast_into()?;
    // SAFETY: a `bytes` object just made, not yet shared.
    let data = unsafe { ffi::PyBytes_AsString(bytes.as_ptr()) }.cast::<u8>();
    let mut out = Fill { data, len, at: 0 };
    let taken_before = taken.texts.len();
    write_taking(v, &mut out, &mut 0, taken);
    if out.at < len {
        // Not reached: `measure` counts what is written. Should they disagree, the rest is
        // zeroed rather than left uninitialised.
        // SAFETY: `at..len` lies within the data area.
        unsafe { std::ptr::write_bytes(data.add(out.at), 0, len - out.at) };
    }
    if taken.texts.len() > taken_before {
        taken.json = Some(bytes.clone().unbind());
    }
    Ok(bytes)
}

/// [`writer::write_value`], but a long text is written in blocks and freed as it goes, and
/// recorded in `taken` with its place (`index` counts `v`'s strings as [`Taken`] does).
fn write_taking(v: &mut Value, out: &mut Fill, index: &mut usize, taken: &mut Taken) {
    if !has_long_text(v) {
        *index += strings_in(v);
        writer::write_value(v, out);
        return;
    }
    match v {
        Value::String(s) => {
            let start = out.at;
            write_text_taking(s, out);
            taken.texts.push((*index, Text::Json(start..out.at)));
            *index += 1;
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter_mut().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_taking(item, out, index, taken);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, item)) in map.iter_mut().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                writer::write_str(k, out);
                out.push(b':');
                write_taking(item, out, index, taken);
            }
            out.push(b'}');
        }
        _ => writer::write_value(v, out),
    }
}

/// `s` as a JSON string, written a block at a time, each block's pages freed once written;
/// `s` is left empty.
fn write_text_taking(s: &mut String, out: &mut Fill) {
    let _ = release_pages(s, s.len(), s.capacity());
    let mut at = 0;
    let mut released = 0;
    out.push(b'"');
    while at < s.len() {
        let mut end = (at + BLOCK_BYTES).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        // Escapes are per byte, so blocks escaped one after the other read as the whole text
        // escaped; each block is written without its quotes.
        let mut inner = Unquoted { out, opened: false };
        writer::write_str(s.get(at..end).unwrap_or_default(), &mut inner);
        out.at -= 1;
        released = release_pages(s, released, end);
        at = end;
    }
    out.push(b'"');
    *s = String::new();
}

/// A JSON string's text without its quotes: drops the opening quote [`writer::write_str`]
/// writes first; the caller steps back over the closing one.
struct Unquoted<'o> {
    out: &'o mut Fill,
    opened: bool,
}

impl Sink for Unquoted<'_> {
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn push(&mut self, byte: u8) {
        if self.opened {
            self.out.push(byte);
        } else {
            self.opened = true;
        }
    }
}
