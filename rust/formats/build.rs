//! Building a fold's result in any representation, straight from the fold's state.
//!
//! A fold that implements [`crate::formats::Fold::build_result`] walks its state once and hands
//! each piece of the result to a [`Build`]: [`ValueBuild`] makes the core's [`Value`] tree (the
//! fold's `result()`), and the bindings make their language's objects with no `Value` in
//! between (no tree of maps made, moved out of the state and back, and dropped). Both see the
//! same calls in the same order, so the two results have the same keys in the same order.

use crate::json::value::{Map, Value};

/// Makes the objects, lists and leaves of a result, in the order a fold's walk hands them over.
pub trait Build {
    /// A built value.
    type Out;
    /// An object being filled.
    type Object;
    /// A list being filled.
    type List;
    type Error;

    /// A value the fold keeps as it is shown (a tree, or validated JSON text).
    fn value(&mut self, v: &Value) -> Result<Self::Out, Self::Error>;

    fn string(&mut self, s: &str) -> Result<Self::Out, Self::Error>;

    fn null(&mut self) -> Result<Self::Out, Self::Error>;

    /// An empty object with room for `len` keys.
    fn object(&mut self, len: usize) -> Result<Self::Object, Self::Error>;

    /// Sets `key` (a key set again keeps its place and takes the new value).
    fn set(
        &mut self,
        object: &mut Self::Object,
        key: &str,
        v: Self::Out,
    ) -> Result<(), Self::Error>;

    fn end_object(&mut self, object: Self::Object) -> Self::Out;

    /// An empty list of exactly `len` items, to be pushed in order.
    fn list(&mut self, len: usize) -> Result<Self::List, Self::Error>;

    fn push(&mut self, list: &mut Self::List, v: Self::Out) -> Result<(), Self::Error>;

    /// The list, once its `len` items are pushed.
    fn end_list(&mut self, list: Self::List) -> Result<Self::Out, Self::Error>;

    /// Texts at least this long the builder would rather move out of the state than copy
    /// (the bindings hand such texts over with their memory freed as they go): a fold that
    /// holds one declines to build, and its result is taken as a [`Value`] instead.
    fn long_text(&self) -> usize {
        usize::MAX
    }
}

/// Builds the core's [`Value`] (the fold's `result()`), copying what the state holds.
pub struct ValueBuild;

impl Build for ValueBuild {
    type Out = Value;
    type Object = Map;
    type List = Vec<Value>;
    type Error = std::convert::Infallible;

    fn value(&mut self, v: &Value) -> Result<Value, Self::Error> {
        Ok(v.clone())
    }

    fn string(&mut self, s: &str) -> Result<Value, Self::Error> {
        Ok(Value::String(s.to_string()))
    }

    fn null(&mut self) -> Result<Value, Self::Error> {
        Ok(Value::Null)
    }

    fn object(&mut self, len: usize) -> Result<Map, Self::Error> {
        Ok(Map::with_capacity(len))
    }

    fn set(&mut self, object: &mut Map, key: &str, v: Value) -> Result<(), Self::Error> {
        object.insert(key.to_string(), v);
        Ok(())
    }

    fn end_object(&mut self, object: Map) -> Value {
        Value::Object(object)
    }

    fn list(&mut self, len: usize) -> Result<Vec<Value>, Self::Error> {
        Ok(Vec::with_capacity(len))
    }

    fn push(&mut self, list: &mut Vec<Value>, v: Value) -> Result<(), Self::Error> {
        list.push(v);
        Ok(())
    }

    fn end_list(&mut self, list: Vec<Value>) -> Result<Value, Self::Error> {
        Ok(Value::Array(list))
    }
}

/// The value a [`ValueBuild`] gives (it cannot fail).
pub fn built(outcome: Result<Value, std::convert::Infallible>) -> Value {
    match outcome {
        Ok(v) => v,
        Err(never) => match never {},
    }
}
