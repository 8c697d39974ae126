//! Deterministic, parallel gzip (RFC 1952) for layer blobs.
//!
//! The stream is cut into fixed blocks of [`BLOCK_BYTES`]; each block is deflated on its own
//! (primed with the 32 KiB before it as a preset dictionary, as pigz does) and ended with a sync
//! flush, the last one with a final block. The blocks are compressed by the writer's own worker
//! threads (never a shared pool, so a caller inside a pool cannot starve them) and written in
//! order. Because block boundaries depend only on the input bytes, the output is the
//! same bytes whatever the number of threads. The header has no file name, no mtime and OS
//! 255 ("unknown"), so nothing about the machine or the clock enters the layer digest.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Uncompressed bytes per independently compressed block.
pub const BLOCK_BYTES: usize = 256 * 1024;
/// Size of the preset dictionary taken from the end of the previous block (deflate's window).
const DICTIONARY_BYTES: usize = 32 * 1024;
/// The compression level of every layer stamp writes. Part of the image format: changing it
/// changes every digest.
pub const LEVEL: u32 = 6;

/// A gzip writer whose output depends only on its input.
pub struct GzipWriter<W: Write> {
    /// `None` only after [`GzipWriter::finish`] took it.
    inner: Option<W>,
    crc: Crc,
    buffer: Vec<u8>,
    previous_tail: Vec<u8>,
    next_sequence: u64,
    next_to_write: u64,
    in_flight_max: usize,
    jobs: Option<mpsc::Sender<Job>>,
    workers: Vec<thread::JoinHandle<()>>,
    done_receiver: mpsc::Receiver<(u64, io::Result<Vec<u8>>)>,
    finished_blocks: BTreeMap<u64, Vec<u8>>,
    header_written: bool,
}

/// One block to compress: sequence number, data, preset dictionary, whether it is the last.
type Job = (u64, Vec<u8>, Vec<u8>, bool);

impl<W: Write> GzipWriter<W> {
    /// A writer compressing on as many threads as the machine has cores.
    pub fn new(inner: W) -> Self {
        let threads = thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1);
        Self::with_threads(inner, threads)
    }

    /// A writer compressing on `threads` worker threads (at least one).
    pub fn with_threads(inner: W, threads: usize) -> Self {
        let threads = threads.max(1);
        let (done_sender, done_receiver) = mpsc::channel();
        let (job_sender, job_receiver) = mpsc::channel::<Job>();
        let job_receiver = Arc::new(Mutex::new(job_receiver));
        let workers = (0..threads)
            .map(|_| {
                let jobs = Arc::clone(&job_receiver);
                let done = done_sender.clone();
                thread::spawn(move || loop {
                    let job = match jobs.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    let Ok((sequence, block, dictionary, last)) = job else {
                        return;
                    };
                    let result = deflate_block(&block, &dictionary, last);
                    if done.send((sequence, result)).is_err() {
                        return;
                    }
                })
            })
            .collect();
        GzipWriter {
            inner: Some(inner),
            crc: Crc::new(),
            buffer: Vec::with_capacity(BLOCK_BYTES),
            previous_tail: Vec::new(),
            next_sequence: 0,
            next_to_write: 0,
            in_flight_max: threads * 2 + 1,
            jobs: Some(job_sender),
            workers,
            done_receiver,
            finished_blocks: BTreeMap::new(),
            header_written: false,
        }
    }

    /// Compress what is buffered as the last block, write the trailer, return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.write_header()?;
        let last = std::mem::take(&mut self.buffer);
        self.dispatch(last, true)?;
        while self.next_to_write < self.next_sequence {
            self.collect_one()?;
        }
        let crc = self.crc.sum();
        let size = self.crc.amount();
        let inner = self.inner_mut();
        inner.write_all(&crc.to_le_bytes())?;
        inner.write_all(&size.to_le_bytes())?;
        inner.flush()?;
        self.stop_workers();
        Ok(self
            .inner
            .take()
            .expect("inner writer present until finish"))
    }

    fn inner_mut(&mut self) -> &mut W {
        self.inner
            .as_mut()
            .expect("inner writer present until finish")
    }

    fn stop_workers(&mut self) {
        // Closing the job channel ends every worker's loop.
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255
            self.inner_mut()
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
            self.header_written = true;
        }
        Ok(())
    }

    fn dispatch(&mut self, block: Vec<u8>, last: bool) -> io::Result<()> {
        let dictionary = std::mem::take(&mut self.previous_tail);
        let tail_start = block.len().saturating_sub(DICTIONARY_BYTES);
        self.previous_tail = block[tail_start..].to_vec();
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("gzip writer already finished"))?
            .send((sequence, block, dictionary, last))
            .map_err(|_| io::Error::other("gzip workers stopped"))
    }

    /// Wait for one more compressed block and write all that are ready, in order.
    fn collect_one(&mut self) -> io::Result<()> {
        let (sequence, result) = self
            .done_receiver
            .recv()
            .map_err(|_| io::Error::other("gzip workers stopped"))?;
        self.finished_blocks.insert(sequence, result?);
        while let Some(bytes) = self.finished_blocks.remove(&self.next_to_write) {
            self.inner_mut().write_all(&bytes)?;
            self.next_to_write += 1;
        }
        Ok(())
    }
}

impl<W: Write> Drop for GzipWriter<W> {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        self.write_header()?;
        let total = data.len();
        self.crc.update(data);
        while !data.is_empty() {
            let room = BLOCK_BYTES - self.buffer.len();
            let take = room.min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buffer.len() == BLOCK_BYTES {
                let block = std::mem::replace(&mut self.buffer, Vec::with_capacity(BLOCK_BYTES));
                self.dispatch(block, false)?;
                while (self.next_sequence - self.next_to_write) as usize > self.in_flight_max {
                    self.collect_one()?;
                }
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Blocks are cut by size only, so that output never depends on when callers flush.
        Ok(())
    }
}

fn deflate_block(block: &[u8], dictionary: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut compress = Compress::new(Compression::new(LEVEL), false);
    if !dictionary.is_empty() {
        compress
            .set_dictionary(dictionary)
            .map_err(|error| io::Error::other(format!("deflate dictionary: {error}")))?;
    }
    let mut out = Vec::with_capacity(block.len() / 2 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        let consumed = compress.total_in() as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(block.len() / 4 + 4096);
        }
        let status = compress
            .compress_vec(&block[consumed..], &mut out, flush)
            .map_err(|error| io::Error::other(format!("deflate: {error}")))?;
        let all_in = compress.total_in() as usize == block.len();
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once all input is in and output had room to spare.
            Status::Ok | Status::BufError
                if !last && all_in && out.capacity() - out.len() >= 1024 =>
            {
                return Ok(out)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gzip(data: &[u8], chunk: usize) -> Vec<u8> {
        let mut writer = GzipWriter::new(Vec::new());
        for piece in data.chunks(chunk.max(1)) {
            writer.write_all(piece).unwrap();
        }
        writer.finish().unwrap()
    }

    fn sample(length: usize) -> Vec<u8> {
        let mut state = 0x2545f491u32;
        (0..length)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if i % 7 < 4 {
                    b'a' + (state % 4) as u8
                } else {
                    state as u8
                }
            })
            .collect()
    }

    #[test]
    fn output_decompresses_to_input_at_block_edges() {
        for length in [
            0,
            1,
            BLOCK_BYTES - 1,
            BLOCK_BYTES,
            BLOCK_BYTES + 1,
            3 * BLOCK_BYTES + 17,
        ] {
            let data = sample(length);
            let compressed = gzip(&data, 10_000);
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, data, "length {length}");
        }
    }

    #[test]
    fn output_does_not_depend_on_write_sizes_or_threads() {
        let data = sample(5 * BLOCK_BYTES + 123);
        let reference = gzip(&data, 1 << 20);
        assert_eq!(gzip(&data, 4096), reference);
        for threads in [1, 3] {
            let mut writer = GzipWriter::with_threads(Vec::new(), threads);
            for piece in data.chunks(777) {
                writer.write_all(piece).unwrap();
            }
            assert_eq!(writer.finish().unwrap(), reference, "{threads} threads");
        }
    }

    #[test]
    fn header_has_no_name_or_time() {
        let compressed = gzip(b"x", 1);
        assert_eq!(&compressed[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    }
}
