//! A deterministic tar writer and a bounded tar reader.
//!
//! Written here rather than taken from the `tar` crate for two reasons. Writing: every byte of a
//! layer must be a function of the spec alone (ustar headers with fixed fields, PAX records only
//! where ustar cannot hold a value, keys in sorted order), which is easier to guarantee by owning
//! the format. Reading: layers come from outside, so every length read from a header (entry size,
//! PAX record, GNU long name) is checked against [`ReadLimits`] *before* anything is allocated or
//! read, and the reader never touches the filesystem.
//!
//! Formats: POSIX.1-2001 ustar with pax extended headers (`x`, `g`), and the GNU long name / long
//! link extensions (`L`, `K`) and base-256 numbers on read. Sparse files are refused.

use std::io::{self, Read, Write};

/// Size of one tar block.
pub const BLOCK_BYTES: usize = 512;

/// Limits applied while reading a tar stream that came from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest size of one regular file's content.
    pub entry_bytes_max: u64,
    /// Largest pax extended header (`x` or `g`) or GNU long name/link record.
    pub extended_header_bytes_max: u64,
    /// Longest path or link target, in bytes (Linux `PATH_MAX`).
    pub path_bytes_max: usize,
    /// Most entries in one stream.
    pub entries_max: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            entry_bytes_max: 16 << 30,
            extended_header_bytes_max: 1 << 20,
            path_bytes_max: 4096,
            entries_max: 2_000_000,
        }
    }
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink { target: String },
    Hardlink { target: String },
    CharDevice { major: u32, minor: u32 },
    BlockDevice { major: u32, minor: u32 },
    Fifo,
}

impl EntryKind {
    fn typeflag(&self) -> u8 {
        match self {
            EntryKind::File => b'0',
            EntryKind::Hardlink { .. } => b'1',
            EntryKind::Symlink { .. } => b'2',
            EntryKind::CharDevice { .. } => b'3',
            EntryKind::BlockDevice { .. } => b'4',
            EntryKind::Directory => b'5',
            EntryKind::Fifo => b'6',
        }
    }

    fn link_target(&self) -> Option<&str> {
        match self {
            EntryKind::Symlink { target } | EntryKind::Hardlink { target } => Some(target),
            _ => None,
        }
    }
}

/// The metadata of one tar entry (its content follows in the stream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The path as stored (no normalization applied).
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`0o7777` at most).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Content size; zero for everything but regular files.
    pub size: u64,
    pub mtime: u64,
}

/// Why a tar stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadTarError {
    #[error("the stream ends inside an entry (truncated tar)")]
    Truncated,
    #[error("header checksum mismatch at byte offset {offset} (not a tar stream, or corrupt)")]
    Checksum { offset: u64 },
    #[error("header field `{field}` at byte offset {offset} is not a valid number")]
    Number { field: &'static str, offset: u64 },
    #[error("entry `{path}`: size {size} bytes is over the limit of {limit} bytes")]
    EntryTooLarge { path: String, size: u64, limit: u64 },
    #[error("extended header `{name}` of {size} bytes is over the limit of {limit} bytes")]
    ExtendedHeaderTooLarge { name: String, size: u64, limit: u64 },
    #[error("path or link target of {length} bytes is over the limit of {limit} bytes")]
    PathTooLong { length: usize, limit: usize },
    #[error("more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("malformed pax record: {0}")]
    PaxRecord(String),
    #[error("path is not valid UTF-8")]
    PathEncoding,
    #[error("unsupported entry type `{}` (0x{typeflag:02x})", *typeflag as char)]
    UnsupportedType { typeflag: u8 },
    #[error("reading the stream")]
    Io(#[source] io::Error),
}

/// A bounded, streaming tar reader.
pub struct TarReader<R> {
    inner: R,
    limits: ReadLimits,
    offset: u64,
    /// Content bytes of the current entry not yet consumed, plus its padding.
    remaining: u64,
    padding: u64,
    entries: u64,
    global_pax_seen: bool,
    finished: bool,
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R, limits: ReadLimits) -> Self {
        TarReader {
            inner,
            limits,
            offset: 0,
            remaining: 0,
            padding: 0,
            entries: 0,
            global_pax_seen: false,
            finished: false,
        }
    }

    /// Byte offset of the next unread byte in the stream.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether a global pax header (`g`) was seen; its records are not applied.
    pub fn global_pax_seen(&self) -> bool {
        self.global_pax_seen
    }

    /// The inner reader, for callers that check trailing data or digests.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next entry's header, or `None` at the end of the archive. Any content of the previous
    /// entry that was not read is skipped.
    pub fn next_header(&mut self) -> Result<Option<Header>, ReadTarError> {
        if self.finished {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut pax_path: Option<String> = None;
        let mut pax_link: Option<String> = None;
        let mut pax_size: Option<u64> = None;
        let mut pax_uid: Option<u64> = None;
        let mut pax_gid: Option<u64> = None;
        let mut pax_mtime: Option<u64> = None;
        loop {
            let header_offset = self.offset;
            let mut block = [0u8; BLOCK_BYTES];
            if !self.read_block_or_eof(&mut block)? {
                // A clean end without the two zero blocks: accepted, as GNU tar and Go do.
                self.finished = true;
                return Ok(None);
            }
            if block.iter().all(|&b| b == 0) {
                // End-of-archive marker. The second zero block and any padding after it are
                // not read: they carry nothing.
                self.finished = true;
                return Ok(None);
            }
            verify_checksum(&block, header_offset)?;
            self.entries += 1;
            if self.entries > self.limits.entries_max {
                return Err(ReadTarError::TooManyEntries {
                    limit: self.limits.entries_max,
                });
            }
            let typeflag = block[156];
            let size = match pax_size {
                Some(size) if !matches!(typeflag, b'x' | b'g' | b'L' | b'K') => size,
                _ => parse_number(&block[124..136], "size", header_offset)?,
            };
            match typeflag {
                b'x' | b'g' | b'L' | b'K' => {
                    if size > self.limits.extended_header_bytes_max {
                        return Err(ReadTarError::ExtendedHeaderTooLarge {
                            name: String::from_utf8_lossy(c_string_bytes(&block[0..100]))
                                .into_owned(),
                            size,
                            limit: self.limits.extended_header_bytes_max,
                        });
                    }
                    let data = self.read_content_exact(size)?;
                    match typeflag {
                        b'x' => {
                            for (key, value) in parse_pax(&data)? {
                                match key.as_str() {
                                    "path" => pax_path = Some(self.checked_path(value)?),
                                    "linkpath" => pax_link = Some(self.checked_path(value)?),
                                    "size" => pax_size = Some(parse_pax_number(&key, &value)?),
                                    "uid" => pax_uid = Some(parse_pax_number(&key, &value)?),
                                    "gid" => pax_gid = Some(parse_pax_number(&key, &value)?),
                                    "mtime" => {
                                        // Fractional seconds are dropped; the integer part counts.
                                        let whole = value.split('.').next().unwrap_or("");
                                        pax_mtime = Some(parse_pax_number(&key, whole)?)
                                    }
                                    key if key.starts_with("GNU.sparse") => {
                                        return Err(ReadTarError::UnsupportedType {
                                            typeflag: b'S',
                                        })
                                    }
                                    _ => {}
                                }
                            }
                        }
                        b'g' => self.global_pax_seen = true,
                        b'L' => pax_path = Some(self.checked_path(c_string(&data)?)?),
                        _ => pax_link = Some(self.checked_path(c_string(&data)?)?),
                    }
                    continue;
                }
                _ => {}
            }
            let path = match pax_path.take() {
                Some(path) => path,
                None => {
                    let name = c_string(&block[0..100])?;
                    let prefix = if &block[257..263] == b"ustar\0" {
                        c_string(&block[345..500])?
                    } else {
                        String::new()
                    };
                    if prefix.is_empty() {
                        name
                    } else {
                        format!("{prefix}/{name}")
                    }
                }
            };
            let link = match pax_link.take() {
                Some(link) => link,
                None => c_string(&block[157..257])?,
            };
            let major = parse_number(&block[329..337], "devmajor", header_offset).unwrap_or(0);
            let minor = parse_number(&block[337..345], "devminor", header_offset).unwrap_or(0);
            let kind = match typeflag {
                b'0' | 0 | b'7' => {
                    if path.ends_with('/') && typeflag == 0 {
                        EntryKind::Directory
                    } else {
                        EntryKind::File
                    }
                }
                b'1' => EntryKind::Hardlink { target: link },
                b'2' => EntryKind::Symlink { target: link },
                b'3' => EntryKind::CharDevice {
                    major: major as u32,
                    minor: minor as u32,
                },
                b'4' => EntryKind::BlockDevice {
                    major: major as u32,
                    minor: minor as u32,
                },
                b'5' => EntryKind::Directory,
                b'6' => EntryKind::Fifo,
                other => return Err(ReadTarError::UnsupportedType { typeflag: other }),
            };
            let content_size = if kind == EntryKind::File { size } else { 0 };
            if content_size > self.limits.entry_bytes_max {
                return Err(ReadTarError::EntryTooLarge {
                    path,
                    size: content_size,
                    limit: self.limits.entry_bytes_max,
                });
            }
            // Non-file entries may still carry data blocks (old archivers); skip them.
            self.remaining = size;
            self.padding = padding_for(size);
            let mode = parse_number(&block[100..108], "mode", header_offset)? as u32 & 0o7777;
            let uid = match pax_uid.take() {
                Some(uid) => uid,
                None => parse_number(&block[108..116], "uid", header_offset)?,
            };
            let gid = match pax_gid.take() {
                Some(gid) => gid,
                None => parse_number(&block[116..124], "gid", header_offset)?,
            };
            let mtime = match pax_mtime.take() {
                Some(mtime) => mtime,
                None => parse_number(&block[136..148], "mtime", header_offset)?,
            };
            return Ok(Some(Header {
                path,
                kind,
                mode,
                uid,
                gid,
                size: content_size,
                mtime,
            }));
        }
    }

    /// Read up to `buf.len()` bytes of the current entry's content; 0 at its end.
    pub fn read_content(&mut self, buf: &mut [u8]) -> Result<usize, ReadTarError> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let read = loop {
            match self.inner.read(&mut buf[..want]) {
                Ok(read) => break read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(ReadTarError::Io(error)),
            }
        };
        if read == 0 {
            return Err(ReadTarError::Truncated);
        }
        self.remaining -= read as u64;
        self.offset += read as u64;
        Ok(read)
    }

    /// Copy the current entry's content into `out`.
    pub fn copy_content(&mut self, out: &mut impl Write) -> Result<u64, CopyContentError> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            let read = self
                .read_content(&mut buf)
                .map_err(CopyContentError::Read)?;
            if read == 0 {
                return Ok(total);
            }
            out.write_all(&buf[..read])
                .map_err(CopyContentError::Write)?;
            total += read as u64;
        }
    }

    fn checked_path(&self, path: String) -> Result<String, ReadTarError> {
        if path.len() > self.limits.path_bytes_max {
            return Err(ReadTarError::PathTooLong {
                length: path.len(),
                limit: self.limits.path_bytes_max,
            });
        }
        Ok(path)
    }

    fn read_content_exact(&mut self, size: u64) -> Result<Vec<u8>, ReadTarError> {
        let mut data = vec![0u8; size as usize];
        self.read_exact_counted(&mut data)?;
        let padding = padding_for(size);
        self.discard(padding)?;
        Ok(data)
    }

    fn skip_rest(&mut self) -> Result<(), ReadTarError> {
        let skip = self.remaining + self.padding;
        self.remaining = 0;
        self.padding = 0;
        self.discard(skip)
    }

    fn discard(&mut self, count: u64) -> Result<(), ReadTarError> {
        let copied = io::copy(&mut (&mut self.inner).take(count), &mut io::sink())
            .map_err(ReadTarError::Io)?;
        self.offset += copied;
        if copied != count {
            return Err(ReadTarError::Truncated);
        }
        Ok(())
    }

    fn read_exact_counted(&mut self, buf: &mut [u8]) -> Result<(), ReadTarError> {
        self.inner.read_exact(buf).map_err(|error| {
            if error.kind() == io::ErrorKind::UnexpectedEof {
                ReadTarError::Truncated
            } else {
                ReadTarError::Io(error)
            }
        })?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    /// Fill `block`; false on a clean end of stream before its first byte.
    fn read_block_or_eof(&mut self, block: &mut [u8; BLOCK_BYTES]) -> Result<bool, ReadTarError> {
        let mut filled = 0;
        while filled < BLOCK_BYTES {
            match self.inner.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => return Err(ReadTarError::Truncated),
                Ok(read) => filled += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(ReadTarError::Io(error)),
            }
        }
        self.offset += BLOCK_BYTES as u64;
        Ok(true)
    }
}

/// Why an entry's content could not be copied out.
#[derive(Debug, thiserror::Error)]
pub enum CopyContentError {
    #[error("reading the entry")]
    Read(#[source] ReadTarError),
    #[error("writing the entry's content")]
    Write(#[source] io::Error),
}

fn padding_for(size: u64) -> u64 {
    (BLOCK_BYTES as u64 - size % BLOCK_BYTES as u64) % BLOCK_BYTES as u64
}

fn verify_checksum(block: &[u8; BLOCK_BYTES], offset: u64) -> Result<(), ReadTarError> {
    let stored = parse_number(&block[148..156], "chksum", offset)
        .map_err(|_| ReadTarError::Checksum { offset })?;
    let unsigned: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u64
            }
        })
        .sum();
    // Some historic writers summed signed chars.
    let signed: i64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as i8 as i64
            }
        })
        .sum();
    if stored == unsigned || stored as i64 == signed {
        Ok(())
    } else {
        Err(ReadTarError::Checksum { offset })
    }
}

/// Parse an octal (NUL/space terminated) or base-256 numeric field.
fn parse_number(field: &[u8], name: &'static str, offset: u64) -> Result<u64, ReadTarError> {
    let error = || ReadTarError::Number {
        field: name,
        offset,
    };
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256: the first byte's high bit marks it; negative values are refused.
        if field[0] & 0x40 != 0 {
            return Err(error());
        }
        let mut value: u64 = (field[0] & 0x3f) as u64;
        for &byte in &field[1..] {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(byte as u64))
                .ok_or_else(error)?;
        }
        return Ok(value);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    let mut value: u64 = 0;
    for byte in text {
        if !(b'0'..=b'7').contains(&byte) {
            return Err(error());
        }
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add((byte - b'0') as u64))
            .ok_or_else(error)?;
    }
    Ok(value)
}

fn parse_pax_number(key: &str, value: &str) -> Result<u64, ReadTarError> {
    value
        .parse()
        .map_err(|_| ReadTarError::PaxRecord(format!("`{key}` value `{value}` is not a number")))
}

fn c_string(bytes: &[u8]) -> Result<String, ReadTarError> {
    String::from_utf8(c_string_bytes(bytes).to_vec()).map_err(|_| ReadTarError::PathEncoding)
}

/// The bytes of a NUL-terminated field before its first NUL.
fn c_string_bytes(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// Parse pax records `"%d %s=%s\n"`, where the leading number counts the whole record.
fn parse_pax(data: &[u8]) -> Result<Vec<(String, String)>, ReadTarError> {
    let mut records = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| ReadTarError::PaxRecord("record without a length".into()))?;
        let length: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| ReadTarError::PaxRecord("record length is not a number".into()))?;
        if length <= space + 1 || length > rest.len() || rest[length - 1] != b'\n' {
            return Err(ReadTarError::PaxRecord(format!(
                "record length {length} does not fit the data"
            )));
        }
        let record = &rest[space + 1..length - 1];
        let equals = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| ReadTarError::PaxRecord("record without `=`".into()))?;
        let key = String::from_utf8(record[..equals].to_vec())
            .map_err(|_| ReadTarError::PaxRecord("key is not UTF-8".into()))?;
        let value = String::from_utf8(record[equals + 1..].to_vec())
            .map_err(|_| ReadTarError::PaxRecord(format!("value of `{key}` is not UTF-8")))?;
        records.push((key, value));
        rest = &rest[length..];
    }
    Ok(records)
}

/// Writes tar streams whose bytes depend only on the entries given.
pub struct TarWriter<W: Write> {
    inner: W,
}

impl<W: Write> TarWriter<W> {
    pub fn new(inner: W) -> Self {
        TarWriter { inner }
    }

    /// Write one entry's header; for regular files, `header.size` bytes of content must follow
    /// through [`TarWriter::write_content`].
    pub fn write_header(&mut self, header: &Header) -> io::Result<()> {
        let link = header.kind.link_target().unwrap_or("");
        let mut pax: Vec<(&str, String)> = Vec::new();
        if header.path.len() > 100 {
            pax.push(("path", header.path.clone()));
        }
        if link.len() > 100 {
            pax.push(("linkpath", link.to_string()));
        }
        const OCTAL_7_MAX: u64 = 0o7777777;
        const OCTAL_11_MAX: u64 = 0o77777777777;
        if header.uid > OCTAL_7_MAX {
            pax.push(("uid", header.uid.to_string()));
        }
        if header.gid > OCTAL_7_MAX {
            pax.push(("gid", header.gid.to_string()));
        }
        if header.size > OCTAL_11_MAX {
            pax.push(("size", header.size.to_string()));
        }
        if !pax.is_empty() {
            pax.sort_by(|a, b| a.0.cmp(b.0));
            let mut data = Vec::new();
            for (key, value) in &pax {
                data.extend_from_slice(&pax_record(key, value));
            }
            let name = format!("PaxHeaders/{}", truncate_utf8(&header.path, 80));
            let block = ustar_block(
                &name,
                "",
                b'x',
                0o644,
                0,
                0,
                data.len() as u64,
                header.mtime,
                (0, 0),
            );
            self.inner.write_all(&block)?;
            self.inner.write_all(&data)?;
            self.pad(data.len() as u64)?;
        }
        let (major, minor) = match header.kind {
            EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
                (major, minor)
            }
            _ => (0, 0),
        };
        let block = ustar_block(
            truncate_utf8(&header.path, 100),
            truncate_utf8(link, 100),
            header.kind.typeflag(),
            header.mode & 0o7777,
            header.uid.min(OCTAL_7_MAX),
            header.gid.min(OCTAL_7_MAX),
            if header.kind == EntryKind::File {
                header.size.min(OCTAL_11_MAX)
            } else {
                0
            },
            header.mtime,
            (major, minor),
        );
        self.inner.write_all(&block)
    }

    /// Write content bytes of the current file entry.
    pub fn write_content(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)
    }

    /// Pad the current entry's content of `size` bytes to a block boundary.
    pub fn pad(&mut self, size: u64) -> io::Result<()> {
        let padding = padding_for(size) as usize;
        self.inner.write_all(&[0u8; BLOCK_BYTES][..padding])
    }

    /// Write the end-of-archive marker and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(&[0u8; BLOCK_BYTES * 2])?;
        Ok(self.inner)
    }
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn pax_record(key: &str, value: &str) -> Vec<u8> {
    // The length prefix counts itself: find the fixed point.
    let body = key.len() + value.len() + 3; // space, '=', '\n'
    let mut length = body + body.to_string().len();
    if length.to_string().len() + body != length {
        length = body + length.to_string().len();
    }
    format!("{length} {key}={value}\n").into_bytes()
}

#[allow(clippy::too_many_arguments)]
fn ustar_block(
    name: &str,
    link: &str,
    typeflag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    device: (u32, u32),
) -> [u8; BLOCK_BYTES] {
    let mut block = [0u8; BLOCK_BYTES];
    block[..name.len()].copy_from_slice(name.as_bytes());
    write_octal(&mut block[100..108], mode as u64);
    write_octal(&mut block[108..116], uid);
    write_octal(&mut block[116..124], gid);
    write_octal(&mut block[124..136], size);
    write_octal(&mut block[136..148], mtime.min(0o77777777777));
    block[156] = typeflag;
    block[157..157 + link.len()].copy_from_slice(link.as_bytes());
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    write_octal(&mut block[329..337], device.0 as u64);
    write_octal(&mut block[337..345], device.1 as u64);
    block[148..156].copy_from_slice(b"        ");
    let sum: u64 = block.iter().map(|&b| b as u64).sum();
    write_octal(&mut block[148..155], sum);
    block[155] = b' ';
    block
}

/// Zero-padded octal with a trailing NUL, filling the field.
fn write_octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(path: &str, kind: EntryKind, size: u64) -> Header {
        Header {
            path: path.to_string(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size,
            mtime: 1_700_000_000,
        }
    }

    fn write_archive(entries: &[(Header, &[u8])]) -> Vec<u8> {
        let mut writer = TarWriter::new(Vec::new());
        for (header, content) in entries {
            writer.write_header(header).unwrap();
            writer.write_content(content).unwrap();
            writer.pad(content.len() as u64).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn round_trips_entries_including_long_paths() {
        let long = format!("{}/file.txt", "d".repeat(150));
        let link_target = "t".repeat(120);
        let bytes = write_archive(&[
            (header("etc/", EntryKind::Directory, 0), b""),
            (header("etc/hello", EntryKind::File, 5), b"hello"),
            (header(&long, EntryKind::File, 3), b"abc"),
            (
                header(
                    "etc/link",
                    EntryKind::Symlink {
                        target: link_target.clone(),
                    },
                    0,
                ),
                b"",
            ),
        ]);
        let mut reader = TarReader::new(&bytes[..], ReadLimits::default());
        let first = reader.next_header().unwrap().unwrap();
        assert_eq!(first.kind, EntryKind::Directory);
        let second = reader.next_header().unwrap().unwrap();
        assert_eq!(second.path, "etc/hello");
        let mut content = Vec::new();
        reader.copy_content(&mut content).unwrap();
        assert_eq!(content, b"hello");
        let third = reader.next_header().unwrap().unwrap();
        assert_eq!(third.path, long);
        let fourth = reader.next_header().unwrap().unwrap();
        assert_eq!(
            fourth.kind,
            EntryKind::Symlink {
                target: link_target
            }
        );
        assert!(reader.next_header().unwrap().is_none());
    }

    #[test]
    fn pax_record_length_counts_itself() {
        for value_length in 0..200 {
            let record = pax_record("path", &"x".repeat(value_length));
            let text = String::from_utf8(record.clone()).unwrap();
            let declared: usize = text.split(' ').next().unwrap().parse().unwrap();
            assert_eq!(declared, record.len());
        }
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let bytes = write_archive(&[(header("a", EntryKind::File, 1000), &[7u8; 1000])]);
        let cut = &bytes[..700];
        let mut reader = TarReader::new(cut, ReadLimits::default());
        reader.next_header().unwrap().unwrap();
        let error = reader.copy_content(&mut io::sink()).unwrap_err();
        assert!(matches!(
            error,
            CopyContentError::Read(ReadTarError::Truncated)
        ));
    }

    #[test]
    fn size_over_limit_is_refused_before_reading() {
        let bytes = write_archive(&[(header("a", EntryKind::File, 10), &[1u8; 10])]);
        let limits = ReadLimits {
            entry_bytes_max: 9,
            ..ReadLimits::default()
        };
        let error = TarReader::new(&bytes[..], limits)
            .next_header()
            .unwrap_err();
        assert!(matches!(
            error,
            ReadTarError::EntryTooLarge {
                size: 10,
                limit: 9,
                ..
            }
        ));
        let limits = ReadLimits {
            entry_bytes_max: 10,
            ..ReadLimits::default()
        };
        assert!(TarReader::new(&bytes[..], limits).next_header().is_ok());
    }

    #[test]
    fn corrupt_checksum_is_refused() {
        let mut bytes = write_archive(&[(header("a", EntryKind::File, 0), b"")]);
        bytes[3] ^= 1;
        let error = TarReader::new(&bytes[..], ReadLimits::default())
            .next_header()
            .unwrap_err();
        assert!(matches!(error, ReadTarError::Checksum { offset: 0 }));
    }

    #[test]
    fn base256_numbers_parse() {
        let mut field = [0u8; 12];
        field[0] = 0x80;
        field[11] = 5;
        field[10] = 1;
        assert_eq!(parse_number(&field, "size", 0).unwrap(), 261);
    }
}
