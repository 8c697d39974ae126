//! Tar streams written block by block, so that hostile names, sizes and types reach the reader
//! exactly as written (no library normalizes them on the way).

use stamp_image::tar::BLOCK_BYTES;

/// A tar stream under construction.
#[derive(Default)]
pub struct RawTar {
    bytes: Vec<u8>,
}

/// The size field of a header.
pub enum SizeField {
    /// Octal, as ustar writes it.
    Octal(u64),
    /// GNU base-256: high bit of the first byte set, the value big-endian in the rest.
    Base256(u64),
}

/// One hand-written ustar header block.
pub struct RawHeader<'a> {
    pub name: &'a str,
    pub typeflag: u8,
    pub mode: u32,
    pub size: SizeField,
    pub link: &'a str,
    pub device: (u32, u32),
}

impl RawHeader<'_> {
    pub fn block(&self) -> [u8; BLOCK_BYTES] {
        let mut block = [0u8; BLOCK_BYTES];
        assert!(self.name.len() <= 100 && self.link.len() <= 100);
        block[..self.name.len()].copy_from_slice(self.name.as_bytes());
        octal(&mut block[100..108], self.mode as u64);
        octal(&mut block[108..116], 0);
        octal(&mut block[116..124], 0);
        match self.size {
            SizeField::Octal(size) => octal(&mut block[124..136], size),
            SizeField::Base256(size) => {
                block[124] = 0x80;
                block[128..136].copy_from_slice(&size.to_be_bytes());
            }
        }
        octal(&mut block[136..148], 1_700_000_000);
        block[156] = self.typeflag;
        block[157..157 + self.link.len()].copy_from_slice(self.link.as_bytes());
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        octal(&mut block[329..337], self.device.0 as u64);
        octal(&mut block[337..345], self.device.1 as u64);
        block[148..156].copy_from_slice(b"        ");
        let sum: u64 = block.iter().map(|&b| b as u64).sum();
        let text = format!("{sum:06o}\0 ");
        block[148..156].copy_from_slice(text.as_bytes());
        block
    }
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    assert_eq!(text.len(), digits, "{value} does not fit the field");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

impl RawTar {
    pub fn new() -> Self {
        RawTar::default()
    }

    /// Append a header block as is.
    pub fn header(mut self, header: RawHeader<'_>) -> Self {
        self.bytes.extend_from_slice(&header.block());
        self
    }

    /// Append raw bytes (content, padding or garbage).
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.bytes.extend_from_slice(bytes);
        self
    }

    fn entry(self, name: &str, typeflag: u8, mode: u32, link: &str, content: &[u8]) -> Self {
        let padding = (BLOCK_BYTES - content.len() % BLOCK_BYTES) % BLOCK_BYTES;
        self.header(RawHeader {
            name,
            typeflag,
            mode,
            size: SizeField::Octal(content.len() as u64),
            link,
            device: (0, 0),
        })
        .raw(content)
        .raw(&vec![0u8; padding])
    }

    pub fn file(self, name: &str, content: &[u8]) -> Self {
        self.entry(name, b'0', 0o644, "", content)
    }

    pub fn dir(self, name: &str) -> Self {
        self.entry(name, b'5', 0o755, "", b"")
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(name, b'2', 0o777, target, b"")
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(name, b'1', 0o644, target, b"")
    }

    pub fn char_device(self, name: &str, major: u32, minor: u32) -> Self {
        self.header(RawHeader {
            name,
            typeflag: b'3',
            mode: 0o666,
            size: SizeField::Octal(0),
            link: "",
            device: (major, minor),
        })
    }

    /// A pax extended header (`x`) with `data` as its content.
    pub fn pax(self, data: &[u8]) -> Self {
        self.entry("PaxHeaders/entry", b'x', 0o644, "", data)
    }

    /// The two zero blocks that end an archive.
    pub fn finish(self) -> Vec<u8> {
        self.raw(&[0u8; 2 * BLOCK_BYTES]).bytes
    }

    /// The stream so far, without an end marker.
    pub fn unfinished(self) -> Vec<u8> {
        self.bytes
    }
}

/// One pax record `"%d key=value\n"` whose length counts itself.
pub fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut length = body + 1;
    while length != body + length.to_string().len() {
        length = body + length.to_string().len();
    }
    format!("{length} {key}={value}\n").into_bytes()
}

#[test]
fn pax_records_count_themselves() {
    for size in [0, 5, 90, 95, 96, 990, 1000, 100_000] {
        let record = pax_record("path", &"x".repeat(size));
        let declared: usize = String::from_utf8_lossy(&record)
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, record.len());
    }
}

#[test]
fn hand_written_headers_are_read_back_as_written() {
    let bytes = RawTar::new()
        .file("../evil", b"x")
        .symlink("link", "/abs")
        .finish();
    let mut reader = stamp_image::tar::TarReader::new(&bytes[..], Default::default());
    let first = reader.next_header().unwrap().unwrap();
    assert_eq!(first.path, "../evil");
    assert_eq!(first.size, 1);
    let second = reader.next_header().unwrap().unwrap();
    assert_eq!(second.path, "link");
    assert!(reader.next_header().unwrap().is_none());
}
