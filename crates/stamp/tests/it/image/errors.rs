//! Mistakes in stamp.toml and on the command line: exit code 2 (1 for a base that does not
//! match its pin), the place in the spec, and a hint where a fix is known.

use std::fs;

use stamp_core::Digest;

use super::hostile_store::tar;
use super::{stamp_json, write, write_scratch_spec};
use crate::support::{describe, stamp};

/// Run `stamp build` on `spec` in a fresh directory; (exit code, stderr).
fn build_error(spec: &str, files: &[(&str, &[u8])]) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        write(&dir.path().join(path), content, 0o644);
    }
    fs::write(dir.path().join("stamp.toml"), spec).unwrap();
    let output = stamp(dir.path(), &["build"], &[]);
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout: {}",
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr, dir)
}

#[test]
fn missing_input_file_names_the_spec_line_and_the_path() {
    let spec = "[image]\nname = \"a\"\nsource_date_epoch = 1\n[base]\nscratch = true\n[[layers]]\nfiles = [\n  { src = \"present.txt\", dest = \"/p\" },\n  { src = \"inputs/missing.txt\", dest = \"/m\" },\n]\n";
    let (code, stderr, dir) = build_error(spec, &[("present.txt", b"here\n")]);
    assert_eq!(code, Some(2), "{stderr}");
    let column = "  { src = ".len() + 1;
    assert!(
        stderr.contains(&format!(
            "stamp.toml:9:{column}: input `inputs/missing.txt` does not exist"
        )),
        "{stderr}"
    );
    let missing = dir.path().join("inputs/missing.txt");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("hint: paths in stamp.toml are relative"),
        "{stderr}"
    );
}

#[test]
fn a_file_below_a_base_symlink_is_a_configuration_error() {
    let spec = "[image]\nname = \"a\"\nsource_date_epoch = 1\n[base]\nscratch = true\n[[layers]]\nname = \"usrmerge\"\nsymlinks = [{ path = \"/bin\", target = \"usr/bin\" }]\n[[layers]]\nname = \"tools\"\nfiles = [{ src = \"tool\", dest = \"/bin/tool\" }]\n";
    let (code, stderr, _dir) = build_error(spec, &[("tool", b"tool\n")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("layer `tools`: `/bin/tool` would be written below `/bin`, which is a symlink in the image below"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: give the real path"), "{stderr}");
}

#[test]
fn typo_in_stamp_toml_is_an_unknown_field_with_file_line_and_column() {
    let spec = "[image]\nname = \"a\"\nnmae = \"b\"\n[base]\nscratch = true\n";
    let (code, stderr, _dir) = build_error(spec, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("stamp.toml:3:1: unknown field `nmae`"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
    // In a layer table too.
    let spec = "[image]\nname = \"a\"\n[base]\nscratch = true\n[[layers]]\nfiles = [{ src = \"x\", dest = \"/x\", mdoe = \"0644\" }]\n";
    let (code, stderr, _dir) = build_error(spec, &[("x", b"x")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("stamp.toml:6:"), "{stderr}");
    assert!(stderr.contains("unknown field `mdoe`"), "{stderr}");
}

#[test]
fn unpinned_base_is_refused_with_a_hint() {
    let spec = "[image]\nname = \"a\"\n[base]\nrootfs = \"x.tar\"\n";
    let (code, stderr, _dir) = build_error(spec, &[("x.tar", &[0u8; 1024])]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("stamp.toml:3:"), "{stderr}");
    assert!(
        stderr.contains("base `rootfs` is not pinned by digest"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: pin the base: add `sha256 = "),
        "{stderr}"
    );
    let spec = "[image]\nname = \"a\"\n[base]\noci_layout = \"layout\"\n";
    let (code, stderr, _dir) = build_error(spec, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("base `oci_layout` is not pinned by digest"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: pin the base: add `digest = "),
        "{stderr}"
    );
}

#[test]
fn wrong_base_sha256_is_refused_with_exit_1() {
    let wrong = Digest::of(b"something else").hex();
    let spec = format!(
        "[image]\nname = \"a\"\nsource_date_epoch = 1\n[base]\nrootfs = \"x.tar\"\nsha256 = \"{wrong}\"\n"
    );
    let tarball = tar(&[("etc/", b'5', b"", "")]);
    let (code, stderr, dir) = build_error(&spec, &[("x.tar", &tarball)]);
    assert_eq!(code, Some(1), "{stderr}");
    let actual = Digest::of(&tarball);
    assert!(
        stderr.contains(&format!(
            "has sha256 {actual}, but stamp.toml pins sha256:{wrong}"
        )),
        "{stderr}"
    );
    assert!(
        !dir.path().join(".stamp/oci/index.json").exists() || {
            let index = fs::read_to_string(dir.path().join(".stamp/oci/index.json")).unwrap();
            !index.contains("ref.name")
        }
    );
}

#[test]
fn unknown_image_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    write_scratch_spec(dir.path());
    // No store yet.
    let output = stamp(dir.path(), &["manifest", "scratch-multi:v1"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("hint: build an image first"),
        "{}",
        describe(&output)
    );
    stamp_json(dir.path(), &["build", "--format", "json"]);
    for args in [
        &["manifest", "no-such-image"][..],
        &["manifest", "scratch-multi:v2", "--format", "mtree"],
        &["unpack", "no-such-image", "out"],
    ] {
        let output = stamp(dir.path(), args, &[]);
        let text = describe(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("no image `{}` in the store", args[1])),
            "{text}"
        );
        assert!(stderr.contains("hint: `stamp images` lists"), "{text}");
        assert!(output.stdout.is_empty(), "{text}");
    }
    assert!(!dir.path().join("out").exists());
}

#[test]
fn help_describes_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let output = stamp(dir.path(), &["--help"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("Usage: stamp"), "{help}");
    let commands: Vec<String> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        // A long description wraps onto lines indented past the command names.
        .filter(|line| !line.starts_with("   "))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.to_string();
            // A command with no description would print its name alone.
            assert!(
                words.next().is_some(),
                "`{name}` has a description in --help: {help}"
            );
            Some(name)
        })
        .filter(|name| name != "help")
        .collect();
    for expected in ["build", "manifest", "unpack", "images", "demo"] {
        assert!(
            commands.iter().any(|name| name == expected),
            "{expected} in {commands:?}"
        );
    }
    for command in &commands {
        let output = stamp(dir.path(), &[command, "--help"], &[]);
        let text = describe(&output);
        assert_eq!(output.status.code(), Some(0), "{text}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let first = stdout.lines().next().unwrap_or_default();
        assert!(
            !first.trim().is_empty() && !first.starts_with("Usage"),
            "`{command}` opens with a description: {text}"
        );
        assert!(
            stdout.contains(&format!("Usage: stamp {command}")),
            "{text}"
        );
    }
}

#[test]
fn a_whiteout_name_in_the_spec_is_refused_and_remove_deletes_a_lower_path() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    let spec = |second_layer: &str| {
        format!(
            "[image]\nname = \"wh\"\nsource_date_epoch = 1700000000\n[base]\nscratch = true\n[[layers]]\nfiles = [{{ src = \"a.txt\", dest = \"/etc/a.txt\" }}, {{ src = \"a.txt\", dest = \"/etc/b.txt\" }}]\n[[layers]]\n{second_layer}\n"
        )
    };
    std::fs::write(
        dir.join("stamp.toml"),
        spec("files = [{ src = \"a.txt\", dest = \"/etc/.wh.a.txt\" }]"),
    )
    .unwrap();
    let output = crate::support::stamp(dir, &["build"], &[]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        crate::support::describe(&output)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("reserve for deletions"));

    std::fs::write(dir.join("stamp.toml"), spec("remove = [\"/etc/nope\"]")).unwrap();
    let output = crate::support::stamp(dir, &["build"], &[]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        crate::support::describe(&output)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("names nothing in the layers below"));

    std::fs::write(dir.join("stamp.toml"), spec("remove = [\"/etc/a.txt\"]")).unwrap();
    let output = crate::support::stamp(dir, &["build"], &[]);
    assert!(
        output.status.success(),
        "{}",
        crate::support::describe(&output)
    );
    let manifest = crate::support::stamp(dir, &["manifest", "wh", "--format", "mtree"], &[]);
    let text = String::from_utf8_lossy(&manifest.stdout);
    assert!(!text.contains("./etc/a.txt "), "{text}");
    assert!(text.contains("./etc/b.txt "), "{text}");
    let unpacked = dir.join("unpacked");
    let output = crate::support::stamp(dir, &["unpack", "wh", unpacked.to_str().unwrap()], &[]);
    assert!(
        output.status.success(),
        "{}",
        crate::support::describe(&output)
    );
    assert!(!unpacked.join("etc/a.txt").exists());
    assert!(unpacked.join("etc/b.txt").exists());
}
