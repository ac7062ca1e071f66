//! The synchronous core of a streamed mirror response: decode a frame of the upstream body,
//! rewrite the JSON in it, encode the result again, and hand back the bytes to send.
//!
//! The decoders and encoders are flate2's and brotli's `Write` adapters, chained so that a
//! decoder writes into the rewriter and the rewriter into the encoder. The encoder is flushed
//! (a sync flush for gzip and deflate, a flush for br) after every frame, so the client can
//! decode everything sent so far without waiting for the end of the body.

use std::io::{self, Write};

use bytes::Bytes;

use super::body::Coding;
use crate::rewrite::JsonStream;

/// Window of the streamed br encoder, 2^18 bytes (256 KiB). The encoder allocates its whole
/// window up front when it cannot know the body's length, so the 4 MiB window of the whole-body
/// encoder would cost that much for each response in flight.
const BROTLI_WINDOW_BITS: u32 = 18;

/// br quality 1, the same level as the whole-body encoder: the result crosses one network hop.
const BROTLI_QUALITY: u32 = 1;

/// Size of the br adapters' internal buffers.
const BROTLI_BUFFER: usize = 16 * 1024;

/// The rewriter and the encoder after it: what the decoder writes decoded bytes into.
struct Stage {
    json: JsonStream,
    encoder: Encoder,
    /// Rewritten bytes on their way to the encoder, reused between writes.
    scratch: Vec<u8>,
}

impl Write for Stage {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.encoder {
            Encoder::Identity(output) => self.json.feed(data, output),
            encoder => {
                self.scratch.clear();
                self.json.feed(data, &mut self.scratch);
                encoder.write_all(&self.scratch)?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.encoder.flush()
    }
}

/// The encoder of the rewritten bytes, each writing into its own output buffer.
enum Encoder {
    Identity(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// HTTP `deflate` is zlib-wrapped deflate (RFC 9110, section 8.4.1.2).
    Zlib(flate2::write::ZlibEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    fn new(coding: Option<Coding>) -> Self {
        let fast = flate2::Compression::fast();
        match coding {
            None => Encoder::Identity(Vec::new()),
            Some(Coding::Gzip) => Encoder::Gzip(flate2::write::GzEncoder::new(Vec::new(), fast)),
            Some(Coding::Deflate) => {
                Encoder::Zlib(flate2::write::ZlibEncoder::new(Vec::new(), fast))
            }
            Some(Coding::Brotli) => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                BROTLI_QUALITY,
                BROTLI_WINDOW_BITS,
            ))),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Identity(output) => {
                output.extend_from_slice(data);
                Ok(())
            }
            Encoder::Gzip(encoder) => encoder.write_all(data),
            Encoder::Zlib(encoder) => encoder.write_all(data),
            Encoder::Brotli(encoder) => encoder.write_all(data),
        }
    }

    /// Flushes so that the output so far decodes completely.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Identity(_) => Ok(()),
            Encoder::Gzip(encoder) => encoder.flush(),
            Encoder::Zlib(encoder) => encoder.flush(),
            Encoder::Brotli(encoder) => encoder.flush(),
        }
    }

    /// Takes the encoded bytes produced so far.
    fn take(&mut self) -> Vec<u8> {
        let output = match self {
            Encoder::Identity(output) => output,
            Encoder::Gzip(encoder) => encoder.get_mut(),
            Encoder::Zlib(encoder) => encoder.get_mut(),
            Encoder::Brotli(encoder) => encoder.get_mut(),
        };
        std::mem::take(output)
    }

    /// Ends the encoded stream and returns its last bytes.
    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Encoder::Identity(output) => Ok(output),
            Encoder::Gzip(encoder) => encoder.finish(),
            Encoder::Zlib(encoder) => encoder.finish(),
            Encoder::Brotli(encoder) => Ok(encoder.into_inner()),
        }
    }
}

/// The decoder of the upstream body, writing into the [`Stage`].
enum Decoder {
    Identity(Stage),
    Gzip(flate2::write::MultiGzDecoder<Stage>),
    Zlib(flate2::write::ZlibDecoder<Stage>),
    Deflate(flate2::write::DeflateDecoder<Stage>),
    /// `deflate` before its first byte arrives, which shows whether the stream is
    /// zlib-wrapped or raw.
    DeflateUnknown(Box<Stage>),
    Brotli(Box<brotli::DecompressorWriter<Stage>>),
    /// Only while [`Pipeline::choose_deflate`] swaps the variant.
    Swapping,
}

impl Decoder {
    fn stage_mut(&mut self) -> Option<&mut Stage> {
        match self {
            Decoder::Identity(stage) => Some(stage),
            Decoder::Gzip(decoder) => Some(decoder.get_mut()),
            Decoder::Zlib(decoder) => Some(decoder.get_mut()),
            Decoder::Deflate(decoder) => Some(decoder.get_mut()),
            Decoder::DeflateUnknown(stage) => Some(stage),
            Decoder::Brotli(decoder) => Some(decoder.get_mut()),
            Decoder::Swapping => None,
        }
    }
}

/// Decodes, rewrites and encodes one response body, a frame at a time.
pub struct Pipeline {
    decoder: Decoder,
}

impl Pipeline {
    /// Builds the pipeline for a body in `coding`, which it decodes and encodes again.
    pub fn new(coding: Option<Coding>, json: JsonStream) -> Self {
        let stage = Stage {
            json,
            encoder: Encoder::new(coding),
            scratch: Vec::new(),
        };
        let decoder = match coding {
            None => Decoder::Identity(stage),
            Some(Coding::Gzip) => Decoder::Gzip(flate2::write::MultiGzDecoder::new(stage)),
            Some(Coding::Deflate) => Decoder::DeflateUnknown(Box::new(stage)),
            Some(Coding::Brotli) => Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(
                stage,
                BROTLI_BUFFER,
            ))),
        };
        Self { decoder }
    }

    /// Pushes one frame of the upstream body through and returns the bytes ready to send,
    /// which may be empty. Fails when the body does not decode.
    pub fn push(&mut self, data: &[u8]) -> io::Result<Bytes> {
        self.choose_deflate(data);
        match &mut self.decoder {
            Decoder::Identity(stage) => stage.write_all(data)?,
            Decoder::Gzip(decoder) => {
                decoder.write_all(data)?;
                decoder.flush()?;
            }
            Decoder::Zlib(decoder) => {
                decoder.write_all(data)?;
                decoder.flush()?;
            }
            Decoder::Deflate(decoder) => {
                decoder.write_all(data)?;
                decoder.flush()?;
            }
            Decoder::Brotli(decoder) => {
                decoder.write_all(data)?;
                decoder.flush()?;
            }
            Decoder::DeflateUnknown(_) | Decoder::Swapping => {}
        }
        let output = self
            .decoder
            .stage_mut()
            .map(|stage| stage.encoder.take())
            .unwrap_or_default();
        Ok(Bytes::from(output))
    }

    /// Ends the body: checks that the encoded stream is complete, ends the JSON document and
    /// the encoded output. Returns the last bytes to send and the rewriter, for its counts.
    pub fn finish(self) -> io::Result<(Bytes, JsonStream)> {
        let stage = match self.decoder {
            Decoder::Identity(stage) => stage,
            Decoder::Gzip(decoder) => decoder.finish()?,
            Decoder::Zlib(decoder) => decoder.finish()?,
            Decoder::Deflate(decoder) => decoder.finish()?,
            Decoder::DeflateUnknown(stage) => *stage,
            Decoder::Brotli(mut decoder) => {
                decoder.close()?;
                (*decoder).into_inner().map_err(|_| truncated_brotli())?
            }
            Decoder::Swapping => return Err(io::Error::other("response decoder was not set up")),
        };

        let Stage {
            mut json,
            mut encoder,
            ..
        } = stage;
        let mut tail = Vec::new();
        json.finish(&mut tail);
        encoder.write_all(&tail)?;
        let mut output = encoder.take();
        output.extend_from_slice(&encoder.finish()?);
        Ok((Bytes::from(output), json))
    }

    /// Returns the rewriter, to see whether it met invalid JSON.
    pub fn json(&mut self) -> Option<&JsonStream> {
        self.decoder.stage_mut().map(|stage| &stage.json)
    }

    /// Picks the zlib or raw deflate decoder from the first byte of a `deflate` body.
    ///
    /// A zlib stream starts with CM = 8 in the low four bits and a window of at most 2^15
    /// (CINFO 7 or less) in the high four (RFC 1950). A raw deflate stream can start like
    /// that only with a non-final stored block whose unused padding bits are set, which
    /// encoders do not write.
    fn choose_deflate(&mut self, data: &[u8]) {
        let Some(&first) = data.first() else {
            return;
        };
        let zlib = first & 0x0f == 8 && first >> 4 <= 7;
        self.decoder = match std::mem::replace(&mut self.decoder, Decoder::Swapping) {
            Decoder::DeflateUnknown(stage) if zlib => {
                Decoder::Zlib(flate2::write::ZlibDecoder::new(*stage))
            }
            Decoder::DeflateUnknown(stage) => {
                Decoder::Deflate(flate2::write::DeflateDecoder::new(*stage))
            }
            other => other,
        };
    }
}

fn truncated_brotli() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "incomplete br stream")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::proxy::body::{decode, encode};
    use crate::rewrite::{rewrite_json, JsonOptions};
    use crate::stores::{Direction, StoreId, StoreMap, StorePair};

    const PAGE: &[u8] = include_bytes!("../rewrite/testdata/orders_list.json");

    fn map() -> Arc<StoreMap> {
        let pair = StorePair {
            legacy: StoreId(12345),
            connect: StoreId(7654321),
        };
        Arc::new(StoreMap::new(vec![pair]).unwrap())
    }

    fn pipeline(coding: Option<Coding>) -> Pipeline {
        let json = JsonStream::new(map(), Direction::ToConnect, JsonOptions::default());
        Pipeline::new(coding, json)
    }

    fn expected() -> Vec<u8> {
        let result = rewrite_json(PAGE, &map(), Direction::ToConnect, JsonOptions::default());
        result.unwrap().body.unwrap()
    }

    /// Pushes `encoded` in frames of `frame` bytes and returns everything sent.
    fn run(coding: Option<Coding>, encoded: &[u8], frame: usize) -> io::Result<Vec<u8>> {
        let mut pipeline = pipeline(coding);
        let mut output = Vec::new();
        for piece in encoded.chunks(frame) {
            output.extend_from_slice(&pipeline.push(piece)?);
        }
        let (last, json) = pipeline.finish()?;
        assert_eq!(json.error(), None);
        output.extend_from_slice(&last);
        Ok(output)
    }

    #[test]
    fn every_coding_in_small_frames() {
        let codings = [
            None,
            Some(Coding::Gzip),
            Some(Coding::Deflate),
            Some(Coding::Brotli),
        ];
        for coding in codings {
            let encoded = match coding {
                None => PAGE.to_vec(),
                Some(coding) => encode(coding, PAGE).unwrap(),
            };
            for frame in [1, 7, 64, 4096] {
                let output = run(coding, &encoded, frame).unwrap();
                let decoded = match coding {
                    None => output,
                    Some(coding) => decode(coding, &output, 1 << 20).unwrap(),
                };
                assert_eq!(decoded, expected(), "{coding:?} in frames of {frame}");
            }
        }
    }

    #[test]
    fn raw_deflate_accepted() {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(PAGE).unwrap();
        let raw = encoder.finish().unwrap();
        let output = run(Some(Coding::Deflate), &raw, 100).unwrap();
        assert_eq!(
            decode(Coding::Deflate, &output, 1 << 20).unwrap(),
            expected()
        );
    }

    #[test]
    fn output_so_far_decodes() {
        // A client must be able to decode what it got before the body ends.
        let encoded = encode(Coding::Gzip, PAGE).unwrap();
        let mut pipeline = pipeline(Some(Coding::Gzip));
        let half = encoded.len() / 2;
        let sent = pipeline.push(encoded.get(..half).unwrap()).unwrap();

        let mut client = flate2::write::GzDecoder::new(Vec::new());
        client.write_all(&sent).unwrap();
        client.flush().unwrap();
        let decoded = client.get_ref();
        assert!(decoded.len() > PAGE.len() / 4, "{} bytes", decoded.len());
        assert!(expected().starts_with(decoded));
    }

    #[test]
    fn truncated_body_fails_at_finish() {
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli] {
            let encoded = encode(coding, PAGE).unwrap();
            let mut pipeline = pipeline(Some(coding));
            let cut = encoded.get(..encoded.len() - 8).unwrap();
            pipeline.push(cut).unwrap();
            assert!(pipeline.finish().is_err(), "{coding:?}");
        }
    }

    #[test]
    fn garbage_fails_on_push() {
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli] {
            let mut pipeline = pipeline(Some(coding));
            let garbage = [0xff_u8; 64];
            assert!(pipeline.push(&garbage).is_err(), "{coding:?}");
        }
    }
}
