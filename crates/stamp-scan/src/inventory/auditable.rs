//! Rust binaries built with `cargo auditable`: the build embeds the binary's dependency tree
//! in the ELF section `.dep-v0`, as zlib-compressed JSON in the format of the
//! `auditable-serde` crate:
//!
//! ```json
//! {"packages":[{"name":"app","version":"0.1.0","source":"local","dependencies":[1],"root":true},
//!              {"name":"itoa","version":"1.0.11","source":"crates.io"}]}
//! ```
//!
//! (`kind` is `"build"` for build dependencies and left out for runtime ones; `dependencies`
//! are indices into `packages`). Every package becomes a Cargo component; packages whose
//! source is `crates.io` are matched against advisories, the others are listed only.
//!
//! The ELF reader is minimal and bounded: 32- and 64-bit, little- and big-endian section
//! headers, section names from the section-name string table; nothing else of the file is
//! interpreted. Every size read from the file is checked against the file's length and the
//! limits below before it is used. A malformed `.dep-v0` is a [`Problem`] naming the file,
//! never an error of the whole inventory.

use std::io::Read;

use flate2::read::ZlibDecoder;
use serde::{Deserialize, Serialize};

use super::purl::purl;
use super::{Component, PackageType, Problem};
use crate::json::{parse_bounded, JsonInputError};

/// The name of the section `cargo auditable` writes.
pub const SECTION_NAME: &[u8] = b".dep-v0";
/// Largest executable read to look for the section (bigger ones are skipped with a problem).
pub const AUDITABLE_BINARY_BYTES_MAX: u64 = 512 << 20;
/// Largest compressed `.dep-v0` section accepted (real ones are a few KiB).
pub const AUDITABLE_SECTION_BYTES_MAX: u64 = 4 << 20;
/// Largest decompressed JSON accepted (what `rust-audit-info` allows by default: 8 MiB).
pub const AUDITABLE_JSON_BYTES_MAX: u64 = 8 << 20;
/// Most packages accepted in one binary's dependency tree.
pub const AUDITABLE_PACKAGES_MAX: usize = 50_000;
/// Most ELF section headers read from one file.
pub const ELF_SECTIONS_MAX: u64 = 1 << 20;

/// One package of the embedded dependency tree, as `auditable-serde` writes it (fields added
/// by later versions are ignored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPackage {
    pub name: String,
    pub version: String,
    /// `crates.io`, `git`, `local`, `registry`, or another source name.
    pub source: String,
    /// `build` or `runtime` (the default, left out when written).
    #[serde(default = "runtime", skip_serializing_if = "is_runtime")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<usize>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub root: bool,
}

fn runtime() -> String {
    "runtime".to_string()
}

fn is_runtime(kind: &str) -> bool {
    kind == "runtime"
}

/// The whole embedded document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditData {
    pub packages: Vec<AuditPackage>,
    /// The format version (`1` from cargo-auditable 0.7.7, which built the test fixture;
    /// older versions leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<u64>,
}

/// Whether `bytes` start like an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Random access to the bytes of one file: a buffer, or an open file read with `pread` (so
/// that only the headers and the section are read, not the whole executable).
pub trait ElfSource {
    /// The file's length in bytes.
    fn size(&self) -> u64;
    /// Fill `buffer` from `offset`; the range is within [`ElfSource::size`].
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<()>;
}

impl ElfSource for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<()> {
        let start = offset as usize;
        buffer.copy_from_slice(&self[start..start + buffer.len()]);
        Ok(())
    }
}

/// An open file and its length (taken once, before reading).
pub struct FileSource {
    pub file: std::fs::File,
    pub len: u64,
}

impl ElfSource for FileSource {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buffer, offset)
    }
}

/// Most bytes of section headers or section names read from one file.
pub const ELF_TABLE_BYTES_MAX: u64 = 64 << 20;

/// Reads ranges and fixed-width integers of one ELF file, in its byte order, bounds-checked.
struct Reader<'a> {
    source: &'a dyn ElfSource,
    big_endian: bool,
}

impl Reader<'_> {
    /// The bytes at `offset`, `len` long (at most `limit`), checked against the file's length.
    fn bytes(&self, offset: u64, len: u64, limit: u64, what: &str) -> Result<Vec<u8>, String> {
        let size = self.source.size();
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(format!(
                "ELF {what} at offset {offset}, {len} bytes, lies outside the file ({size} bytes)"
            ));
        }
        if len > limit {
            return Err(format!(
                "ELF {what} is {len} bytes, over the limit of {limit}"
            ));
        }
        let mut buffer = vec![0u8; len as usize];
        self.source
            .read_at(offset, &mut buffer)
            .map_err(|error| format!("reading the ELF {what}: {error}"))?;
        Ok(buffer)
    }

    /// The unsigned integer `width` bytes wide at `at` of `bytes`.
    fn uint(&self, bytes: &[u8], at: usize, width: usize) -> u64 {
        let field = &bytes[at..at + width];
        let mut value = 0u64;
        if self.big_endian {
            for byte in field {
                value = value << 8 | u64::from(*byte);
            }
        } else {
            for byte in field.iter().rev() {
                value = value << 8 | u64::from(*byte);
            }
        }
        value
    }

    /// The section header at the start of `bytes` (at least the minimum header size).
    fn section(&self, bytes: &[u8], wide: bool) -> Section {
        if wide {
            Section {
                name: self.uint(bytes, 0, 4),
                kind: self.uint(bytes, 4, 4),
                offset: self.uint(bytes, 24, 8),
                size: self.uint(bytes, 32, 8),
                link: self.uint(bytes, 40, 4),
            }
        } else {
            Section {
                name: self.uint(bytes, 0, 4),
                kind: self.uint(bytes, 4, 4),
                offset: self.uint(bytes, 16, 4),
                size: self.uint(bytes, 20, 4),
                link: self.uint(bytes, 24, 4),
            }
        }
    }
}

/// One section header, the fields used.
struct Section {
    name: u64,
    kind: u64,
    offset: u64,
    size: u64,
    link: u64,
}

/// `SHT_NOBITS`: the section occupies no bytes in the file.
const SHT_NOBITS: u64 = 8;
/// `SHN_XINDEX`: the string table index is in section 0's `sh_link`.
const SHN_XINDEX: u64 = 0xffff;

/// The content of the `.dep-v0` section of the ELF file `source`: `Ok(None)` when it is not
/// ELF or has no such section, an error when the ELF structures needed to find it are
/// malformed. Reads the file header, the section header table, the section-name table and
/// the section, nothing else.
pub fn dep_section(source: &dyn ElfSource) -> Result<Option<Vec<u8>>, String> {
    let size = source.size();
    if size < 64 {
        return Ok(None);
    }
    let mut header = [0u8; 64];
    source
        .read_at(0, &mut header)
        .map_err(|error| format!("reading the ELF header: {error}"))?;
    if !is_elf(&header) {
        return Ok(None);
    }
    let wide = match header[4] {
        1 => false,
        2 => true,
        class => return Err(format!("unknown ELF class {class}")),
    };
    let big_endian = match header[5] {
        1 => false,
        2 => true,
        data => return Err(format!("unknown ELF data encoding {data}")),
    };
    let elf = Reader { source, big_endian };
    // e_shoff, then e_shentsize, e_shnum, e_shstrndx; the minimum section header size.
    let (table, entsize_at, entry_min) = if wide {
        (elf.uint(&header, 0x28, 8), 0x3a, 64)
    } else {
        (elf.uint(&header, 0x20, 4), 0x2e, 40)
    };
    let entry = elf.uint(&header, entsize_at, 2);
    let mut count = elf.uint(&header, entsize_at + 2, 2);
    let mut names_index = elf.uint(&header, entsize_at + 4, 2);
    if table == 0 {
        return Ok(None);
    }
    if entry < entry_min {
        return Err(format!(
            "ELF section header size {entry} is below the minimum of {entry_min}"
        ));
    }
    // Extended numbering: the real count and string table index live in section 0.
    if count == 0 || names_index == SHN_XINDEX {
        let first = elf.section(&elf.bytes(table, entry, entry, "section header")?, wide);
        if count == 0 {
            count = first.size;
        }
        if names_index == SHN_XINDEX {
            names_index = first.link;
        }
    }
    if count > ELF_SECTIONS_MAX {
        return Err(format!(
            "{count} ELF sections, over the limit of {ELF_SECTIONS_MAX}"
        ));
    }
    if names_index >= count {
        return Err(format!(
            "ELF section-name table index {names_index} is not below the section count {count}"
        ));
    }
    let headers = elf.bytes(
        table,
        count * entry,
        ELF_TABLE_BYTES_MAX,
        "section header table",
    )?;
    let header_at = |index: u64| &headers[(index * entry) as usize..];
    let names = elf.section(header_at(names_index), wide);
    let names = elf.bytes(
        names.offset,
        names.size,
        ELF_TABLE_BYTES_MAX,
        "section-name table",
    )?;
    for index in 0..count {
        let header = elf.section(header_at(index), wide);
        let Some(name) = names.get(header.name as usize..) else {
            continue;
        };
        let name = name.split(|byte| *byte == 0).next().unwrap_or_default();
        if name != SECTION_NAME {
            continue;
        }
        if header.kind == SHT_NOBITS {
            return Err("section .dep-v0 has no content (SHT_NOBITS)".into());
        }
        if header.size > AUDITABLE_SECTION_BYTES_MAX {
            return Err(format!(
                "section .dep-v0 is {} bytes, over the limit of {AUDITABLE_SECTION_BYTES_MAX}",
                header.size
            ));
        }
        return elf
            .bytes(
                header.offset,
                header.size,
                AUDITABLE_SECTION_BYTES_MAX,
                "section .dep-v0",
            )
            .map(Some);
    }
    Ok(None)
}

/// Decompress and parse the content of a `.dep-v0` section, within the limits.
pub fn parse_section(section: &[u8]) -> Result<AuditData, String> {
    if section.len() as u64 > AUDITABLE_SECTION_BYTES_MAX {
        return Err(format!(
            "section .dep-v0 is {} bytes, over the limit of {AUDITABLE_SECTION_BYTES_MAX}",
            section.len()
        ));
    }
    let mut json = Vec::new();
    ZlibDecoder::new(section)
        .take(AUDITABLE_JSON_BYTES_MAX + 1)
        .read_to_end(&mut json)
        .map_err(|error| format!("section .dep-v0 is not valid zlib data: {error}"))?;
    if json.len() as u64 > AUDITABLE_JSON_BYTES_MAX {
        return Err(format!(
            "section .dep-v0 decompresses to more than {AUDITABLE_JSON_BYTES_MAX} bytes"
        ));
    }
    let data: AuditData =
        parse_bounded(&json, AUDITABLE_JSON_BYTES_MAX as usize).map_err(|error| match error {
            JsonInputError::Syntax(source) => {
                format!("section .dep-v0 is not the JSON of cargo auditable: {source}")
            }
            other => format!("section .dep-v0: {other}"),
        })?;
    if data.packages.len() > AUDITABLE_PACKAGES_MAX {
        return Err(format!(
            "section .dep-v0 lists {} packages, over the limit of {AUDITABLE_PACKAGES_MAX}",
            data.packages.len()
        ));
    }
    for (index, package) in data.packages.iter().enumerate() {
        if let Err(error) = semver::Version::parse(&package.version) {
            return Err(format!(
                "section .dep-v0: package {index} `{}` has version `{}`, not SemVer: {error}",
                package.name, package.version
            ));
        }
        if let Some(bad) = package
            .dependencies
            .iter()
            .find(|dependency| **dependency >= data.packages.len())
        {
            return Err(format!(
                "section .dep-v0: package {index} `{}` depends on package {bad}, but there are only {}",
                package.name,
                data.packages.len()
            ));
        }
    }
    Ok(data)
}

/// The dependency tree embedded in ELF file `bytes`, if any.
pub fn read_binary(bytes: &[u8]) -> Result<Option<AuditData>, String> {
    match dep_section(&bytes)? {
        Some(section) => parse_section(&section).map(Some),
        None => Ok(None),
    }
}

/// Cargo components of the binaries' `.dep-v0` sections kept in `files`.
pub fn collect(files: &super::Files, found: &mut Vec<Component>, problems: &mut Vec<Problem>) {
    for (path, section) in files.dep_sections() {
        match parse_section(section) {
            Ok(data) => {
                for package in data.packages {
                    found.push(Component {
                        package_type: PackageType::Cargo,
                        purl: purl("cargo", None, &package.name, &package.version, &[]),
                        registry: package.source == "crates.io",
                        name: package.name,
                        version: package.version,
                        architecture: None,
                        source_name: None,
                        source_version: None,
                        license: None,
                        locations: vec![format!("/{path}")],
                    });
                }
            }
            Err(message) => problems.push(Problem {
                path: format!("/{path}"),
                message,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// A minimal ELF file with sections: null, `.shstrtab`, `.dep-v0` carrying `content`.
    fn elf(wide: bool, big_endian: bool, content: &[u8]) -> Vec<u8> {
        let names = b"\0.shstrtab\0.dep-v0\0";
        let (header, entry) = if wide { (64usize, 64usize) } else { (52, 40) };
        let names_at = header;
        let content_at = names_at + names.len();
        let table = content_at + content.len();
        let mut out = vec![0u8; table + 3 * entry];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = if wide { 2 } else { 1 };
        out[5] = if big_endian { 2 } else { 1 };
        out[6] = 1;
        let put = |out: &mut Vec<u8>, at: usize, width: usize, value: u64| {
            for index in 0..width {
                let shift = if big_endian { width - 1 - index } else { index } * 8;
                out[at + index] = (value >> shift) as u8;
            }
        };
        let (shoff, shoff_width, shentsize_at) = if wide {
            (0x28, 8, 0x3a)
        } else {
            (0x20, 4, 0x2e)
        };
        put(&mut out, shoff, shoff_width, table as u64);
        put(&mut out, shentsize_at, 2, entry as u64);
        put(&mut out, shentsize_at + 2, 2, 3);
        put(&mut out, shentsize_at + 4, 2, 1);
        out[names_at..content_at].copy_from_slice(names);
        out[content_at..table].copy_from_slice(content);
        for (index, (name, offset, size)) in [
            (0, 0, 0),
            (1, names_at, names.len()),
            (11, content_at, content.len()),
        ]
        .into_iter()
        .enumerate()
        {
            let at = table + index * entry;
            put(&mut out, at, 4, name);
            put(&mut out, at + 4, 4, if index == 0 { 0 } else { 1 });
            if wide {
                put(&mut out, at + 24, 8, offset as u64);
                put(&mut out, at + 32, 8, size as u64);
            } else {
                put(&mut out, at + 16, 4, offset as u64);
                put(&mut out, at + 20, 4, size as u64);
            }
        }
        out
    }

    const DATA: &str = r#"{"packages":[{"name":"app","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},{"name":"itoa","version":"1.0.11","source":"crates.io"},{"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"}]}"#;

    #[test]
    fn every_elf_class_and_byte_order() {
        let section = zlib(DATA.as_bytes());
        for wide in [false, true] {
            for big_endian in [false, true] {
                let file = elf(wide, big_endian, &section);
                let data = read_binary(&file)
                    .unwrap_or_else(|error| panic!("wide {wide} big {big_endian}: {error}"))
                    .expect("section found");
                assert_eq!(data.packages.len(), 3);
                assert_eq!(data.packages[0].dependencies, [1, 2]);
                assert!(data.packages[0].root);
                assert_eq!(data.packages[1].kind, "runtime");
                assert_eq!(data.packages[2].kind, "build");
                assert_eq!(serde_json::to_string(&data).unwrap(), DATA);
            }
        }
    }

    #[test]
    fn not_elf_or_no_section_is_nothing() {
        assert_eq!(read_binary(b"#!/bin/sh\necho hi\n").unwrap(), None);
        let mut file = elf(true, false, b"x");
        // Rename `.dep-v0` to `.dep-v1`.
        let at = file.windows(7).position(|w| w == b".dep-v0").unwrap();
        file[at + 6] = b'1';
        assert_eq!(read_binary(&file).unwrap(), None);
    }

    #[test]
    fn malformed_sections_are_refused_with_the_reason() {
        let section = zlib(DATA.as_bytes());
        let truncated = &section[..section.len() / 2];
        let error = read_binary(&elf(true, false, truncated)).unwrap_err();
        assert!(error.contains("not valid zlib data"), "{error}");

        let error = parse_section(&vec![0; AUDITABLE_SECTION_BYTES_MAX as usize + 1]).unwrap_err();
        assert!(error.contains("over the limit of 4194304"), "{error}");

        let error = parse_section(b"plain text, not zlib").unwrap_err();
        assert!(error.contains("not valid zlib data"), "{error}");

        let error = parse_section(&zlib(b"{\"packages\": [")).unwrap_err();
        assert!(error.contains("not the JSON of cargo auditable"), "{error}");
        let error = parse_section(&zlib(b"{\"crates\": []}")).unwrap_err();
        assert!(error.contains("not the JSON of cargo auditable"), "{error}");

        // A bomb: 16 MiB of spaces compress to about 16 KiB.
        let bomb = zlib(&vec![b' '; 16 << 20]);
        assert!(bomb.len() < 1 << 20);
        let error = parse_section(&bomb).unwrap_err();
        assert!(error.contains("decompresses to more than"), "{error}");

        let error = parse_section(&zlib(
            br#"{"packages":[{"name":"a","version":"one","source":"crates.io"}]}"#,
        ))
        .unwrap_err();
        assert!(error.contains("not SemVer"), "{error}");
        let error = parse_section(&zlib(
            br#"{"packages":[{"name":"a","version":"1.0.0","source":"local","dependencies":[5]}]}"#,
        ))
        .unwrap_err();
        assert!(error.contains("depends on package 5"), "{error}");

        let many = format!(
            "{{\"packages\":[{}]}}",
            vec![
                r#"{"name":"a","version":"1.0.0","source":"crates.io"}"#;
                AUDITABLE_PACKAGES_MAX + 1
            ]
            .join(",")
        );
        let error = parse_section(&zlib(many.as_bytes())).unwrap_err();
        assert!(error.contains("over the limit of 50000"), "{error}");
    }

    /// The fixture binary built by `tests/fixtures/auditable/make.sh` with `cargo auditable`.
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/auditable-fixture.elf");
    /// What `rust-audit-info` printed for it.
    const FIXTURE_EXPECTED: &str =
        include_str!("../../tests/fixtures/auditable-fixture.expected.json");

    #[test]
    fn real_binary_agrees_with_rust_audit_info() {
        let data = read_binary(FIXTURE)
            .unwrap()
            .expect("the fixture has .dep-v0");
        let expected: serde_json::Value = serde_json::from_str(FIXTURE_EXPECTED).unwrap();
        assert_eq!(serde_json::to_value(&data).unwrap(), expected);
        let names: Vec<(&str, &str, &str)> = data
            .packages
            .iter()
            .map(|package| {
                (
                    package.name.as_str(),
                    package.version.as_str(),
                    package.source.as_str(),
                )
            })
            .collect();
        assert!(
            names.contains(&("smallvec", "1.6.0", "crates.io")),
            "{names:?}"
        );
    }

    #[test]
    fn objcopy_output_of_every_class_and_byte_order() {
        let expected: serde_json::Value = serde_json::from_str(FIXTURE_EXPECTED).unwrap();
        for (name, file) in [
            (
                "elf32-big",
                &include_bytes!("../../tests/fixtures/auditable-fixture.elf32-big.o")[..],
            ),
            (
                "elf64-big",
                &include_bytes!("../../tests/fixtures/auditable-fixture.elf64-big.o")[..],
            ),
            (
                "elf32-i386",
                &include_bytes!("../../tests/fixtures/auditable-fixture.elf32-i386.o")[..],
            ),
        ] {
            assert_eq!(file[4], if name.starts_with("elf64") { 2 } else { 1 });
            assert_eq!(file[5], if name.ends_with("big") { 2 } else { 1 });
            let data = read_binary(file)
                .unwrap_or_else(|error| panic!("{name}: {error}"))
                .unwrap_or_else(|| panic!("{name}: no .dep-v0"));
            assert_eq!(serde_json::to_value(&data).unwrap(), expected, "{name}");
        }
    }

    fn executable_layer(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
        use stamp_image::tar::{EntryKind, Header, TarWriter};
        let mut tar = TarWriter::new(Vec::new());
        for (path, mode, content) in entries {
            let header = Header {
                path: path.to_string(),
                kind: EntryKind::File,
                mode: *mode,
                uid: 0,
                gid: 0,
                size: content.len() as u64,
                mtime: 0,
            };
            tar.write_header(&header).unwrap();
            tar.write_content(content).unwrap();
            tar.pad(content.len() as u64).unwrap();
        }
        tar.finish().unwrap()
    }

    #[test]
    fn inventory_of_image_layers_with_auditable_binaries() {
        let digest = stamp_core::Digest::of(b"layer");
        let mut bad = elf(true, false, &zlib(DATA.as_bytes()));
        let at = bad.len() - 3 * 64 - 20;
        bad[at..at + 20].fill(0xff);
        let mut files = super::super::Files::default();
        let layer = executable_layer(&[
            ("usr/local/bin/app", 0o755, FIXTURE),
            ("usr/local/bin/broken", 0o755, &bad),
            // Not executable: not read.
            ("usr/share/doc/app.elf", 0o644, FIXTURE),
            ("usr/local/bin/script", 0o755, &[b'#'; 100]),
        ]);
        files.apply_layer(digest, layer.as_slice()).unwrap();
        let inventory = super::super::inventory(&files);
        let cargo: Vec<(&str, bool, &[String])> = inventory
            .components
            .iter()
            .map(|c| (c.purl.as_str(), c.registry, c.locations.as_slice()))
            .collect();
        let app = ["/usr/local/bin/app".to_string()];
        assert_eq!(
            cargo,
            [
                ("pkg:cargo/auditable-fixture@0.1.0", false, &app[..]),
                ("pkg:cargo/autocfg@1.3.0", true, &app[..]),
                ("pkg:cargo/itoa@1.0.11", true, &app[..]),
                ("pkg:cargo/smallvec@1.6.0", true, &app[..]),
            ]
        );
        assert_eq!(inventory.problems.len(), 1, "{:?}", inventory.problems);
        assert_eq!(inventory.problems[0].path, "/usr/local/bin/broken");
        assert!(
            inventory.problems[0]
                .message
                .contains("not valid zlib data"),
            "{:?}",
            inventory.problems
        );
        // An upper layer replacing the binary with a plain one removes its packages.
        let upper = executable_layer(&[("usr/local/bin/app", 0o755, &[0u8; 128])]);
        files.apply_layer(digest, upper.as_slice()).unwrap();
        assert_eq!(super::super::inventory(&files).components, []);
    }

    #[test]
    fn inventory_of_a_directory_with_an_auditable_binary() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("opt/app")).unwrap();
        let binary = root.path().join("opt/app/server");
        std::fs::write(&binary, FIXTURE).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(root.path().join("opt/app/copy.elf"), FIXTURE).unwrap();
        let files = super::super::Files::from_directory(root.path()).unwrap();
        let inventory = super::super::inventory(&files);
        assert!(inventory.problems.is_empty(), "{:?}", inventory.problems);
        let purls: Vec<&str> = inventory
            .components
            .iter()
            .map(|c| c.purl.as_str())
            .collect();
        assert_eq!(purls.len(), 4, "{purls:?}");
        assert!(inventory
            .components
            .iter()
            .all(|c| c.locations == ["/opt/app/server"]));
    }

    #[test]
    fn malformed_elf_headers_are_refused() {
        let mut file = elf(true, false, &zlib(DATA.as_bytes()));
        // Section header table beyond the end of the file.
        file[0x28..0x30].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let error = read_binary(&file).unwrap_err();
        assert!(error.contains("outside the file"), "{error}");
        let mut file = elf(false, true, &zlib(DATA.as_bytes()));
        file[4] = 7;
        assert!(read_binary(&file).unwrap_err().contains("ELF class 7"));
        // A section-name index beyond the table.
        let mut file = elf(false, false, &zlib(DATA.as_bytes()));
        file[0x32] = 9;
        let error = read_binary(&file).unwrap_err();
        assert!(error.contains("section-name table index 9"), "{error}");
    }
}
