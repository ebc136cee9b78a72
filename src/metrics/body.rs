//! The HTTP body of an answer: bytes sent as they are, or the text of a
//! [`Rendered`](super::Rendered) decompressed from its gzip as it is sent.
//!
//! Only the gzip of a refresh is kept (Prometheus always asks for gzip); a
//! plain-text scrape gets the text inflated in [`CHUNK`]-sized frames while
//! hyper writes them, so no refresh ever holds its whole text (165 MB at
//! 100,000 gateways). Each plain scrape in flight costs one inflate state
//! and the frames hyper has not written yet, not a copy of the text.

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::buf::Reader;
use bytes::{Buf, Bytes};
use flate2::read::GzDecoder;
use hyper::body::{Frame, SizeHint};

/// Text inflated per frame of a plain-text answer.
pub const CHUNK: usize = 64 * 1024;

/// The body of an answer.
pub struct Body(Kind);

enum Kind {
    /// Sent as is (taken on the first poll).
    Bytes(Option<Bytes>),
    /// A gzip stream, inflated frame by frame; `left` text bytes to go.
    Gunzip {
        decoder: Box<GzDecoder<Reader<Bytes>>>,
        left: u64,
    },
}

impl Body {
    /// `bytes`, sent as they are.
    pub fn bytes(bytes: impl Into<Bytes>) -> Body {
        Body(Kind::Bytes(Some(bytes.into())))
    }

    /// The text compressed in `gzip`, which inflates to exactly `len` bytes
    /// (the `Content-Length`); inflated as it is sent.
    pub fn gunzip(gzip: Bytes, len: u64) -> Body {
        Body(Kind::Gunzip {
            decoder: Box::new(GzDecoder::new(gzip.reader())),
            left: len,
        })
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Kind::Bytes(b) => f
                .debug_struct("Body")
                .field("bytes", &b.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Gunzip { left, .. } => f.debug_struct("Body").field("gunzip", left).finish(),
        }
    }
}

/// Inflate the next frame: up to [`CHUNK`] bytes, fewer only at the end.
/// A stream that ends before `left` bytes or holds more is an error, so
/// the answer is cut off rather than served short under its length.
fn next_frame(decoder: &mut GzDecoder<Reader<Bytes>>, left: &mut u64) -> std::io::Result<Bytes> {
    let want = usize::try_from(*left).unwrap_or(CHUNK).min(CHUNK);
    let mut buf = vec![0; want];
    let mut filled = 0;
    while filled < want {
        match decoder.read(&mut buf[filled..])? {
            0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "gzip body shorter than its length",
                ))
            }
            n => filled += n,
        }
    }
    *left -= want as u64;
    if *left == 0 && decoder.read(&mut [0])? != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "gzip body longer than its length",
        ));
    }
    Ok(Bytes::from(buf))
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = match &mut self.0 {
            Kind::Bytes(b) => b.take().filter(|b| !b.is_empty()).map(Ok),
            Kind::Gunzip { left: 0, .. } => None,
            Kind::Gunzip { decoder, left } => {
                let r = next_frame(decoder, left);
                if r.is_err() {
                    *left = 0;
                }
                Some(r)
            }
        };
        Poll::Ready(frame.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Bytes(b) => b.as_ref().map_or(true, Bytes::is_empty),
            Kind::Gunzip { left, .. } => *left == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Bytes(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Gunzip { left, .. } => SizeHint::with_exact(*left),
        }
    }
}

impl Body {
    /// Collect the whole body (inflating all of it, for a gzip one).
    pub fn collect(self) -> std::io::Result<Bytes> {
        match self.0 {
            Kind::Bytes(b) => Ok(b.unwrap_or_default()),
            Kind::Gunzip {
                mut decoder,
                mut left,
            } => {
                let mut out = Vec::with_capacity(usize::try_from(left).unwrap_or(0));
                while left > 0 {
                    out.extend_from_slice(&next_frame(&mut decoder, &mut left)?);
                }
                Ok(Bytes::from(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;
    use std::io::Write;

    fn gzip(text: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        Bytes::from(e.finish().unwrap())
    }

    fn frames(mut body: Body) -> Vec<std::io::Result<Bytes>> {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(f)) = Pin::new(&mut body).poll_frame(&mut cx) {
            out.push(f.map(|f| f.into_data().unwrap()));
        }
        assert!(body.is_end_stream());
        out
    }

    #[test]
    fn a_gzip_body_is_sent_inflated_in_chunks_of_its_exact_length() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let text: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let body = Body::gunzip(gzip(&text), len as u64);
            assert_eq!(body.size_hint().exact(), Some(len as u64));
            let got: Vec<Bytes> = frames(body).into_iter().map(Result::unwrap).collect();
            assert!(got.iter().all(|f| f.len() <= CHUNK && !f.is_empty()));
            assert_eq!(got.len(), len.div_ceil(CHUNK));
            assert!(got.concat() == text, "len {len}");
            let body = Body::gunzip(gzip(&text), len as u64);
            assert!(body.collect().unwrap() == text);
        }
    }

    #[test]
    fn a_gzip_body_of_another_length_ends_in_an_error() {
        let text = vec![b'x'; CHUNK + 10];
        let short = frames(Body::gunzip(gzip(&text), text.len() as u64 + 1));
        assert!(short.last().unwrap().is_err());
        let long = frames(Body::gunzip(gzip(&text), text.len() as u64 - 1));
        assert!(long.last().unwrap().is_err());
        let broken = frames(Body::gunzip(Bytes::from_static(b"not gzip"), 5));
        assert_eq!(broken.len(), 1);
        assert!(broken[0].is_err());
    }

    #[test]
    fn bytes_are_sent_as_one_frame() {
        let body = Body::bytes("abc");
        assert_eq!(body.size_hint().exact(), Some(3));
        let got = frames(body);
        assert_eq!(got.len(), 1);
        assert_eq!(&got[0].as_ref().unwrap()[..], b"abc");
        assert!(Body::bytes("").is_end_stream());
        assert!(frames(Body::bytes("")).is_empty());
    }
}
