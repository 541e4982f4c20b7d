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

#[cfg(test)]
mod tests {
    use super::Num;

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
