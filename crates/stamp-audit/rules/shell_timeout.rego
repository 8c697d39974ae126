package stamp.rules.shell_timeout

import data.stamp.lib

metadata := {
	"code": "PCI-8.2.8-SHELL-TIMEOUT",
	"title": "Idle shells end within 15 minutes (TMOUT 1-900)",
	"severity": "medium",
	"pci": ["8.2.8"],
	"remediation": "Add /etc/profile.d/tmout.sh with `TMOUT=900`, `readonly TMOUT` and `export TMOUT`.",
}

not_applicable := "no /etc/profile" if not input.profile.present

failures contains "TMOUT is not set in /etc/profile, /etc/profile.d/*.sh or /etc/bash.bashrc" if {
	count(input.profile.tmout) == 0
}

failures contains sprintf("TMOUT=%s (%s:%d): not between 1 and 900", [s.value, s.file, s.line]) if {
	some s in input.profile.tmout
	not in_range(s.value)
}

in_range(value) if {
	lib.is_integer(value)
	n := to_number(value)
	n > 0
	n <= 900
}
