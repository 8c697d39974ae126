package stamp.rules.sshd_idle_timeout

import data.stamp.lib

metadata := {
	"code": "PCI-8.2.8-SSH-IDLE-TIMEOUT",
	"title": "sshd: ClientAliveInterval between 1 and 900 seconds",
	"severity": "medium",
	"pci": ["8.2.8"],
	"remediation": "Set `ClientAliveInterval 300` (at most 900) and `ClientAliveCountMax 0` or a small count so idle sessions end within 15 minutes.",
}

not_applicable := "sshd is not installed" if not input.sshd.present

failures contains "ClientAliveInterval 0 (default: idle sessions never end)" if {
	not input.sshd.settings.clientaliveinterval
}

failures contains sprintf("ClientAliveInterval %s (%s): not a number of seconds", [value, scope.where]) if {
	some scope in lib.sshd_scopes
	value := scope.settings.clientaliveinterval
	not lib.is_integer(value)
}

failures contains sprintf("ClientAliveInterval %s (%s): not between 1 and 900", [value, scope.where]) if {
	some scope in lib.sshd_scopes
	value := scope.settings.clientaliveinterval
	lib.is_integer(value)
	n := to_number(value)
	not in_range(n)
}

in_range(n) if {
	n > 0
	n <= 900
}
