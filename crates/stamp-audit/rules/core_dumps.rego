package stamp.rules.core_dumps

metadata := {
	"code": "PCI-3.3.1-CORE-DUMPS",
	"title": "Core dumps are disabled",
	"severity": "medium",
	"pci": ["3.3.1", "2.2.6"],
	"remediation": "Add `* hard core 0` to /etc/security/limits.conf (or limits.d), set `fs.suid_dumpable = 0` in sysctl.d, and `Storage=none` in /etc/systemd/coredump.conf when systemd-coredump is installed.",
}

not_applicable := "no /etc/security/limits.conf" if not input.limits.present

hard_zero if {
	some line in input.limits.core
	line.domain == "*"
	line.kind in {"hard", "-"}
	line.value == "0"
}

failures contains "no `* hard core 0` in limits.conf or limits.d" if not hard_zero

failures contains sprintf("fs.suid_dumpable = %s", [value]) if {
	value := input.sysctl["fs.suid_dumpable"]
	value != "0"
}

failures contains sprintf("systemd-coredump stores dumps (Storage=%s)", [storage]) if {
	some pkg in input.packages.installed
	pkg.name == "systemd-coredump"
	storage := coredump_storage
	storage != "none"
}

default coredump_storage := "external"

coredump_storage := lower(input.limits.coredump_storage) if input.limits.coredump_storage != null
