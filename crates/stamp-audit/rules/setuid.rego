package stamp.rules.setuid

metadata := {
	"code": "PCI-2.2.6-SETUID-ALLOWLIST",
	"title": "SUID/SGID files only from the allow-list",
	"severity": "medium",
	"pci": ["2.2.6", "7.2.1"],
	"remediation": "Remove the SUID/SGID bit (`chmod u-s,g-s PATH`) or the file; a file that needs it can be lifted with `stamp except PCI-2.2.6-SETUID-ALLOWLIST`.",
}

allowed := {
	"/usr/bin/chage", "/usr/bin/chfn", "/usr/bin/chsh", "/usr/bin/expiry", "/usr/bin/gpasswd",
	"/usr/bin/mount", "/usr/bin/newgrp", "/usr/bin/passwd", "/usr/bin/su", "/usr/bin/umount",
	"/usr/bin/sudo", "/usr/bin/crontab", "/usr/bin/ssh-agent", "/usr/bin/wall",
	"/usr/bin/write", "/usr/bin/bsd-write", "/usr/bin/fusermount", "/usr/bin/fusermount3",
	"/usr/sbin/unix_chkpwd", "/usr/sbin/pam_extrausers_chkpwd",
	"/usr/lib/openssh/ssh-keysign", "/usr/libexec/openssh/ssh-keysign",
	"/usr/lib/dbus-1.0/dbus-daemon-launch-helper", "/bin/bbsuid",
	"/bin/su", "/bin/mount", "/bin/umount", "/sbin/unix_chkpwd",
}

not_applicable := "empty filesystem" if input.filesystem.entries_walked == 0

failures contains sprintf("%s (mode %s%s%s)", [file.path, file.mode, suid(file), sgid(file)]) if {
	some file in input.filesystem.setuid
	not file.path in allowed
}

suid(file) := ", setuid" if file.setuid

suid(file) := "" if not file.setuid

sgid(file) := ", setgid" if file.setgid

sgid(file) := "" if not file.setgid
