//! Hostile layers in a hand-written OCI store, refused by `stamp unpack` with exit code 1 and
//! an error naming the layer digest and the entry, with nothing written beside the destination.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stamp_core::Digest;

use super::is_root;
use crate::support::{describe, stamp};

/// One 512-byte ustar header written by hand.
fn tar_header(name: &str, typeflag: u8, size: u64, link: &str) -> Vec<u8> {
    let mut block = vec![0u8; 512];
    block[..name.len()].copy_from_slice(name.as_bytes());
    block[100..108].copy_from_slice(b"0000644\0");
    block[108..116].copy_from_slice(b"0000000\0");
    block[116..124].copy_from_slice(b"0000000\0");
    block[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    block[136..148].copy_from_slice(b"14524770400\0");
    block[156] = typeflag;
    block[157..157 + link.len()].copy_from_slice(link.as_bytes());
    block[257..265].copy_from_slice(b"ustar\x0000");
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block.iter().map(|&b| b as u32).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    block
}

/// A tar stream of (name, typeflag, content, link) entries.
pub(super) fn tar(entries: &[(&str, u8, &[u8], &str)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (name, typeflag, content, link) in entries {
        bytes.extend(tar_header(name, *typeflag, content.len() as u64, link));
        bytes.extend_from_slice(content);
        bytes.resize(bytes.len().div_ceil(512) * 512, 0);
    }
    bytes.extend([0u8; 1024]);
    bytes
}

/// One layer blob of a hand-written image.
struct Layer {
    media_type: &'static str,
    blob: Vec<u8>,
}

const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

impl Layer {
    fn tar(blob: &[u8]) -> Layer {
        Layer {
            media_type: TAR,
            blob: blob.to_vec(),
        }
    }

    fn gzip(blob: &[u8]) -> Layer {
        Layer {
            media_type: TAR_GZIP,
            blob: blob.to_vec(),
        }
    }
}

/// A hand-written OCI store under `home` holding one image per reference.
fn write_store(home: &Path, images: &[(&str, Vec<Layer>)]) {
    let blobs = home.join("oci/blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(
        home.join("oci/oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let put = |bytes: &[u8]| -> (Digest, usize) {
        let digest = Digest::of(bytes);
        fs::write(blobs.join(digest.hex()), bytes).unwrap();
        (digest, bytes.len())
    };
    let mut index_entries = Vec::new();
    for (reference, layers) in images {
        let mut descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in layers {
            let (digest, size) = put(&layer.blob);
            descriptors.push(serde_json::json!({
                "mediaType": layer.media_type, "digest": digest, "size": size,
            }));
            let diff_id = if layer.media_type == TAR_GZIP {
                Digest::of(&pipe("gzip", &["-dc"], &layer.blob))
            } else {
                digest
            };
            diff_ids.push(diff_id.to_string());
        }
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let (config_digest, config_size) = put(config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest, "size": config_size,
            },
            "layers": descriptors,
        });
        let (digest, size) = put(manifest.to_string().as_bytes());
        index_entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": reference},
        }));
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": index_entries});
    fs::write(home.join("oci/index.json"), index.to_string()).unwrap();
}

fn pipe(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    output.stdout
}

/// Every path below `dir` (not following symlinks).
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for child in fs::read_dir(&current).unwrap() {
            let path = child.unwrap().path();
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                pending.push(path.clone());
            }
            out.push(path.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}

/// One refusal `stamp unpack` must make.
struct Case<'a> {
    reference: &'a str,
    /// The refused layer.
    layer: &'a [u8],
    entry: &'a str,
    reason: &'a str,
    extra_args: &'a [&'a str],
}

#[test]
fn hostile_layers_in_a_store_are_refused_by_stamp_unpack() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let sentinel = work.path().join("sentinel");
    fs::create_dir_all(&sentinel).unwrap();
    fs::write(sentinel.join("keep"), b"keep\n").unwrap();
    let sentinel_text = sentinel.display().to_string();

    let traversal = tar(&[("ok", b'0', b"fine", ""), ("../escaped", b'0', b"evil", "")]);
    let plant = tar(&[
        ("etc/", b'5', b"", ""),
        ("etc/conf", b'2', b"", &sentinel_text),
    ]);
    let through = tar(&[("etc/conf/evil", b'0', b"evil", "")]);
    let hardlink = tar(&[("passwd", b'1', b"", "../../../etc/passwd")]);
    let device = tar(&[("dev/", b'5', b"", ""), ("dev/null", b'3', b"", "")]);
    let mut bomb_tar = tar_header("zeros", b'0', 64 << 20, "");
    bomb_tar.resize(bomb_tar.len() + (64 << 20) + 1024, 0);
    let bomb = pipe("gzip", &["-1", "-n", "-c"], &bomb_tar);
    drop(bomb_tar);
    write_store(
        &home,
        &[
            ("hostile:traversal", vec![Layer::tar(&traversal)]),
            (
                "hostile:through-symlink",
                vec![Layer::tar(&plant), Layer::tar(&through)],
            ),
            ("hostile:hardlink", vec![Layer::tar(&hardlink)]),
            ("hostile:bomb", vec![Layer::gzip(&bomb)]),
            ("hostile:device", vec![Layer::tar(&device)]),
        ],
    );
    let home_text = home.to_str().unwrap();
    let case = |reference, layer, entry, reason| Case {
        reference,
        layer,
        entry,
        reason,
        extra_args: &[],
    };
    let cases = [
        case(
            "hostile:traversal",
            &traversal,
            "`../escaped`",
            "climbs out with `..`",
        ),
        case(
            "hostile:through-symlink",
            &through,
            "`etc/conf/evil`",
            "which is a symlink",
        ),
        case(
            "hostile:hardlink",
            &hardlink,
            "`passwd`",
            "climbs out with `..`",
        ),
        Case {
            extra_args: &["--max-layer-bytes", "8388608"],
            ..case(
                "hostile:bomb",
                &bomb,
                "`zeros`",
                "expands past the limit of 8388608 bytes",
            )
        },
        case(
            "hostile:device",
            &device,
            "`dev/null`",
            "device node refused",
        ),
    ];
    for Case {
        reference,
        layer,
        entry,
        reason,
        extra_args,
    } in cases
    {
        let dest = work
            .path()
            .join(format!("dest-{}", reference.replace(':', "-")));
        let mut args = vec![
            "--home",
            home_text,
            "unpack",
            reference,
            dest.to_str().unwrap(),
        ];
        args.extend_from_slice(extra_args);
        let output = stamp(work.path(), &args, &[]);
        let text = describe(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{reference} is refused with exit 1: {text}"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{text}");
        assert!(
            stderr.contains(&Digest::of(layer).to_string()),
            "names the layer: {text}"
        );
        assert!(stderr.contains(entry), "names the entry {entry}: {text}");
        assert!(stderr.contains(reason), "says {reason}: {text}");
        assert_eq!(fs::read(sentinel.join("keep")).unwrap(), b"keep\n");
        assert_eq!(listing(&sentinel), [PathBuf::from("keep")], "{reference}");
        let mut top: Vec<String> = fs::read_dir(work.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with("dest-"))
            .collect();
        top.sort();
        assert_eq!(
            top,
            ["home", "sentinel"],
            "nothing appeared beside the destination"
        );
    }
    assert!(!work.path().join("escaped").exists());

    // Device nodes are created when asked for (creating them needs root).
    if is_root() {
        let dest = work.path().join("dest-devices-allowed");
        let dest_text = dest.to_str().unwrap();
        let args = [
            "--home",
            home_text,
            "unpack",
            "hostile:device",
            dest_text,
            "--allow-devices",
        ];
        let output = stamp(work.path(), &args, &[]);
        assert!(output.status.success(), "{}", describe(&output));
        let metadata = fs::symlink_metadata(dest.join("dev/null")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &metadata.file_type()
        ));
    }
}
