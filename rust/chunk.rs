//! Decodes one `data:` payload into a [`Chunk`]: a view of a `chat.completion.chunk` that
//! borrows every escape-free string from the payload.
//!
//! The scanner knows the chunk schema, so it checks types as it reads, skips what is dropped
//! (`obfuscation`) without building it, and builds owned [`Value`]s only for keys it does not
//! know. Key order does not matter; a duplicate key replaces the earlier one (as in orjson).

use std::borrow::Cow;

use crate::error::DecodeKind;
use crate::json::{JsonError, Reader};
use crate::value::{Map, Value};

/// A chunk field that may be absent, explicitly null, or set.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    pub fn set(&self) -> Option<&T> {
        match self {
            Field::Set(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
}

pub type Str<'a> = Cow<'a, str>;
pub type Extras<'a> = indexmap::IndexMap<Str<'a>, Value>;

#[derive(Debug, Default)]
pub struct Chunk<'a> {
    pub id: Field<Str<'a>>,
    pub model: Field<Str<'a>>,
    /// The integer's JSON text.
    pub created: Field<&'a str>,
    pub system_fingerprint: Field<Str<'a>>,
    pub service_tier: Field<Str<'a>>,
    pub choices: Vec<ChoiceDelta<'a>>,
    pub usage: Field<Map>,
    /// Other top-level keys, in order, duplicates removed (last wins).
    pub extras: Extras<'a>,
    /// A non-null `error` value, or the whole payload when `"object": "error"`.
    pub error: Option<Value>,
}

#[derive(Debug, Default)]
pub struct ChoiceDelta<'a> {
    pub index: u64,
    /// Payload position of the index value, for limit errors.
    pub index_pos: usize,
    pub delta: Option<Delta<'a>>,
    pub finish_reason: Field<Str<'a>>,
    pub logprobs: Field<Logprobs>,
    pub extras: Extras<'a>,
}

#[derive(Debug, Default)]
pub struct Logprobs {
    pub content: Option<Vec<Value>>,
    pub refusal: Option<Vec<Value>>,
    pub extras: Map,
}

#[derive(Debug)]
pub enum Content<'a> {
    Text(Str<'a>),
    Parts(Vec<Value>),
}

#[derive(Debug, Default)]
pub struct Delta<'a> {
    pub role: Option<Str<'a>>,
    pub content: Option<Content<'a>>,
    pub refusal: Option<Str<'a>>,
    pub tool_calls: Vec<ToolCallDelta<'a>>,
    pub function_call: Option<FunctionCallDelta<'a>>,
    pub audio: Option<Map>,
    /// Other delta keys with non-null values, in order (last wins on duplicates).
    pub extras: Extras<'a>,
}

#[derive(Debug, Default)]
pub struct ToolCallDelta<'a> {
    pub index: Option<u64>,
    pub index_pos: usize,
    pub id: Option<Str<'a>>,
    pub kind: Option<Str<'a>>,
    pub name: Option<Str<'a>>,
    pub arguments: Option<Str<'a>>,
    pub function_extras: Extras<'a>,
    pub extras: Extras<'a>,
}

#[derive(Debug, Default)]
pub struct FunctionCallDelta<'a> {
    pub name: Option<Str<'a>>,
    pub arguments: Option<Str<'a>>,
    pub extras: Extras<'a>,
}

type R<T> = Result<T, DecodeKind>;

fn syntax(e: JsonError) -> DecodeKind {
    DecodeKind::Syntax(e)
}

fn schema<T>(field: &'static str, expected: &'static str, pos: usize) -> R<T> {
    Err(DecodeKind::Schema {
        field,
        expected,
        pos,
    })
}

/// Inserting an existing key replaces its value in place, as a duplicate key in a JSON object.
fn add_extra<'a>(extras: &mut Extras<'a>, key: Str<'a>, value: Value) {
    extras.insert(key, value);
}

fn string_or_null<'a>(r: &mut Reader<'a>, field: &'static str) -> R<Field<Str<'a>>> {
    if let Some(s) = r.take_string().map_err(syntax)? {
        return Ok(Field::Set(s));
    }
    if r.take_null().map_err(syntax)? {
        return Ok(Field::Null);
    }
    let pos = r.pos();
    // Validate the value first, so a syntax error inside it wins over the type error.
    r.skip_value().map_err(syntax)?;
    schema(field, "a string or null", pos)
}

fn opt_string<'a>(r: &mut Reader<'a>, field: &'static str) -> R<Option<Str<'a>>> {
    Ok(match string_or_null(r, field)? {
        Field::Set(s) => Some(s),
        _ => None,
    })
}

/// Integer text within i64/u64 (what orjson returns as an int).
fn int_text(text: &str) -> bool {
    !text.contains(['.', 'e', 'E']) && (text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok())
}

fn index_or_null(r: &mut Reader<'_>, field: &'static str) -> R<Option<(u64, usize)>> {
    const EXPECTED: &str = "a non-negative integer";
    let pos = {
        r.peek();
        r.pos()
    };
    if let Some(text) = r.take_number().map_err(syntax)? {
        // "-0" is the integer 0, as in Python.
        let digits = text.strip_prefix('-').filter(|d| d.bytes().all(|b| b == b'0'));
        if let Some(_zero) = digits {
            return Ok(Some((0, pos)));
        }
        if !int_text(text) {
            return schema(field, EXPECTED, pos);
        }
        return match text.parse::<u64>() {
            Ok(n) => Ok(Some((n, pos))),
            Err(_) => schema(field, EXPECTED, pos),
        };
    }
    if r.take_null().map_err(syntax)? {
        return Ok(None);
    }
    r.skip_value().map_err(syntax)?;
    schema(field, EXPECTED, pos)
}

fn object_or_null(r: &mut Reader<'_>, field: &'static str) -> R<bool> {
    if r.begin_object().map_err(syntax)? {
        return Ok(true);
    }
    if r.take_null().map_err(syntax)? {
        return Ok(false);
    }
    let pos = r.pos();
    r.skip_value().map_err(syntax)?;
    schema(field, "an object or null", pos)
}

fn array_or_null(r: &mut Reader<'_>, field: &'static str) -> R<bool> {
    if r.begin_array().map_err(syntax)? {
        return Ok(true);
    }
    if r.take_null().map_err(syntax)? {
        return Ok(false);
    }
    let pos = r.pos();
    r.skip_value().map_err(syntax)?;
    schema(field, "an array or null", pos)
}

fn value_array_or_null(r: &mut Reader<'_>, field: &'static str) -> R<Option<Vec<Value>>> {
    let pos = {
        r.peek();
        r.pos()
    };
    match r.read_value().map_err(syntax)? {
        Value::Array(items) => Ok(Some(items)),
        Value::Null => Ok(None),
        _ => schema(field, "an array or null", pos),
    }
}

fn map_or_null(r: &mut Reader<'_>, field: &'static str) -> R<Field<Map>> {
    let pos = {
        r.peek();
        r.pos()
    };
    match r.read_value().map_err(syntax)? {
        Value::Object(m) => Ok(Field::Set(m)),
        Value::Null => Ok(Field::Null),
        _ => schema(field, "an object or null", pos),
    }
}

/// Decodes one payload. `max_depth` bounds nesting (the top-level object is depth 1).
pub fn decode(payload: &[u8], max_depth: usize) -> R<Chunk<'_>> {
    let mut r = Reader::new(payload, max_depth);
    let pos = {
        r.peek();
        r.pos()
    };
    if !r.begin_object().map_err(syntax)? {
        r.skip_value().map_err(syntax)?;
        r.end().map_err(syntax)?;
        return schema("the payload", "a JSON object", pos);
    }
    let mut chunk = Chunk::default();
    let mut object_is_error = false;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        match key.as_ref() {
            "id" => chunk.id = string_or_null(&mut r, "id")?,
            "model" => chunk.model = string_or_null(&mut r, "model")?,
            "created" => chunk.created = created(&mut r)?,
            "system_fingerprint" => {
                chunk.system_fingerprint = string_or_null(&mut r, "system_fingerprint")?
            }
            "service_tier" => chunk.service_tier = string_or_null(&mut r, "service_tier")?,
            "choices" => chunk.choices = choices(&mut r)?,
            "usage" => chunk.usage = map_or_null(&mut r, "usage")?,
            "obfuscation" => r.skip_value().map_err(syntax)?,
            "object" => {
                // A chunk's own `object` is not checked (Azure sends "", Perplexity a "done"
                // marker), except the one value that announces an error frame.
                match r.take_string().map_err(syntax)? {
                    Some(s) => object_is_error = s == "error",
                    None => r.skip_value().map_err(syntax)?,
                }
            }
            "error" => {
                let v = r.read_value().map_err(syntax)?;
                chunk.error = if v.is_null() { None } else { Some(v) };
            }
            _ => {
                let v = r.read_value().map_err(syntax)?;
                add_extra(&mut chunk.extras, key, v);
            }
        }
    }
    r.end().map_err(syntax)?;
    if object_is_error && chunk.error.is_none() {
        chunk.error = Some(crate::json::parse(payload, max_depth).map_err(syntax)?);
    }
    Ok(chunk)
}

fn created<'a>(r: &mut Reader<'a>) -> R<Field<&'a str>> {
    let pos = {
        r.peek();
        r.pos()
    };
    if let Some(text) = r.take_number().map_err(syntax)? {
        if int_text(text) {
            return Ok(Field::Set(text));
        }
        return schema("created", "an integer or null", pos);
    }
    if r.take_null().map_err(syntax)? {
        return Ok(Field::Null);
    }
    r.skip_value().map_err(syntax)?;
    schema("created", "an integer or null", pos)
}

fn choices<'a>(r: &mut Reader<'a>) -> R<Vec<ChoiceDelta<'a>>> {
    let mut out = Vec::new();
    if !array_or_null(r, "choices")? {
        return Ok(out);
    }
    let mut first = true;
    while r.next_element(&mut first).map_err(syntax)? {
        out.push(choice(r)?);
    }
    Ok(out)
}

fn choice<'a>(r: &mut Reader<'a>) -> R<ChoiceDelta<'a>> {
    let pos = {
        r.peek();
        r.pos()
    };
    if !r.begin_object().map_err(syntax)? {
        r.skip_value().map_err(syntax)?;
        return schema("a choice", "an object", pos);
    }
    let mut c = ChoiceDelta {
        index_pos: pos,
        ..ChoiceDelta::default()
    };
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        match key.as_ref() {
            "index" => {
                let at = {
                    r.peek();
                    r.pos()
                };
                match index_or_null(r, "choice index")? {
                    Some((n, p)) => {
                        c.index = n;
                        c.index_pos = p;
                    }
                    None => return schema("choice index", "a non-negative integer", at),
                }
            }
            "delta" => c.delta = if object_or_null(r, "delta")? { Some(delta(r)?) } else { None },
            "finish_reason" => c.finish_reason = string_or_null(r, "finish_reason")?,
            "logprobs" => {
                c.logprobs = if object_or_null(r, "logprobs")? {
                    Field::Set(logprobs(r)?)
                } else {
                    Field::Null
                }
            }
            _ => {
                let v = r.read_value().map_err(syntax)?;
                add_extra(&mut c.extras, key, v);
            }
        }
    }
    Ok(c)
}

fn logprobs(r: &mut Reader<'_>) -> R<Logprobs> {
    let mut lp = Logprobs::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        match key.as_ref() {
            "content" => lp.content = value_array_or_null(r, "logprobs.content")?,
            "refusal" => lp.refusal = value_array_or_null(r, "logprobs.refusal")?,
            _ => {
                let v = r.read_value().map_err(syntax)?;
                lp.extras.insert(key.into_owned(), v);
            }
        }
    }
    Ok(lp)
}

fn delta<'a>(r: &mut Reader<'a>) -> R<Delta<'a>> {
    let mut d = Delta::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        match key.as_ref() {
            "content" => {
                d.content = if let Some(s) = r.take_string().map_err(syntax)? {
                    Some(Content::Text(s))
                } else {
                    value_array_or_null(r, "content")
                        .map_err(|e| retag(e, "content", "a string, an array or null"))?
                        .map(Content::Parts)
                }
            }
            "role" => d.role = opt_string(r, "role")?,
            // Only repeats the choice index (some servers send it); not a message key.
            "index" => r.skip_value().map_err(syntax)?,
            "refusal" => d.refusal = opt_string(r, "refusal")?,
            "tool_calls" => {
                d.tool_calls.clear();
                if array_or_null(r, "tool_calls")? {
                    let mut first_el = true;
                    while r.next_element(&mut first_el).map_err(syntax)? {
                        d.tool_calls.push(tool_call(r)?);
                    }
                }
            }
            "function_call" => {
                d.function_call = if object_or_null(r, "function_call")? {
                    Some(function_call(r)?)
                } else {
                    None
                }
            }
            "audio" => {
                d.audio = match map_or_null(r, "audio")? {
                    Field::Set(m) => Some(m),
                    _ => None,
                }
            }
            _ => {
                let v = r.read_value().map_err(syntax)?;
                if v.is_null() {
                    // A null increment changes nothing; drop an earlier duplicate so the
                    // last occurrence wins.
                    d.extras.shift_remove(&key);
                } else {
                    add_extra(&mut d.extras, key, v);
                }
            }
        }
    }
    Ok(d)
}

fn retag(e: DecodeKind, field: &'static str, expected: &'static str) -> DecodeKind {
    match e {
        DecodeKind::Schema { pos, .. } => DecodeKind::Schema {
            field,
            expected,
            pos,
        },
        other => other,
    }
}

fn tool_call<'a>(r: &mut Reader<'a>) -> R<ToolCallDelta<'a>> {
    let pos = {
        r.peek();
        r.pos()
    };
    if !r.begin_object().map_err(syntax)? {
        r.skip_value().map_err(syntax)?;
        return schema("a tool call", "an object", pos);
    }
    let mut t = ToolCallDelta {
        index_pos: pos,
        ..ToolCallDelta::default()
    };
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        match key.as_ref() {
            "index" => match index_or_null(r, "tool call index")? {
                Some((n, p)) => {
                    t.index = Some(n);
                    t.index_pos = p;
                }
                None => t.index = None,
            },
            "id" => t.id = opt_string(r, "tool call id")?,
            "type" => t.kind = opt_string(r, "tool call type")?,
            "function" => {
                if object_or_null(r, "function")? {
                    let mut first_key = true;
                    while let Some(fk) = r.next_key(&mut first_key).map_err(syntax)? {
                        match fk.as_ref() {
                            "name" => t.name = opt_string(r, "function.name")?,
                            "arguments" => t.arguments = opt_string(r, "function.arguments")?,
                            _ => {
                                let v = r.read_value().map_err(syntax)?;
                                add_extra(&mut t.function_extras, fk, v);
                            }
                        }
                    }
                }
            }
            _ => {
                let v = r.read_value().map_err(syntax)?;
                add_extra(&mut t.extras, key, v);
            }
        }
    }
    Ok(t)
}

fn function_call<'a>(r: &mut Reader<'a>) -> R<FunctionCallDelta<'a>> {
    let mut f = FunctionCallDelta::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        match key.as_ref() {
            "name" => f.name = opt_string(r, "function_call.name")?,
            "arguments" => f.arguments = opt_string(r, "function_call.arguments")?,
            _ => {
                let v = r.read_value().map_err(syntax)?;
                add_extra(&mut f.extras, key, v);
            }
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_field(payload: &str) -> &'static str {
        match decode(payload.as_bytes(), 128) {
            Err(DecodeKind::Schema { field, .. }) => field,
            other => panic!("{payload}: expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn decodes_a_text_chunk_borrowing_its_strings() {
        let p = br#"{"id":"c1","object":"chat.completion.chunk","created":17,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"xx"}"#;
        let c = match decode(p, 128) {
            Ok(c) => c,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(c.id.set().map(|s| s.as_ref()), Some("c1"));
        assert!(matches!(c.id, Field::Set(Cow::Borrowed(_))));
        assert_eq!(c.created, Field::Set("17"));
        assert_eq!(c.choices.len(), 1);
        let d = c.choices[0].delta.as_ref();
        assert!(matches!(d.and_then(|d| d.content.as_ref()), Some(Content::Text(t)) if t == "Hi"));
        assert_eq!(c.usage, Field::Null);
        assert!(c.extras.is_empty(), "obfuscation must be dropped");
    }

    #[test]
    fn wrong_types_are_schema_errors() {
        assert_eq!(schema_field(r#"{"choices":[{"delta":{"content":5}}]}"#), "content");
        assert_eq!(schema_field(r#"{"choices":[{"delta":{"tool_calls":{}}}]}"#), "tool_calls");
        assert_eq!(
            schema_field(r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":{}}}]}}]}"#),
            "function.arguments"
        );
        assert_eq!(schema_field(r#"{"usage":"lots"}"#), "usage");
        assert_eq!(schema_field(r#"{"choices":[{"index":-1}]}"#), "choice index");
        assert_eq!(schema_field(r#"{"choices":[{"index":true}]}"#), "choice index");
        assert_eq!(schema_field(r#"{"choices":[{"index":1.0}]}"#), "choice index");
        assert_eq!(schema_field(r#"{"choices":[{"index":null}]}"#), "choice index");
        assert_eq!(schema_field(r#"{"choices":[{"index":18446744073709551616}]}"#), "choice index");
        assert_eq!(schema_field(r#"{"created":1.5}"#), "created");
        assert_eq!(schema_field(r#"[1]"#), "the payload");
        assert_eq!(schema_field(r#"{"choices":"x"}"#), "choices");
    }

    #[test]
    fn schema_error_position_is_the_value_start() {
        let p = r#"{"choices":[{"delta":{"content": 5}}]}"#;
        match decode(p.as_bytes(), 128) {
            Err(DecodeKind::Schema { pos, .. }) => assert_eq!(&p[pos..pos + 1], "5"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_index_is_read_not_allocated() {
        let c = decode(br#"{"choices":[{"index":4294967295,"delta":{}}]}"#, 128);
        assert_eq!(c.ok().map(|c| c.choices[0].index), Some(4_294_967_295));
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let c = decode(br#"{"id":"a","id":"b","x":1,"x":2}"#, 128).ok();
        let c = c.unwrap_or_default();
        assert_eq!(c.id.set().map(|s| s.as_ref()), Some("b"));
        assert_eq!(c.extras.len(), 1);
        assert_eq!(c.extras.get("x"), Some(&Value::Number("2".into())));
    }

    #[test]
    fn error_frames_are_recognised() {
        let c = decode(br#"{"error":{"message":"boom"}}"#, 128).ok().unwrap_or_default();
        assert!(matches!(c.error, Some(Value::Object(_))));
        let c = decode(br#"{"object":"error","message":"x"}"#, 128).ok().unwrap_or_default();
        assert!(matches!(&c.error, Some(Value::Object(m)) if m.get("message") == Some(&Value::string("x"))));
        let c = decode(br#"{"error":null}"#, 128).ok().unwrap_or_default();
        assert!(c.error.is_none());
    }

    #[test]
    fn many_unknown_keys_stay_linear() {
        let mut p = String::from("{");
        for i in 0..20_000 {
            p.push_str(&format!("\"k{i}\":{i},"));
        }
        p.push_str("\"k0\":-1}");
        let c = decode(p.as_bytes(), 128).ok().unwrap_or_default();
        assert_eq!(c.extras.len(), 20_000);
        assert_eq!(c.extras.get("k0"), Some(&Value::Number("-1".into())));
    }
}
