//! The delivery rule of docs/design.md "Errors and limits", written once for the framers that
//! are also offered on their own (`SseDecoder`, `EventStreamDecoder`): a call that completes
//! items and then meets an error returns those items, and the error is returned by the next
//! call (whose input is kept, unframed, behind the error). A call that completed nothing
//! returns the error at once. Either way framing resumes right after the offending part on the
//! call after the error, so nothing before or after it is lost.

use std::convert::Infallible;

use super::eventstream::{self, FrameError, RawMessage};
use super::sse::{self, LineTooLong, RawEvent};

/// A framer as [`Delivery`] drives it.
pub trait Frames {
    /// One completed item, borrowing from the framer or from the read.
    type Raw<'a>;
    type Error;

    fn with_limit(limit: usize) -> Self;
    /// Frames one read, handing each completed item to `sink`; stops at the first error, right
    /// after the part it is about.
    fn frame(&mut self, input: &[u8], sink: impl FnMut(&Self::Raw<'_>)) -> Result<(), Self::Error>;
    /// Keeps a read unframed, behind an error not reported yet.
    fn hold(&mut self, input: &[u8]);
    /// End of input: the error if ending where the input did is one.
    fn end(&mut self) -> Option<Self::Error>;
}

/// A framer with the delivery rule.
pub struct Delivery<F: Frames> {
    framer: F,
    deferred: Option<F::Error>,
}

impl<F: Frames> Delivery<F> {
    pub fn new(limit: usize) -> Self {
        Delivery {
            framer: F::with_limit(limit),
            deferred: None,
        }
    }

    /// Frames one read; `make` turns each completed item into an output item.
    pub fn feed<T>(
        &mut self,
        input: &[u8],
        make: impl FnMut(&F::Raw<'_>) -> T,
    ) -> Result<Vec<T>, F::Error> {
        if let Some(error) = self.deferred.take() {
            self.framer.hold(input);
            return Err(error);
        }
        self.frame(input, make)
    }

    /// End of input: what the held input still completes, then the framer's end-of-input
    /// error, if any. An error met after completing items waits for the next call, and the
    /// framer is not finished until that call.
    pub fn finish<T>(&mut self, make: impl FnMut(&F::Raw<'_>) -> T) -> Result<Vec<T>, F::Error> {
        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        let out = self.frame(&[], make)?;
        if self.deferred.is_some() {
            return Ok(out);
        }
        let error = self.framer.end();
        self.deliver(out, error)
    }

    pub fn framer(&self) -> &F {
        &self.framer
    }

    fn frame<T>(
        &mut self,
        input: &[u8],
        mut make: impl FnMut(&F::Raw<'_>) -> T,
    ) -> Result<Vec<T>, F::Error> {
        let mut out = Vec::new();
        let result = self.framer.frame(input, |raw| out.push(make(raw)));
        self.deliver(out, result.err())
    }

    /// The items, and the error after them for the next call; the error now if there are none.
    fn deliver<T>(&mut self, out: Vec<T>, error: Option<F::Error>) -> Result<Vec<T>, F::Error> {
        match error {
            Some(error) if out.is_empty() => Err(error),
            Some(error) => {
                self.deferred = Some(error);
                Ok(out)
            }
            None => Ok(out),
        }
    }
}

impl Frames for sse::Framer {
    type Raw<'a> = RawEvent<'a>;
    type Error = LineTooLong;

    fn with_limit(limit: usize) -> Self {
        sse::Framer::new(limit)
    }

    fn frame(
        &mut self,
        input: &[u8],
        mut sink: impl FnMut(&RawEvent<'_>),
    ) -> Result<(), LineTooLong> {
        let result = self.feed(input, |event| {
            sink(event);
            Ok::<(), Infallible>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(sse::FeedError::Sink(never)) => match never {},
            Err(sse::FeedError::LineTooLong {
                line_offset,
                limit,
                event_index,
            }) => Err(LineTooLong {
                line_offset,
                limit,
                event_index,
            }),
        }
    }

    fn hold(&mut self, input: &[u8]) {
        sse::Framer::hold(self, input);
    }

    /// An unterminated event is dropped, per spec: no error.
    fn end(&mut self) -> Option<LineTooLong> {
        self.finish();
        None
    }
}

impl Frames for eventstream::Framer {
    type Raw<'a> = RawMessage<'a>;
    type Error = FrameError;

    fn with_limit(limit: usize) -> Self {
        eventstream::Framer::new(limit)
    }

    fn frame(
        &mut self,
        input: &[u8],
        mut sink: impl FnMut(&RawMessage<'_>),
    ) -> Result<(), FrameError> {
        let result = self.feed(input, |message| {
            sink(message);
            Ok::<(), Infallible>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(eventstream::FeedError::Sink(never)) => match never {},
            Err(eventstream::FeedError::Frame(error)) => Err(error),
        }
    }

    fn hold(&mut self, input: &[u8]) {
        eventstream::Framer::hold(self, input);
    }

    /// The `Truncated` error when the input ended inside a message.
    fn end(&mut self) -> Option<FrameError> {
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items end at `;`; a `!` is an error about itself; what is held waits for the next call.
    #[derive(Default)]
    struct Semicolons {
        pending: Vec<u8>,
        ended: bool,
    }

    impl Frames for Semicolons {
        type Raw<'a> = &'a [u8];
        type Error = usize;

        fn with_limit(_: usize) -> Self {
            Semicolons::default()
        }

        fn frame(&mut self, input: &[u8], mut sink: impl FnMut(&&[u8])) -> Result<(), usize> {
            self.pending.extend_from_slice(input);
            while let Some(at) = self.pending.iter().position(|b| matches!(b, b';' | b'!')) {
                let item: Vec<u8> = self.pending.drain(..=at).collect();
                if item.last() == Some(&b'!') {
                    return Err(item.len());
                }
                sink(&&item[..item.len() - 1]);
            }
            Ok(())
        }

        fn hold(&mut self, input: &[u8]) {
            self.pending.extend_from_slice(input);
        }

        fn end(&mut self) -> Option<usize> {
            self.ended = true;
            (!self.pending.is_empty()).then_some(self.pending.len())
        }
    }

    fn text(raw: &&[u8]) -> String {
        String::from_utf8_lossy(raw).into_owned()
    }

    #[test]
    fn items_before_an_error_come_first_and_the_error_next() {
        let mut d = Delivery::<Semicolons>::new(0);
        assert_eq!(d.feed(b"a;b!c;", text), Ok(vec!["a".to_string()]));
        // The deferred error, with this read held behind it, unframed.
        assert_eq!(d.feed(b"d;", text), Err(2));
        assert_eq!(
            d.feed(b"", text),
            Ok(vec!["c".to_string(), "d".to_string()])
        );
    }

    #[test]
    fn an_error_with_nothing_before_it_comes_at_once() {
        let mut d = Delivery::<Semicolons>::new(0);
        assert_eq!(d.feed(b"x!y;", text), Err(2));
        assert_eq!(d.feed(b"", text), Ok(vec!["y".to_string()]));
    }

    #[test]
    fn finish_delivers_then_reports_the_end_error_on_the_next_call() {
        let mut d = Delivery::<Semicolons>::new(0);
        assert_eq!(d.feed(b"a", text), Ok(vec![]));
        d.framer.hold(b";tail");
        assert_eq!(d.finish(text), Ok(vec!["a".to_string()]));
        assert!(d.framer().ended);
        assert_eq!(d.finish(text), Err(4));
    }

    #[test]
    fn finish_waits_for_a_deferred_error_before_ending() {
        let mut d = Delivery::<Semicolons>::new(0);
        d.framer.hold(b"a;b!c");
        assert_eq!(d.finish(text), Ok(vec!["a".to_string()]));
        assert!(!d.framer().ended);
        assert_eq!(d.finish(text), Err(2));
        assert_eq!(d.finish(text), Err(1));
    }
}
