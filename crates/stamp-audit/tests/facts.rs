//! Facts read from real configuration text in a temporary root filesystem.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use stamp_audit::{collect, Context, RuleSet, Status};

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn chmod(root: &Path, path: &str, mode: u32) {
    std::fs::set_permissions(
        root.join(path.trim_start_matches('/')),
        std::fs::Permissions::from_mode(mode),
    )
    .unwrap();
}

#[test]
fn sshd_include_match_first_value_wins_and_case() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "/etc/ssh/sshd_config",
        "# Debian's layout: drop-ins first\nInclude /etc/ssh/sshd_config.d/*.conf\n\
         permitrootlogin yes\nPasswordAuthentication=no\nClientAliveInterval 5m\nPort 22\nPort 2222\n\
         Match User backup\n    PasswordAuthentication yes\n    PermitRootLogin no\n\
         Match all\nCiphers aes128-cbc\n",
    );
    write(
        root,
        "/etc/ssh/sshd_config.d/10-hardening.conf",
        "PermitRootLogin no\nCLIENTALIVEINTERVAL 600\n",
    );
    write(
        root,
        "/etc/ssh/sshd_config.d/20-sftp.conf",
        "Match Group sftp\n  ForceCommand internal-sftp\n",
    );
    write(
        root,
        "/etc/ssh/sshd_config.d/README",
        "PermitRootLogin yes\n",
    );
    let facts = collect(root, Context::default());
    let sshd = &facts.sshd;
    assert!(sshd.present);
    assert_eq!(
        sshd.files,
        [
            "/etc/ssh/sshd_config",
            "/etc/ssh/sshd_config.d/10-hardening.conf",
            "/etc/ssh/sshd_config.d/20-sftp.conf"
        ]
    );
    // The drop-in is read first and its value wins; keywords are case-insensitive.
    assert_eq!(sshd.settings["permitrootlogin"], "no");
    assert_eq!(sshd.settings["clientaliveinterval"], "600");
    assert_eq!(sshd.settings["passwordauthentication"], "no");
    assert_eq!(sshd.settings["port"], "22 2222");
    // A Match block in an included file ends with that file; `Match all` returns to global.
    assert_eq!(sshd.settings["ciphers"], "aes128-cbc");
    assert_eq!(sshd.matches.len(), 3);
    assert_eq!(sshd.matches[0].criteria, "Group sftp");
    assert_eq!(sshd.matches[0].settings["forcecommand"], "internal-sftp");
    assert_eq!(sshd.matches[1].criteria, "User backup");
    assert_eq!(sshd.matches[1].line, 8);
    assert_eq!(sshd.matches[1].settings["passwordauthentication"], "yes");
    let results = RuleSet::builtin().evaluate(&facts).unwrap();
    let status = |code: &str| results.iter().find(|r| r.code == code).unwrap().clone();
    assert_eq!(status("PCI-2.2.7-SSH-ROOT-LOGIN").status, Status::Pass);
    let password = status("PCI-8.3.1-SSH-PASSWORD-AUTH");
    assert_eq!(password.status, Status::Fail);
    assert_eq!(
        password.items,
        ["PasswordAuthentication yes (Match User backup (/etc/ssh/sshd_config:8))"]
    );
    assert_eq!(
        status("PCI-2.2.7-SSH-WEAK-CRYPTO").items,
        ["ciphers aes128-cbc (global)"]
    );
    assert_eq!(status("PCI-8.2.8-SSH-IDLE-TIMEOUT").status, Status::Pass);
}

#[test]
fn sshd_time_values_and_absent_sshd() {
    assert_eq!(stamp_audit::facts::sshd_seconds("900"), Some(900));
    assert_eq!(stamp_audit::facts::sshd_seconds("15m"), Some(900));
    assert_eq!(stamp_audit::facts::sshd_seconds("1h30m"), Some(5400));
    assert_eq!(stamp_audit::facts::sshd_seconds("5x"), None);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\n",
    );
    let facts = collect(dir.path(), Context::default());
    assert!(!facts.sshd.present);
    let results = RuleSet::builtin().evaluate(&facts).unwrap();
    for result in results.iter().filter(|r| r.code.contains("-SSH-")) {
        assert_eq!(result.status, Status::NotApplicable, "{}", result.code);
    }
}

#[test]
fn pam_lines_module_configuration_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "/etc/pam.d/common-password",
        "# here are the per-package modules\n\
         password\trequisite\t\t\tpam_pwquality.so retry=3 minlen=14\n\
         password\trequired\tpam_pwhistory.so remember=5 use_authtok\n\
         password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass sha512\n\
         password\trequisite\t\t\tpam_deny.so\n",
    );
    write(
        root,
        "/etc/pam.d/common-auth",
        "auth required pam_faillock.so preauth\n\
         auth [success=1 default=ignore] pam_unix.so nullok\n\
         auth [default=die] pam_faillock.so authfail deny=4\n\
         @include common-account\n",
    );
    write(
        root,
        "/etc/security/pwquality.conf",
        "# minlen = 9\nminlen = 8\n",
    );
    write(
        root,
        "/etc/security/faillock.conf",
        "deny = 8\nunlock_time = 900\n",
    );
    write(
        root,
        "/etc/login.defs",
        "ENCRYPT_METHOD SHA512\nPASS_MIN_LEN 5\n",
    );
    let facts = collect(root, Context::default());
    let pam = &facts.pam;
    assert!(pam.present);
    // Arguments win over pwquality.conf and faillock.conf; the conf fills what they omit.
    assert_eq!(pam.password_min_length, Some(14));
    assert_eq!(
        pam.password_min_length_source.as_deref(),
        Some("pam_pwquality arguments")
    );
    assert!(pam.faillock.used);
    assert_eq!(pam.faillock.deny, Some(4));
    assert_eq!(pam.faillock.unlock_time, Some(900));
    assert_eq!(pam.password_history, Some(5));
    assert_eq!(pam.pam_unix_hash.as_deref(), Some("sha512"));
    let line = pam
        .lines
        .iter()
        .find(|line| line.module == "pam_unix.so" && line.kind == "password")
        .unwrap();
    assert_eq!(line.control, "[success=1 default=ignore]");
    assert_eq!(line.line, 4);
    assert!(pam
        .lines
        .iter()
        .any(|line| line.kind == "@include" && line.module == "common-account"));
    let results = RuleSet::builtin().evaluate(&facts).unwrap();
    let lockout = results
        .iter()
        .find(|r| r.code == "PCI-8.3.4-LOCKOUT")
        .unwrap();
    assert_eq!(
        lockout.items,
        ["unlock_time = 900 seconds (less than 1800)"]
    );

    // Without pwquality: login.defs PASS_MIN_LEN; pam_faillock defaults (3 tries, 600 s).
    write(
        root,
        "/etc/pam.d/common-password",
        "password required pam_unix.so yescrypt\n",
    );
    write(
        root,
        "/etc/pam.d/common-auth",
        "auth required pam_faillock.so preauth\n",
    );
    std::fs::remove_file(root.join("etc/security/faillock.conf")).unwrap();
    let facts = collect(root, Context::default());
    assert_eq!(facts.pam.password_min_length, Some(5));
    assert_eq!(facts.pam.faillock.deny, Some(3));
    assert_eq!(facts.pam.faillock.unlock_time, Some(600));
    assert_eq!(facts.pam.password_history, None);
    assert_eq!(facts.pam.pam_unix_hash.as_deref(), Some("yescrypt"));
}

#[test]
fn accounts_hold_states_never_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n\
         daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nold:x:1002:1002::/home/old:/bin/sh\n\
         ghost:x:1003:1003::/:/bin/sh\n",
    );
    write(
        root,
        "/etc/shadow",
        "root:*:19000:0:99999:7:::\nbob::19000:0:99999:7:::\ndaemon:!:19000::::::\n\
         old:$1$saltsalt$Vw2oVvJ6xYkzq4bUcWw9y.:19000::::::\n",
    );
    let facts = collect(root, Context::default());
    let user = |name: &str| {
        facts
            .accounts
            .users
            .iter()
            .find(|u| u.name == name)
            .unwrap()
    };
    assert_eq!(user("root").password, "locked");
    assert_eq!(user("bob").password, "empty");
    assert_eq!(user("daemon").password, "locked");
    assert!(!user("daemon").login_shell);
    assert_eq!(user("old").password, "usable");
    assert_eq!(user("old").hash_scheme.as_deref(), Some("md5"));
    assert_eq!(user("ghost").password, "unknown");
    let json = serde_json::to_string(&facts).unwrap();
    assert!(!json.contains("saltsalt"), "a hash leaked into the facts");
}

#[test]
fn filesystem_walk_modes_caches_units_and_packages() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "/etc/app.conf", "x");
    chmod(root, "/etc/app.conf", 0o666);
    write(root, "/tmp/scratch", "x");
    chmod(root, "/tmp/scratch", 0o666);
    std::fs::create_dir_all(root.join("srv/shared")).unwrap();
    chmod(root, "/srv/shared", 0o1777);
    std::fs::create_dir_all(root.join("srv/open")).unwrap();
    chmod(root, "/srv/open", 0o777);
    write(root, "/usr/bin/passwd", "");
    chmod(root, "/usr/bin/passwd", 0o4755);
    write(root, "/usr/local/bin/rootsh", "");
    chmod(root, "/usr/local/bin/rootsh", 0o6755);
    write(root, "/usr/sbin/in.telnetd", "");
    chmod(root, "/usr/sbin/in.telnetd", 0o755);
    write(root, "/var/lib/apt/lists/lock", "");
    write(
        root,
        "/var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease",
        "x",
    );
    write(root, "/root/.cache/pip/http/x", "x");
    std::fs::create_dir_all(root.join("etc/systemd/system/multi-user.target.wants")).unwrap();
    std::os::unix::fs::symlink(
        "/lib/systemd/system/telnet.socket",
        root.join("etc/systemd/system/multi-user.target.wants/telnet.socket"),
    )
    .unwrap();
    write(
        root,
        "/var/lib/dpkg/status",
        "Package: telnetd\nStatus: install ok installed\nVersion: 0.17+2.4-2\n\n\
         Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n",
    );
    write(
        root,
        "/etc/profile.d/tmout.sh",
        "readonly TMOUT=600; export TMOUT\n",
    );
    write(root, "/etc/profile", "");
    write(
        root,
        "/etc/security/limits.conf",
        "*    hard    core    0\n",
    );
    write(root, "/etc/sysctl.d/10-dump.conf", "fs.suid_dumpable = 2\n");
    write(root, "/etc/sysctl.conf", "fs/suid_dumpable=0\n");
    let facts = collect(root, Context::default());
    let fs = &facts.filesystem;
    assert_eq!(fs.world_writable, ["/etc/app.conf", "/srv/open"]);
    let setuid: Vec<&str> = fs.setuid.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(setuid, ["/usr/bin/passwd", "/usr/local/bin/rootsh"]);
    assert!(fs.executables.contains(&"/usr/sbin/in.telnetd".to_string()));
    assert_eq!(
        fs.package_caches,
        [
            "/root/.cache/pip",
            "/var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease"
        ]
    );
    assert_eq!(facts.systemd.enabled_units, ["telnet.socket"]);
    let names: Vec<&str> = facts
        .packages
        .installed
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["telnetd"]);
    assert_eq!(facts.profile.tmout[0].value, "600");
    assert_eq!(facts.limits.core.len(), 1);
    // /etc/sysctl.conf is read last and wins.
    assert_eq!(facts.sysctl["fs.suid_dumpable"], "0");
    let results = RuleSet::builtin().evaluate(&facts).unwrap();
    let result = |code: &str| results.iter().find(|r| r.code == code).unwrap().clone();
    assert_eq!(
        result("PCI-2.2.4-INSECURE-SERVICE").items,
        [
            "enabled unit telnet.socket",
            "file /usr/sbin/in.telnetd",
            "package telnetd 0.17+2.4-2"
        ]
    );
    assert_eq!(result("PCI-8.2.8-SHELL-TIMEOUT").status, Status::Pass);
    assert_eq!(result("PCI-3.3.1-CORE-DUMPS").status, Status::Pass);
}

#[test]
fn an_sshd_config_symlink_out_of_the_root_is_read_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(dir.path(), "/etc/ssh/sshd_config", "PermitRootLogin yes\n");
    write(&root, "/etc/ssh/real", "PermitRootLogin no\n");
    std::os::unix::fs::symlink("../../../etc/ssh/real", root.join("etc/ssh/sshd_config")).unwrap();
    let facts = collect(&root, Context::default());
    assert_eq!(facts.sshd.settings["permitrootlogin"], "no");
}

/// A layer tar made with stamp-image's writer: (path, kind, mode, content).
fn layer(entries: &[(&str, stamp_image::tar::EntryKind, u32, &[u8])]) -> Vec<u8> {
    let mut writer = stamp_image::tar::TarWriter::new(Vec::new());
    for (path, kind, mode, content) in entries {
        let size = if *kind == stamp_image::tar::EntryKind::File {
            content.len() as u64
        } else {
            0
        };
        writer
            .write_header(&stamp_image::tar::Header {
                path: path.to_string(),
                kind: kind.clone(),
                mode: *mode,
                uid: 0,
                gid: 0,
                size,
                mtime: 0,
            })
            .unwrap();
        if size > 0 {
            writer.write_content(content).unwrap();
            writer.pad(size).unwrap();
        }
    }
    writer.finish().unwrap()
}

#[test]
fn image_layers_merge_in_memory_with_whiteouts_opaque_dirs_and_links() {
    use stamp_image::tar::EntryKind::{Directory, File, Hardlink, Symlink};
    let mut tree = stamp_audit::MemTree::default();
    tree.apply_layer(
        "lower",
        &layer(&[
            ("etc/", Directory, 0o755, b""),
            (
                "etc/passwd",
                File,
                0o644,
                b"root:x:0:0:root:/root:/bin/bash\n",
            ),
            ("etc/shadow", File, 0o640, b"root::19000:0:99999:7:::\n"),
            ("etc/app.conf", File, 0o666, b"x"),
            ("etc/ssh/", Directory, 0o755, b""),
            ("etc/ssh/sshd_config", File, 0o644, b"PermitRootLogin yes\n"),
            ("usr/sbin/", Directory, 0o755, b""),
            ("usr/sbin/in.telnetd", File, 0o755, b"\x7fELF"),
            ("usr/bin/", Directory, 0o755, b""),
            ("usr/bin/rootsh", File, 0o4755, b"\x7fELF"),
        ])[..],
    )
    .unwrap();
    tree.apply_layer(
        "upper",
        &layer(&[
            // A whiteout removes a file, an opaque whiteout empties a directory of lower
            // layers' files; a hard link keeps its target's mode; a symlink resolves inside.
            ("etc/.wh.app.conf", File, 0o644, b""),
            ("etc/ssh/.wh..wh..opq", File, 0o644, b""),
            ("etc/ssh/real_config", File, 0o644, b"PermitRootLogin no\n"),
            (
                "etc/ssh/sshd_config",
                Symlink {
                    target: "/etc/ssh/real_config".into(),
                },
                0o777,
                b"",
            ),
            ("etc/shadow", File, 0o640, b"root:*:19000:0:99999:7:::\n"),
            (
                "usr/bin/rootsh2",
                Hardlink {
                    target: "usr/bin/rootsh".into(),
                },
                0o4755,
                b"",
            ),
        ])[..],
    )
    .unwrap();
    let facts = stamp_audit::collect_root(&stamp_audit::Root::from_tree(tree), Context::default());
    assert!(
        facts.filesystem.world_writable.is_empty(),
        "{:?}",
        facts.filesystem.world_writable
    );
    assert_eq!(facts.sshd.settings["permitrootlogin"], "no");
    assert_eq!(facts.accounts.users[0].password, "locked");
    let setuid: Vec<&str> = facts
        .filesystem
        .setuid
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(setuid, ["/usr/bin/rootsh", "/usr/bin/rootsh2"]);
    assert!(facts
        .filesystem
        .executables
        .contains(&"/usr/sbin/in.telnetd".to_string()));
    // Content outside the configuration paths is not kept: the audit never reads it.
    assert!(facts.problems.is_empty(), "{:?}", facts.problems);
}
