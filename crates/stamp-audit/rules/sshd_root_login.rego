package stamp.rules.sshd_root_login

import data.stamp.lib

metadata := {
	"code": "PCI-2.2.7-SSH-ROOT-LOGIN",
	"title": "sshd: PermitRootLogin no",
	"severity": "high",
	"pci": ["2.2.6", "2.2.7", "8.2.2"],
	"remediation": "Set `PermitRootLogin no` in /etc/ssh/sshd_config (before any Match block and in every Match block that sets it).",
}

not_applicable := "sshd is not installed" if not input.sshd.present

failures contains "PermitRootLogin prohibit-password (default)" if {
	not input.sshd.settings.permitrootlogin
}

failures contains sprintf("PermitRootLogin %s (%s)", [value, scope.where]) if {
	some scope in lib.sshd_scopes
	value := lower(scope.settings.permitrootlogin)
	value != "no"
}
