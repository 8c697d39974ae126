package stamp.rules.sshd_empty_passwords

import data.stamp.lib

metadata := {
	"code": "PCI-8.3.1-SSH-EMPTY-PASSWORDS",
	"title": "sshd: PermitEmptyPasswords no",
	"severity": "critical",
	"pci": ["2.2.6", "8.3.1"],
	"remediation": "Set `PermitEmptyPasswords no` (the OpenSSH default) and remove any line that enables it.",
}

not_applicable := "sshd is not installed" if not input.sshd.present

failures contains sprintf("PermitEmptyPasswords %s (%s)", [value, scope.where]) if {
	some scope in lib.sshd_scopes
	value := lower(scope.settings.permitemptypasswords)
	value != "no"
}
