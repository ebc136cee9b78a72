//! Newline framing with a length cap, by `tokio-util`'s [`LinesCodec`]: a
//! line longer than the cap is reported once and skipped up to its newline,
//! never buffered whole.
//!
//! The codec is driven by hand over the response's chunks rather than
//! through `FramedRead`, which ends the stream after the first decoder
//! error; here an over-long or non-UTF-8 line is counted and the stream
//! goes on.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, LinesCodec, LinesCodecError};

/// Longest line read; longer ones are dropped and counted.
pub const MAX_LINE: usize = 1024 * 1024;

/// One framed line, as [`LineBuf::feed`] hands it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its `\n` (and without a `\r` before it).
    Line(&'a str),
    /// A line over the cap; its bytes were skipped up to its newline.
    TooLong,
    /// A complete line that is not UTF-8 (so not JSON either).
    NotUtf8,
}

/// Splits a byte stream into lines of at most `max` bytes.
#[derive(Debug)]
pub struct LineBuf {
    codec: LinesCodec,
    buf: BytesMut,
}

impl LineBuf {
    /// A splitter for lines up to `max` bytes.
    pub fn new(max: usize) -> LineBuf {
        LineBuf {
            codec: LinesCodec::new_with_max_length(max),
            buf: BytesMut::new(),
        }
    }

    /// Feed a chunk; `on` gets each complete line, [`Frame::TooLong`] once
    /// for a line over the cap, or [`Frame::NotUtf8`]. An `Err` from `on`
    /// stops and is returned.
    pub fn feed<E>(
        &mut self,
        chunk: &[u8],
        mut on: impl FnMut(Frame<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.buf.extend_from_slice(chunk);
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(line)) => on(Frame::Line(&line))?,
                Ok(None) => return Ok(()),
                Err(LinesCodecError::MaxLineLengthExceeded) => on(Frame::TooLong)?,
                // The codec's only I/O error while decoding is a line that
                // is not UTF-8; the line is consumed.
                Err(LinesCodecError::Io(_)) => on(Frame::NotUtf8)?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max: usize, chunks: &[&[u8]]) -> Vec<Option<String>> {
        let mut lb = LineBuf::new(max);
        let mut out = Vec::new();
        for c in chunks {
            lb.feed::<()>(c, |l| {
                out.push(match l {
                    Frame::Line(s) => Some(s.to_owned()),
                    Frame::TooLong => None,
                    Frame::NotUtf8 => Some("<not UTF-8>".to_owned()),
                });
                Ok(())
            })
            .expect("no error");
        }
        out
    }

    #[test]
    fn splits_across_chunks() {
        assert_eq!(
            run(10, &[b"ab", b"c\n\nde", b"f\ng"]),
            vec![Some("abc".into()), Some(String::new()), Some("def".into())]
        );
    }

    #[test]
    fn long_lines_are_reported_once_and_skipped() {
        assert_eq!(
            run(4, &[b"12345678", b"90", b"12\nok\n", b"toolong\nyes\n"]),
            vec![None, Some("ok".into()), None, Some("yes".into())]
        );
        assert_eq!(
            run(4, &[b"123", b"45\nab\n"]),
            vec![None, Some("ab".into())]
        );
    }

    #[test]
    fn a_line_of_exactly_the_cap_is_kept() {
        assert_eq!(
            run(4, &[b"1234\n12345\n", b"abcd", b"\n"]),
            vec![Some("1234".into()), None, Some("abcd".into())]
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_is_reported_and_the_next_kept() {
        assert_eq!(
            run(10, &[b"a\xff\xfeb\nok\r\n"]),
            vec![Some("<not UTF-8>".into()), Some("ok".into())]
        );
    }

    #[test]
    fn stops_on_error() {
        let mut lb = LineBuf::new(10);
        let mut n = 0;
        let r = lb.feed(b"a\nb\nc\n", |_| {
            n += 1;
            if n == 2 {
                Err("stop")
            } else {
                Ok(())
            }
        });
        assert_eq!((r, n), (Err("stop"), 2));
    }
}
