//! Response bodies: whole, huge (streamed) and truncated.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::time::Sleep;

/// Size of each chunk of a huge body.
const CHUNK: usize = 64 * 1024;

/// The body of every response the fake sends.
pub(crate) enum FakeBody {
    /// A whole body (exact size, so hyper sends `Content-Length`).
    Full(Option<Bytes>),
    /// `prefix` then `0,0,0,...` up to `remaining` bytes in total; unknown size (chunked).
    Huge {
        prefix: Option<Bytes>,
        filler: Bytes,
        remaining: usize,
    },
    /// One chunk, a pause so that hyper flushes it, then the end, which is short of the
    /// `Content-Length` header the handler set, so hyper closes the connection.
    Truncated {
        chunk: Option<Bytes>,
        linger: Pin<Box<Sleep>>,
    },
    /// Whatever the channel yields, until its sender is dropped (the events stream).
    Channel(tokio::sync::mpsc::Receiver<Bytes>),
}

impl FakeBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        FakeBody::Full(Some(bytes.into()))
    }

    pub(crate) fn huge(prefix: &'static [u8], total: usize) -> Self {
        FakeBody::Huge {
            prefix: Some(Bytes::from_static(prefix)),
            filler: Bytes::from(b"0,".repeat(CHUNK / 2)),
            remaining: total,
        }
    }

    pub(crate) fn truncated(chunk: Bytes) -> Self {
        FakeBody::Truncated {
            chunk: Some(chunk),
            linger: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
        }
    }
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            FakeBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            FakeBody::Huge {
                prefix,
                filler,
                remaining,
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let source = prefix.take().unwrap_or_else(|| filler.clone());
                let n = source.len().min(*remaining);
                *remaining -= n;
                Poll::Ready(Some(Ok(Frame::data(source.slice(..n)))))
            }
            FakeBody::Channel(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
            FakeBody::Truncated { chunk, linger } => {
                if let Some(c) = chunk.take() {
                    return Poll::Ready(Some(Ok(Frame::data(c))));
                }
                match linger.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            FakeBody::Full(None) => true,
            FakeBody::Full(Some(b)) => b.is_empty(),
            FakeBody::Huge { remaining, .. } => *remaining == 0,
            FakeBody::Truncated { .. } | FakeBody::Channel(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            FakeBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            _ => SizeHint::default(),
        }
    }
}
