//! The JSON number grammar (RFC 8259), the one rule that the reader, partial JSON and the
//! Python converter all follow: a state machine fed one byte at a time, so partial JSON can
//! stop at the end of a fragment and resume with the next.

/// Position in the number grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Num {
    Start,
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

impl Num {
    /// The state after `byte`, or None when `byte` does not continue the number.
    pub fn next(self, byte: u8) -> Option<Num> {
        use Num::{Dot, Exp, ExpDigits, ExpSign, Frac, Int, Minus, Start, Zero};
        Some(match (self, byte) {
            (Start, b'-') => Minus,
            (Start | Minus, b'0') => Zero,
            (Start | Minus, b'1'..=b'9') | (Int, b'0'..=b'9') => Int,
            (Zero | Int, b'.') => Dot,
            (Dot | Frac, b'0'..=b'9') => Frac,
            (Zero | Int | Frac, b'e' | b'E') => Exp,
            (Exp, b'+' | b'-') => ExpSign,
            (Exp | ExpSign | ExpDigits, b'0'..=b'9') => ExpDigits,
            _ => return None,
        })
    }

    /// A valid number if the input stopped here.
    pub fn is_complete(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits)
    }

    /// A complete number with a fraction or an exponent (a float, not an integer).
    pub fn is_float(self) -> bool {
        matches!(self, Num::Frac | Num::ExpDigits)
    }

    /// Feeds `bytes` from this state until one does not continue the number: how many were
    /// taken and the state after them.
    pub fn scan(mut self, bytes: &[u8]) -> (usize, Num) {
        let mut used = 0;
        while let Some(&byte) = bytes.get(used) {
            let Some(next) = self.next(byte) else {
                break;
            };
            self = next;
            used += 1;
            if matches!(self, Num::Int | Num::Frac | Num::ExpDigits) {
                // A digit keeps these states as they are: take the whole run at once (numbers
                // are most of a logprobs chunk).
                let rest = bytes.get(used..).unwrap_or_default();
                used += rest.iter().take_while(|b| b.is_ascii_digit()).count();
            }
        }
        (used, self)
    }
}

/// The value and length of the non-negative integer written as plain digits at the start of
/// `bytes` (no sign, no leading zero, at most 18 digits so that it fits 64 bits, and neither a
/// fraction nor an exponent after it); `None` for anything else, which a caller reads in full.
/// One pass finds the end and the value: a count, an index or a timestamp is a few digits.
#[inline]
pub fn plain_digits(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    let mut len = 0;
    while let Some(&b) = bytes.get(len) {
        if !b.is_ascii_digit() {
            break;
        }
        if len == 18 {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
        len += 1;
    }
    let plain = len >= 1
        && (len == 1 || bytes.first() != Some(&b'0'))
        && !matches!(bytes.get(len), Some(b'.' | b'e' | b'E'));
    plain.then_some((value, len))
}

/// The length of the number at the start of `bytes` when it has one of the shapes nearly every
/// number has, `-?(0|[1-9][0-9]*)(\.[0-9]+)?` and at most 308 characters, and no byte that
/// could continue it follows; `None` otherwise, and the caller takes [`Num::scan`]. Where it
/// answers, it takes what `scan` takes, to a complete state, and the number cannot overflow a
/// double (no exponent, at most 308 integer digits).
#[inline]
pub fn plain_len(bytes: &[u8]) -> Option<usize> {
    let digits = |from: usize| {
        bytes
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += digits(i),
        _ => return None,
    }
    if bytes.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    match bytes.get(i) {
        Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') => None,
        _ if i > 308 => None,
        _ => Some(i),
    }
}

#[cfg(test)]
mod tests {
    use super::{plain_len, Num};

    /// Every string of up to five bytes over the number alphabet and a few others: where the
    /// shortcut answers, it agrees with the state machine and the number is complete.
    #[test]
    fn the_shortcut_agrees_with_the_grammar_where_it_answers() {
        let alphabet = b"-+0159.eE,] x";
        let mut answered = 0;
        let mut text = Vec::new();
        for len in 0..=5u32 {
            for mut code in 0..alphabet.len().pow(len) {
                text.clear();
                for _ in 0..len {
                    text.push(alphabet[code % alphabet.len()]);
                    code /= alphabet.len();
                }
                if let Some(n) = plain_len(&text) {
                    answered += 1;
                    let (used, end) = Num::Start.scan(&text);
                    assert_eq!((n, end.is_complete()), (used, true), "{text:?}");
                    assert_ne!(end, Num::ExpDigits, "{text:?}");
                }
            }
        }
        assert!(answered > 1000, "{answered}");
        let long = "9".repeat(309);
        assert_eq!(plain_len(long.as_bytes()), None);
        assert_eq!(plain_len("9".repeat(308).as_bytes()), Some(308));
    }

    #[test]
    fn the_longest_prefix_in_the_grammar_is_taken() {
        for (text, used, complete, float) in [
            ("0", 1, true, false),
            ("-12,", 3, true, false),
            ("01", 1, true, false),
            ("1.5e+3]", 6, true, true),
            ("1.", 2, false, false),
            ("-", 1, false, false),
            ("1e", 2, false, false),
            ("1E-x", 3, false, false),
            ("+1", 0, false, false),
            (".5", 0, false, false),
        ] {
            let (n, end) = Num::Start.scan(text.as_bytes());
            assert_eq!(
                (n, end.is_complete(), end.is_float()),
                (used, complete, float),
                "{text}"
            );
        }
    }
}
