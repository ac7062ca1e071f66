//! The body of a mirror JSON response, rewritten while it streams: each upstream frame goes
//! through the [`Pipeline`] and what comes out is sent at once, without a `Content-Length`.
//!
//! Memory per response is one upstream frame, the decoder and encoder state and at most one
//! held value of [`MAX_HELD_VALUE`](crate::rewrite::MAX_HELD_VALUE) bytes, whatever the body's
//! size. So `limits.max_body` does not apply here, as it does not to any other streamed
//! response. What the response head can no longer carry once it is sent:
//!
//! - Invalid JSON found before the first rewritten byte is ready passes the upstream body on
//!   as it came. Found later, the rest of the body passes untranslated. Both are logged and
//!   counted in `storebridge_invalid_json_responses_total`.
//! - A body that fails to decode, stalls or breaks before the first byte is ready becomes a
//!   502 or 504 (see [`RewriteBody::prime`]). Later, the body ends with an error, which cuts
//!   the client's response short.
//! - The number of rewritten IDs is known at the end only, so the body adds it to
//!   `storebridge_rewrites_total` then, and the access log cannot show it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::body::Coding;
use super::pipeline::Pipeline;
use crate::metrics::Metrics;
use crate::rewrite::{JsonStream, MalformedJson};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error that ends a streamed mirror response.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("upstream response body has an invalid {encoding} encoding")]
    Encoding {
        encoding: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the upstream response body failed")]
    Upstream(#[source] BoxError),
}

enum State {
    Rewriting {
        pipeline: Box<Pipeline>,
        /// The upstream frames read while nothing has been sent, kept so that a body found
        /// invalid by then can still pass exactly as it came.
        unsent: Option<Vec<Bytes>>,
        /// Whether invalid JSON has been logged already.
        invalid_logged: bool,
    },
    /// Sends upstream frames unchanged: `queued` first, then the rest unless `ended`.
    PassThrough {
        queued: VecDeque<Bytes>,
        ended: bool,
    },
    Done,
}

/// A mirror JSON response body, rewritten frame by frame.
pub struct RewriteBody<B> {
    upstream: B,
    state: State,
    coding: Option<Coding>,
    /// The first bytes to send, read by [`Self::prime`] before the response head is sent.
    primed: Option<Bytes>,
    metrics: Arc<Metrics>,
}

impl<B> RewriteBody<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    /// Wraps `upstream`, a body in `coding`, to be rewritten by `json`.
    pub fn new(
        upstream: B,
        coding: Option<Coding>,
        json: JsonStream,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            upstream,
            state: State::Rewriting {
                pipeline: Box::new(Pipeline::new(coding, json)),
                unsent: Some(Vec::new()),
                invalid_logged: false,
            },
            coding,
            primed: None,
            metrics,
        }
    }

    /// Reads upstream frames until the first bytes to send are ready or the body ends, so
    /// that a failure up to that point can still become an error response.
    pub async fn prime(&mut self) -> Result<(), StreamError> {
        let next = std::future::poll_fn(|cx| self.poll_next(cx)).await;
        match next {
            Some(Ok(bytes)) => self.primed = Some(bytes),
            Some(Err(error)) => return Err(error),
            None => {}
        }
        Ok(())
    }

    /// Returns whether the upstream body passes exactly as it came, so its own
    /// `Content-Length` still holds.
    pub fn passes_unchanged(&self) -> bool {
        matches!(self.state, State::PassThrough { .. })
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, StreamError>>> {
        loop {
            let frame = match &mut self.state {
                State::Done => return Poll::Ready(None),
                State::PassThrough { queued, ended } => {
                    if let Some(bytes) = queued.pop_front() {
                        return Poll::Ready(Some(Ok(bytes)));
                    }
                    if *ended {
                        self.state = State::Done;
                        continue;
                    }
                    ready!(Pin::new(&mut self.upstream).poll_frame(cx))
                }
                State::Rewriting { .. } => ready!(Pin::new(&mut self.upstream).poll_frame(cx)),
            };

            let data = match frame {
                None => return Poll::Ready(self.end()),
                Some(Err(error)) => {
                    self.state = State::Done;
                    return Poll::Ready(Some(Err(StreamError::Upstream(error))));
                }
                // Trailers are dropped, as the whole-body rewrite drops them.
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
            };
            if let Some(output) = self.rewrite(data).transpose() {
                return Poll::Ready(Some(output));
            }
        }
    }

    /// Handles one upstream data frame. Returns the bytes to send, or `None` when there are
    /// none yet.
    fn rewrite(&mut self, data: Bytes) -> Result<Option<Bytes>, StreamError> {
        let State::Rewriting {
            pipeline,
            unsent,
            invalid_logged,
        } = &mut self.state
        else {
            return Ok(Some(data));
        };

        let output = match pipeline.push(&data) {
            Ok(output) => output,
            Err(source) => {
                self.state = State::Done;
                return Err(self.encoding_error(source));
            }
        };
        if let Some(frames) = unsent {
            frames.push(data);
        }

        let invalid = pipeline.json().and_then(JsonStream::error).cloned();
        if let (Some(error), false) = (invalid, *invalid_logged) {
            *invalid_logged = true;
            self.metrics.invalid_json_responses.inc();
            if let Some(frames) = unsent.take() {
                tracing::warn!(%error, "response left untranslated: upstream sent invalid JSON");
                self.state = State::PassThrough {
                    queued: frames.into(),
                    ended: false,
                };
                return Ok(self.next_queued());
            }
            log_invalid_after_start(&error);
        }

        if output.is_empty() {
            return Ok(None);
        }
        *unsent = None;
        Ok(Some(output))
    }

    /// Ends the rewrite when the upstream body has ended. Returns the last bytes, if any.
    fn end(&mut self) -> Option<Result<Bytes, StreamError>> {
        let state = std::mem::replace(&mut self.state, State::Done);
        let State::Rewriting {
            pipeline,
            unsent,
            invalid_logged,
        } = state
        else {
            return None;
        };

        let (output, json) = match pipeline.finish() {
            Ok(finished) => finished,
            Err(source) => return Some(Err(self.encoding_error(source))),
        };
        if let (Some(error), false) = (json.error(), invalid_logged) {
            self.metrics.invalid_json_responses.inc();
            if let Some(frames) = unsent {
                tracing::warn!(%error, "response left untranslated: upstream sent invalid JSON");
                self.state = State::PassThrough {
                    queued: frames.into(),
                    ended: true,
                };
                return self.next_queued().map(Ok);
            }
            log_invalid_after_start(error);
        }

        self.metrics
            .count_rewrites("body", "to_legacy", json.count());
        if json.skipped_long() > 0 {
            tracing::warn!(
                values = json.skipped_long(),
                limit = crate::rewrite::MAX_HELD_VALUE,
                "response values left untranslated: longer than the limit"
            );
        }
        tracing::debug!(
            rewrites = json.count(),
            "streamed response rewrite finished"
        );
        (!output.is_empty()).then_some(Ok(output))
    }

    fn next_queued(&mut self) -> Option<Bytes> {
        match &mut self.state {
            State::PassThrough { queued, .. } => queued.pop_front(),
            State::Rewriting { .. } | State::Done => None,
        }
    }

    fn encoding_error(&self, source: std::io::Error) -> StreamError {
        StreamError::Encoding {
            encoding: self.coding.map_or("identity", Coding::name),
            source,
        }
    }
}

fn log_invalid_after_start(error: &MalformedJson) {
    tracing::warn!(
        %error,
        offset = error.offset,
        "rest of response left untranslated: upstream sent invalid JSON"
    );
}

impl<B> Body for RewriteBody<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(bytes) = this.primed.take() {
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        match ready!(this.poll_next(cx)) {
            Some(Ok(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Some(Err(error)) => {
                // The head is sent, so the client only sees its response cut short.
                tracing::warn!(%error, "mirror response cut short");
                Poll::Ready(Some(Err(Box::new(error))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.primed.is_none() && matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
