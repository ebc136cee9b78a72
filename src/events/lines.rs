//! Newline framing with a length cap: a line longer than the cap is
//! reported once and skipped up to its newline, never buffered whole.

/// Longest line read; longer ones are dropped and counted.
pub const MAX_LINE: usize = 1024 * 1024;

/// Splits a byte stream into lines of at most `max` bytes.
#[derive(Debug)]
pub struct LineBuf {
    buf: Vec<u8>,
    max: usize,
    discarding: bool,
}

impl LineBuf {
    /// A splitter for lines up to `max` bytes.
    pub fn new(max: usize) -> LineBuf {
        LineBuf {
            buf: Vec::new(),
            max,
            discarding: false,
        }
    }

    /// Feed a chunk; `on` gets each complete line (without `\n`), or `None`
    /// for a line over the cap. An `Err` from `on` stops and is returned.
    pub fn feed<E>(
        &mut self,
        mut chunk: &[u8],
        mut on: impl FnMut(Option<&[u8]>) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(pos) = chunk.iter().position(|&b| b == b'\n') {
            let head = &chunk[..pos];
            chunk = &chunk[pos + 1..];
            if self.discarding {
                self.discarding = false;
                self.buf.clear();
            } else if self.buf.is_empty() {
                on((head.len() <= self.max).then_some(head))?;
            } else if self.buf.len() + head.len() > self.max {
                self.buf.clear();
                on(None)?;
            } else {
                self.buf.extend_from_slice(head);
                let line = std::mem::take(&mut self.buf);
                let r = on(Some(&line));
                self.buf = line;
                self.buf.clear();
                r?;
            }
        }
        if !self.discarding && !chunk.is_empty() {
            if self.buf.len() + chunk.len() > self.max {
                self.buf = Vec::new();
                self.discarding = true;
                on(None)?;
            } else {
                self.buf.extend_from_slice(chunk);
            }
        }
        Ok(())
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
                out.push(l.map(|b| String::from_utf8_lossy(b).into_owned()));
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
